"""Secrets: stickyctl never asks for them, never writes them, never prints them.

1. Every request stickyctl sends to an Envoy admin API is a GET, and none asks for secrets: a
   recording proxy stands in front of a real lab Envoy whose config holds bait (a static secret with
   a certificate, a private key and a token in SecretsConfigDump; a static cluster with an inline
   client certificate and key) and records what `check --admin-url`, `why --admin-url` and the live
   path (port-forward and exec, check and dump) ask for: exactly the requests docs/security.md lists.
2. `stickyctl dump` output holds no private key, certificate or token: every file of two snapshots
   (token auth; client-certificate auth) is scanned for PEM blocks, JWT-shaped strings, the API
   server's bearer token, the client key (and its base64), and the bait planted in the cluster:
   Secrets, container env, annotations.
3. Error messages never show credentials from kubeconfigs and URLs: userinfo in --admin-url and probe
   URLs, bearer tokens and passwords in kubeconfigs, auth-provider tokens, the env of an exec
   credential plugin (even when the plugin prints it).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stickyctl.envoy.admin import IDENTITY_QUERY, RESOURCE_QUERIES
from stickyctl.lab.envoy import LabEnvoy, LabError, allocate_ports
from stickyctl.lab.scenarios import HEADER
from stickyctl.lab.xds import GatewayIdentity, XdsLayout, bootstrap
from tests.conftest import RunCli
from tests.fake_apiserver import deployment, plain_pod, rules_from_manifest
from tests.live_support import (
    ADMIN_TOKEN,
    NS,
    POD,
    RBAC,
    ROOT,
    TOKEN,
    Context,
    Gateway,
    as_json,
    findings,
    lab_cluster,
    make_pki,
    need_envoy,
    serving,
    write_kubeconfig,
)
from tests.loopback import RecordingProxy

JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImJhaXQifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoiYmFpdCJ9."
       "c2lnbmF0dXJlLWJhaXQtbm90LWEtcmVhbC1zaWduYXR1cmU")
"""A service-account-shaped token planted wherever a careless tool might copy it from."""
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
PEM = re.compile(r"-----BEGIN [A-Z ]+-----")
ADMIN_REQUESTS = [f"/config_dump?{q}" for q in (IDENTITY_QUERY, *(q for q, _ in RESOURCE_QUERIES))]
WHY_REQUESTS = [*ADMIN_REQUESTS, "/clusters?format=json"]


# Every test here runs without the machine's kubeconfig, cluster environment or proxies.
pytestmark = pytest.mark.usefixtures("no_ambient_kube")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _why_present() -> bool:
    from tests.test_bad_input_corpus import has_command

    return has_command("why")


@contextmanager
def bait_envoy(pki: Any) -> Iterator[LabEnvoy]:
    """The HEADER lab gateway, plus secrets in its bootstrap for a careless tool to leak."""
    need_envoy()
    cert, key = pki.client_cert.read_text(), pki.client_key.read_text()
    layout = XdsLayout()
    after: str | None = None
    for _ in range(3):
        ports = allocate_ports(after=after)
        boot = bootstrap(identity=GatewayIdentity(pod_name=POD, namespace=NS, istio_version=HEADER.istio_version),
                         ports=ports, layout=layout)
        static = boot["static_resources"]
        static["secrets"] = [
            {"name": "bait-certificate", "tls_certificate": {"certificate_chain": {"inline_string": cert},
                                                             "private_key": {"inline_string": key}}},
            {"name": "bait-token", "generic_secret": {"secret": {"inline_string": JWT}}},
        ]
        tls = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": {"tls_certificates": [{
                "certificate_chain": {"inline_bytes": base64.b64encode(cert.encode()).decode()},
                "private_key": {"inline_string": key}}]}}}
        static["clusters"].append({
            "name": "bait-mtls", "type": "STATIC", "connect_timeout": "1s", "transport_socket": tls,
            "load_assignment": {"cluster_name": "bait-mtls", "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 9}}}}]}]}})
        envoy = LabEnvoy(boot, HEADER.builder()(ports, layout), layout=layout, ports=ports)
        try:
            envoy.start()
        except LabError:
            after = ports.address
            continue
        with envoy:
            yield envoy
        return
    pytest.fail("could not start the bait Envoy")


def _scan(text: str, *secrets: str) -> list[str]:
    """What in ``text`` looks like a key, a certificate or a token."""
    found = [f"PEM block {m.group(0)}" for m in PEM.finditer(text)]
    found += [f"JWT-shaped {m.group(0)[:20]}…" for m in JWT_SHAPE.finditer(text)]
    found += [f"PRIVATE KEY ({m.group(0)})" for m in re.finditer(r".{0,20}PRIVATE KEY.{0,20}", text)]
    found += [f"secret {s[:12]}…" for s in secrets if s and s in text]
    return found


def _no_traceback(res: Any) -> None:
    assert "Traceback" not in res.stdout + res.stderr and "internal error" not in res.stderr, res.stderr


# --- 1. what stickyctl asks an Envoy admin API for ------------------------------------------------------


def test_every_admin_request_is_a_get_and_never_for_secrets(run_cli: RunCli, tmp_path: Path, pki: Any) -> None:
    with bait_envoy(pki) as envoy, RecordingProxy(envoy.admin_address) as proxy:
        full = envoy.get("/config_dump").decode()
        # The bait is real: a full config dump carries it (SecretsConfigDump, the inline certificate).
        assert "SecretsConfigDump" in full and "-----BEGIN CERTIFICATE-----" in full
        assert base64.b64encode(pki.client_cert.read_bytes()).decode()[:40] in full

        runs: dict[str, list[Any]] = {}
        res = run_cli("check", "--admin-url", proxy.url, "-o", "json")
        runs["check --admin-url"] = [proxy.requests(), res]
        proxy.clear()
        if _why_present():
            res = run_cli("why", "--admin-url", proxy.url, "--url", "http://gw/hello", "-o", "json")
            runs["why --admin-url"] = [proxy.requests(), res]
            proxy.clear()
        with lab_cluster([Gateway(POD, None)]) as lab, serving(lab, tmp_path) as (server, kc):
            lab.cluster.backends[(NS, POD)].admin = proxy.address
            for via in ("port-forward", "exec"):
                res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--via", via, "-o", "json")
                runs[f"check --via {via}"] = [proxy.requests(), res]
                proxy.clear()
            res = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--out-dir", str(tmp_path / "snap"))
            runs["dump"] = [proxy.requests(), res]
            proxy.clear()
            if _why_present():
                res = run_cli("why", "-n", NS, "--kubeconfig", str(kc), "--url", "http://gw/hello", "-o", "json")
                if "No such option" not in res.stderr:  # `why -n` (the live path) may not be there yet
                    runs["why -n"] = [proxy.requests(), res]
                proxy.clear()
            assert {e.method for e in server.requests()} == {"GET"}
            assert not [e for e in server.requests() if "secret" in (e.resource or "")]

    assert {"check --admin-url", "check --via port-forward", "check --via exec", "dump"} <= set(runs)
    for name, (recorded, res) in runs.items():
        _no_traceback(res)
        assert res.exit_code == 0, (name, res.stderr)
        assert {r.method for r in recorded} == {"GET"}, name
        assert not [r.path for r in recorded if "secret" in r.path.lower()], name
        paths = sorted(r.path for r in recorded)
        expected = sorted(WHY_REQUESTS if name.startswith("why") else ADMIN_REQUESTS)
        assert paths == expected, (name, paths)
    # The checks saw the config all the same, and nothing of the bait came out.
    doc = as_json(runs["check --admin-url"][1].stdout)
    assert {f[0] for f in findings(doc)} == {"STK0404", "STK0601"}
    for name, (_recorded, res) in runs.items():
        assert _scan(res.stdout + res.stderr, JWT) == [], name
    dumped = "".join(p.read_text() for p in (tmp_path / "snap").rglob("*") if p.is_file())
    assert _scan(dumped, JWT, base64.b64encode(pki.client_cert.read_bytes()).decode()[:40]) == []
    assert "[redacted by stickyctl]" in dumped  # the inline certificate of the static cluster
    # docs/security.md lists exactly these requests.
    security = (ROOT / "docs" / "security.md").read_text()
    for path in WHY_REQUESTS:
        assert f"`GET {path}`" in security, path


# --- 2. what `stickyctl dump` writes ----------------------------------------------------------------------


def _bait_objects(pki: Any) -> list[dict[str, Any]]:
    key = pki.client_key.read_text()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": "gateway-cert", "namespace": NS},
              "data": {"tls.crt": base64.b64encode(pki.client_cert.read_bytes()).decode(),
                       "tls.key": base64.b64encode(key.encode()).decode(), "token": JWT}}
    app = deployment("billing", "helloworld", labels={"app": "billing", "istio.io/persistent-session-cookie": "x"})
    app["metadata"]["annotations"] = {"ci.example.com/deploy-token": JWT, "kubectl.kubernetes.io/last-applied-"
                                      "configuration": f'{{"token": "{JWT}"}}'}
    app["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "TLS_KEY", "value": key})
    pod = plain_pod("legacy", "helloworld", ip="10.244.3.3", labels={"istio.io/persistent-session-header": "x-s"})
    pod["metadata"]["annotations"] = {"vault.example.com/token": JWT, "istio.io/persistent-session-header": "x-s"}
    return [secret, app, pod]


def test_dump_output_holds_no_key_certificate_or_token(run_cli: RunCli, tmp_path: Path, pki: Any) -> None:
    client_key_b64 = base64.b64encode(pki.client_key.read_bytes()).decode()
    client_cert_b64 = base64.b64encode(pki.client_cert.read_bytes()).decode()
    outputs: list[str] = []
    with bait_envoy(pki) as envoy, lab_cluster([Gateway(POD, None)], extras=_bait_objects(pki)) as lab:
        lab.cluster.backends[(NS, POD)].admin = envoy.admin_address
        users = {
            "token": {"token": TOKEN},
            "cert": {"client-certificate-data": client_cert_b64, "client-key-data": client_key_b64},
        }
        for name, user in users.items():
            (tmp_path / name).mkdir()
            grants = {"ci-reader": rules_from_manifest(RBAC), "ci-cert-reader": rules_from_manifest(RBAC)}
            with serving(lab, tmp_path / name, pki=pki, user=user, grants=grants) as (server, kc):
                out = tmp_path / f"snap-{name}"
                res = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--out-dir", str(out))
                _no_traceback(res)
                assert res.exit_code == 0, res.stderr
                outputs.append(res.stdout + res.stderr)
                assert not [e for e in server.requests() if e.resource == "secrets"]
                assert server.denied() == []  # docs/rbac.yaml is enough, and grants no Secrets
            files = [p for p in out.rglob("*") if p.is_file()]
            assert {p.name for p in files} >= {"snapshot.yaml", "objects.yaml", "istiod.yaml", f"{POD}.json"}
            for p in files:
                text = p.read_text()
                found = _scan(text, JWT, TOKEN, ADMIN_TOKEN, client_key_b64[:40], client_cert_b64[:40],
                              "s3cr3t-do-not-copy", "hunter2")
                assert found == [], (p.relative_to(out), found)
            # What the checks need is still there: the misplaced session label (STK0104) and the
            # annotation-form label on the bare pod.
            objects = (out / "objects.yaml").read_text()
            assert "istio.io/persistent-session-cookie" in objects and "x-s" in objects
            again = run_cli("check", "--from", str(out), "-o", "json")
            codes = {f[0] for f in findings(as_json(again.stdout))}
            assert {"STK0104", "STK0601"} <= codes
            outputs.append(again.stdout + again.stderr)
    for text in outputs:
        assert _scan(text, JWT, TOKEN, client_key_b64[:40]) == []


# --- 3. messages never show credentials --------------------------------------------------------------------

PASSWORD = "pa55w0rd-in-userinfo-7f6e"
PLUGIN_SECRET = "plugin-env-secret-4d3c2b1a"
BASIC_PASSWORD = "basic-auth-password-9a8b"
REFRESH = "oidc-refresh-token-1a2b3c4d"


def _plugin(tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "failing-plugin.sh"
    script.write_text(f'#!/bin/sh\necho "login denied for API key $API_KEY (also {PLUGIN_SECRET}x)" >&2\nexit 1\n')
    script.chmod(0o755)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script),
                     "env": [{"name": "API_KEY", "value": PLUGIN_SECRET}], "interactiveMode": "Never"}}


def test_messages_never_show_credentials(run_cli: RunCli, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    secrets = (PASSWORD, PLUGIN_SECRET, BASIC_PASSWORD, REFRESH, JWT, "t0k3n-rejected-5566")
    results: list[tuple[str, Any]] = []

    def run(label: str, *args: str) -> Any:
        res = run_cli(*args)
        results.append((label, res))
        return res

    # userinfo in URLs
    run("check --admin-url", "check", "--admin-url", f"http://ci:{PASSWORD}@127.0.0.1:{closed}", "--timeout", "2")
    run("probe", "probe", f"http://ci:{PASSWORD}@127.0.0.1:{closed}/hello", "--count", "1", "--baseline", "0",
        "-o", "json")
    run("probe bad URL", "probe", f"http://ci:{PASSWORD}@[::1/hello")
    run("admin bad URL", "check", "--admin-url", f"ftp://ci:{PASSWORD}@127.0.0.1/")
    if _why_present():
        run("why --admin-url", "why", "--admin-url", f"http://ci:{PASSWORD}@127.0.0.1:{closed}", "--url",
            "http://gw/hello", "--timeout", "2")
    # kubeconfig credentials: against the fake API server (rejected) and against nothing (unreachable)
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path) as (server, _kc):
        users = {
            "rejected-token": {"token": "t0k3n-rejected-5566"},
            "basic-auth": {"username": "ci", "password": BASIC_PASSWORD},
            "failing-plugin": _plugin(tmp_path),
            "oidc": {"auth-provider": {"name": "oidc", "config": {
                "client-id": "stickyctl", "client-secret": "oidc-client-secret-77", "id-token": JWT,
                "refresh-token": REFRESH, "idp-issuer-url": f"http://127.0.0.1:{closed}"}}},
        }
        for name, user in users.items():
            kc = write_kubeconfig(tmp_path / f"kc-{name}", [Context(name, server.url, user, namespace=NS)])
            run(f"check ({name})", "check", "--kubeconfig", str(kc), "--timeout", "2")
            run(f"dump ({name})", "dump", "--kubeconfig", str(kc), "--out-dir", str(tmp_path / f"snap-{name}"),
                "--timeout", "2")
            run(f"decode --resolve ({name})", "decode", "MTAuMjQ0LjEuNDo1MDAw", "--resolve", "--kubeconfig", str(kc),
                "--timeout", "2")
        userinfo = write_kubeconfig(tmp_path / "kc-userinfo", [Context(
            "userinfo", f"http://ci:{PASSWORD}@127.0.0.1:{closed}", {"token": JWT}, namespace=NS)])
        run("check (userinfo server)", "check", "--kubeconfig", str(userinfo), "--timeout", "2")
        run("dump (userinfo server)", "dump", "--kubeconfig", str(userinfo), "--out-dir", str(tmp_path / "snap-u"))

    for label, res in results:
        _no_traceback(res)
        assert res.exit_code in (1, 2, 3), (label, res.exit_code, res.stderr)
        text = res.stdout + res.stderr
        for secret in secrets:
            assert secret not in text, (label, secret, text)
        assert len(res.stderr.splitlines()) == 1, (label, res.stderr)
    said = dict(results)
    # The messages still say what happened, with the secret masked.
    assert "***@127.0.0.1" in said["check --admin-url"].stderr
    assert "***@127.0.0.1" in said["probe"].stderr
    plugin = said["check (failing-plugin)"].stderr
    assert "401 Unauthorized" in plugin and "login denied for API key ***" in plugin, plugin
    assert "401 Unauthorized" in said["check (rejected-token)"].stderr
    # Nothing was written where a run failed.
    assert not list(tmp_path.glob("snap-*"))
