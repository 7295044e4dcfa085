"""Live checks end to end: the real `kubernetes` client, a real kubeconfig, real sockets, a fake API
server (tests/fake_apiserver.py) in front of real lab Envoys.

The headline: `stickyctl check -n istio-ingress --kubeconfig K` gives exactly the findings of
`stickyctl check --admin-url <that Envoy> --services <the same objects> --istiod <istiod>`, for a
healthy lab and a broken one; `dump` then `check --from` reproduces them.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from stickyctl.lab.scenarios import HEADER
from tests.conftest import RunCli
from tests.fake_apiserver import Rule, istiod, plain_pod, rules_from_manifest, wait_for
from tests.live_support import (
    BROKEN,
    NS,
    POD,
    POD_B,
    RBAC,
    STRICT,
    TOKEN,
    Context,
    Gateway,
    as_json,
    child_env,
    exec_plugin,
    findings,
    interruptible_stickyctl,
    lab_cluster,
    make_pki,
    need_envoy,
    serving,
    write_kubeconfig,
)

pytestmark = pytest.mark.usefixtures("no_ambient_kube")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _no_traceback(res: Any) -> None:
    assert "Traceback" not in res.stdout + res.stderr, res.stderr


def _admin_check(run_cli: RunCli, lab: Any, tmp_path: Path, pod: str = POD) -> dict[str, Any]:
    objects, ist = lab.write_manifests(tmp_path)
    res = run_cli("check", "--admin-url", lab.admin_url(pod), "--services", str(objects), "--istiod", str(ist),
                  "-o", "json")
    _no_traceback(res)
    return as_json(res.stdout)


# --- the headline: live == --admin-url, healthy and broken; dump + --from == live ----------------


@pytest.mark.parametrize(("design", "flag", "extras_codes"), [
    (HEADER, True, {"STK0404", "STK0601"}),
    (BROKEN, False, {"STK0101", "STK0201", "STK0301", "STK0404"}),
], ids=["healthy", "broken"])
def test_live_check_equals_admin_url_and_snapshot(run_cli: RunCli, tmp_path: Path, pki: Any, design: Any, flag: bool,
                                                   extras_codes: set[str]) -> None:
    with lab_cluster([Gateway(POD, design)], flag=flag) as lab, serving(lab, tmp_path, pki=pki) as (server, kc):
        started = time.monotonic()
        live = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
        live_seconds = time.monotonic() - started
        _no_traceback(live)
        doc = as_json(live.stdout)
        admin = _admin_check(run_cli, lab, tmp_path)
        assert findings(doc) == findings(admin)
        assert {f[0] for f in findings(doc)} == extras_codes
        assert live.exit_code == admin["summary"]["exit_code"] == (1 if flag is False else 0)
        assert [p["name"] for p in doc["proxies"]] == [f"{POD}.{NS}"]
        assert doc["summary"]["labels_checked"] is True
        # stickyctl never writes: every request was a GET, none refused.
        assert {e.method for e in server.requests()} == {"GET"}
        assert server.denied() == []

        out = tmp_path / "snap"
        dumped = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--out-dir", str(out))
        _no_traceback(dumped)
        assert dumped.exit_code == 0, dumped.stderr
    # The snapshot is checked with the cluster gone.
    again = run_cli("check", "--from", str(out), "-o", "json")
    _no_traceback(again)
    assert findings(as_json(again.stdout)) == findings(doc)
    assert again.exit_code == live.exit_code
    assert as_json(again.stdout)["summary"]["not_checked"] == doc["summary"]["not_checked"]
    assert live_seconds < 10


def test_responses_split_over_many_frames_read_the_same(run_cli: RunCli, tmp_path: Path) -> None:
    """A kubelet frames the pod's bytes as it reads them: here every read arrives as two frames, cut
    anywhere (mid-header, mid-JSON). The relay hands them on in order and the check reads the same
    config as through --admin-url (streams.local_socket_options keeps such responses from waiting
    for delayed ACKs: benchmarks/live_fleet.py's framing row)."""
    with lab_cluster([Gateway(POD, HEADER, split_frames=True)]) as lab, serving(lab, tmp_path) as (server, kc):
        live = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
        _no_traceback(live)
        admin = _admin_check(run_cli, lab, tmp_path)
        assert server.denied() == []
    doc = as_json(live.stdout)
    assert findings(doc) == findings(admin)
    assert {f[0] for f in findings(doc)} == {"STK0404", "STK0601"}


def test_snapshot_content_and_no_secrets(run_cli: RunCli, tmp_path: Path) -> None:
    with lab_cluster([Gateway(POD, HEADER)], flag=True) as lab, serving(lab, tmp_path) as (_server, kc):
        out = tmp_path / "snap"
        res = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--out-dir", str(out))
        assert res.exit_code == 0, res.stderr
        assert f"wrote {out}: 1 of 1 pod(s) read" in res.stdout
    manifest = yaml.safe_load((out / "snapshot.yaml").read_text())
    assert manifest["kind"] == "StickyctlSnapshot" and manifest["version"] == 1
    assert manifest["taken_at"].endswith("Z")
    (cluster,) = manifest["clusters"]
    assert cluster["context"] == "lab" and cluster["namespace"] == NS and cluster["kubernetes_version"] == "v1.31.2"
    assert cluster["server"].startswith("http://127.0.0.1:")
    (target,) = manifest["targets"]
    assert target["pod"] == POD and target["istio_version"] == "1.24.0" and target["envoy_version"] == "1.40.0"
    assert target["node"] == "kind-worker" and target["revision"] == "default" and target["error"] is None
    dump = (out / target["file"]).read_text()
    assert "SecretsConfigDump" not in dump and "private_key" not in dump
    assert json.loads(dump)["configs"]
    objects = yaml.safe_load((out / "objects.yaml").read_text())["items"]
    kinds = {o["kind"] for o in objects}
    assert {"Service", "ServiceEntry", "Deployment"} <= kinds
    ist = yaml.safe_load((out / "istiod.yaml").read_text())["items"]
    (env,) = [c["env"] for c in ist[0]["spec"]["template"]["spec"]["containers"]]
    assert env == [{"name": "PILOT_ENABLE_PERSISTENT_SESSION_FILTER", "value": "true"}]
    everything = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    for secret in (TOKEN, "s3cr3t-do-not-copy", "hunter2"):
        assert secret not in everything
    # The snapshot's manifests are ordinary inputs too.
    res = run_cli("check", "-f", str(out / target["file"]), "--services", str(out / "objects.yaml"), "--istiod",
                  str(out / "istiod.yaml"), "-o", "json")
    assert {f["code"] for f in as_json(res.stdout)["findings"]} == {"STK0404", "STK0601"}


# --- authentication as users have it ---------------------------------------------------------------


def test_client_certificate_auth(run_cli: RunCli, tmp_path: Path, pki: Any) -> None:
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(
        lab, tmp_path, pki=pki, user={"client-certificate": str(pki.client_cert), "client-key": str(pki.client_key)},
        grants={"ci-cert-reader": rules_from_manifest(RBAC)},
    ) as (server, kc):
        res = run_cli("check", "--kubeconfig", str(kc), "-o", "json")  # -n from the context
        _no_traceback(res)
        assert res.exit_code == 0, res.stderr
        assert {f[0] for f in findings(as_json(res.stdout))} == {"STK0404", "STK0601"}
        assert {e.user for e in server.requests()} == {"ci-cert-reader"}


def test_exec_credential_plugin(run_cli: RunCli, tmp_path: Path, pki: Any) -> None:
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(
        lab, tmp_path, pki=pki, user=exec_plugin(tmp_path, TOKEN),
    ) as (server, kc):
        res = run_cli("check", "--kubeconfig", str(kc), "-o", "json")
        _no_traceback(res)
        assert res.exit_code == 0, res.stderr
        assert {e.user for e in server.requests()} == {"ci-reader"}
        assert TOKEN not in res.stdout + res.stderr


def test_rejected_token_is_one_line_and_never_shown(run_cli: RunCli, tmp_path: Path, pki: Any) -> None:
    bad = "t0k3n-expired-0123456789"
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path, pki=pki, user={"token": bad}) as (_s, kc):
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc))
        dumped = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--out-dir", str(tmp_path / "snap"))
    for r in (res, dumped):
        _no_traceback(r)
        assert r.exit_code == 3
        assert r.stderr.count("\n") == 1 and "401 Unauthorized" in r.stderr and "context lab" in r.stderr
        assert bad not in r.stdout + r.stderr
    assert not (tmp_path / "snap").exists()


def test_in_cluster_service_account(run_cli: RunCli, tmp_path: Path, pki: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes.config import incluster_config

    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(TOKEN)
    shutil.copy(pki.ca, sa / "ca.crt")
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path, pki=pki) as (server, _kc):
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(sa / "token"))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(sa / "ca.crt"))
        res = run_cli("check", "-n", NS, "-o", "json")
        _no_traceback(res)
        assert res.exit_code == 0, res.stderr
        assert {e.user for e in server.requests()} == {"ci-reader"}


# --- RBAC: docs/rbac.yaml is read-only and enough ------------------------------------------------------


def test_rbac_manifest_is_read_only() -> None:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole"}
    assert set(roles) == {"stickyctl-reader", "stickyctl-portforward", "stickyctl-exec"}
    for name in ("stickyctl-reader", "stickyctl-portforward"):
        for rule in roles[name]["rules"]:
            for resource in rule["resources"]:
                allowed = {"get", "create"} if resource == "pods/portforward" else {"get", "list", "watch"}
                assert set(rule["verbs"]) <= allowed, (name, resource, rule["verbs"])
            assert "secrets" not in rule["resources"] and "*" not in rule["resources"] + rule["verbs"]
    # exec is the one role that is not read-only, and it is separate and not bound by default.
    assert roles["stickyctl-exec"]["rules"] == [{"apiGroups": [""], "resources": ["pods/exec"],
                                                  "verbs": ["get", "create"]}]
    bound = {d["roleRef"]["name"] for d in docs if d["kind"].endswith("Binding")}
    assert bound == {"stickyctl-reader", "stickyctl-portforward"}


def test_rbac_manifest_is_enough(run_cli: RunCli, tmp_path: Path) -> None:
    """The fake enforces exactly docs/rbac.yaml's bound roles: a full check (ServiceEntries, Gateway API,
    workloads all installed) and a dump pass with nothing denied and nothing skipped."""
    extras = [plain_pod("legacy", "helloworld", ip="10.244.3.3",
                        labels={"istio.io/persistent-session-header": "x-session-header"})]
    with lab_cluster([Gateway(POD, HEADER)], extras=extras) as lab, serving(
        lab, tmp_path, grants={"ci-reader": rules_from_manifest(RBAC)},
    ) as (server, kc):
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
        _no_traceback(res)
        dumped = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--out-dir", str(tmp_path / "snap"))
        assert dumped.exit_code == 0, dumped.stderr
        assert server.denied() == []
        used = {(e.verb, e.group, e.resource) for e in server.requests() if e.verb}
        assert used == {
            ("list", "", "pods"), ("list", "", "services"), ("list", "apps", "deployments"),
            ("list", "apps", "statefulsets"), ("list", "apps", "daemonsets"),
            ("list", "networking.istio.io", "serviceentries"), ("list", "gateway.networking.k8s.io", "httproutes"),
            ("list", "gateway.networking.k8s.io", "grpcroutes"), ("create", "", "pods/portforward"),
        }
    doc = as_json(res.stdout)
    assert "warning" not in res.stderr and doc["summary"]["not_checked"] == []
    # The bare pod with a session label was read (STK0104) through the reader role.
    assert ("STK0104", "object:Pod/helloworld/legacy") in {(f[0], f[2]) for f in findings(doc)}


def test_optional_reads_forbidden_are_warnings(run_cli: RunCli, tmp_path: Path) -> None:
    core = [Rule(frozenset({"get", "list"}), frozenset({""}), frozenset({"pods", "services"})),
            Rule(frozenset({"list"}), frozenset({"apps"}), frozenset({"deployments"}), "istio-system"),
            Rule(frozenset({"create"}), frozenset({""}), frozenset({"pods/portforward"}), NS)]
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path, grants={"ci-reader": core}) as (_s, kc):
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
    _no_traceback(res)
    assert res.exit_code == 0, res.stderr
    doc = as_json(res.stdout)
    assert {f[0] for f in findings(doc)} == {"STK0404", "STK0601"}
    warnings = [line for line in res.stderr.splitlines() if line.startswith("stickyctl: warning:")]
    assert len(warnings) == 6, res.stderr
    assert "ServiceEntries not read (session labels on ServiceEntries not checked): forbidden, needs 'list' on " \
           "serviceentries.networking.istio.io in all namespaces" in res.stderr
    assert "needs 'list' on deployments.apps in all namespaces" in res.stderr
    assert len(doc["summary"]["not_checked"]) == 6


def test_missing_required_permission_names_it(run_cli: RunCli, tmp_path: Path) -> None:
    no_services = [Rule(frozenset({"get", "list"}), frozenset({""}), frozenset({"pods"}))]
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path,
                                                             grants={"ci-reader": no_services}) as (_s, kc):
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc))
    _no_traceback(res)
    assert res.exit_code == 3
    assert res.stderr.count("\n") == 1
    assert "forbidden: stickyctl needs 'list' on services in all namespaces" in res.stderr
    assert "docs/rbac.yaml" in res.stderr


def test_port_forward_forbidden_is_stk0001_per_pod(run_cli: RunCli, tmp_path: Path) -> None:
    reader = rules_from_manifest(RBAC, "stickyctl-reader")
    with lab_cluster([Gateway(POD, HEADER), Gateway(POD_B, HEADER, ip="10.244.1.9")]) as lab, serving(
        lab, tmp_path, grants={"ci-reader": reader},
    ) as (_s, kc):
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
    _no_traceback(res)
    assert res.exit_code == 3
    got = findings(as_json(res.stdout))
    assert [(f[0], f[2]) for f in got] == [("STK0001", f"target:pod/{NS}/{p}") for p in (POD_B, POD)]
    needs = "forbidden: stickyctl needs 'create' on pods/portforward in namespace istio-ingress"
    assert all(needs in f[3] for f in got)


def test_via_exec_needs_the_exec_role_and_gives_the_same_findings(run_cli: RunCli, tmp_path: Path) -> None:
    read_only = rules_from_manifest(RBAC)
    with_exec = read_only + rules_from_manifest(RBAC, "stickyctl-exec", namespace=NS)
    with lab_cluster([Gateway(POD, BROKEN)], flag=False) as lab:
        with serving(lab, tmp_path, grants={"ci-reader": read_only}) as (_s, kc):
            denied = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--via", "exec", "-o", "json")
        with serving(lab, tmp_path, grants={"ci-reader": with_exec}) as (server, kc):
            res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--via", "exec", "-o", "json")
            pf = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
            assert {e.resource for e in server.requests() if e.verb == "create"} == {"pods/exec", "pods/portforward"}
    _no_traceback(denied)
    assert denied.exit_code == 3
    (only,) = findings(as_json(denied.stdout))
    assert only[0] == "STK0001" and "'create' on pods/exec in namespace istio-ingress" in only[3]
    _no_traceback(res)
    assert findings(as_json(res.stdout)) == findings(as_json(pf.stdout))
    assert {f[0] for f in findings(as_json(res.stdout))} == {"STK0101", "STK0201", "STK0301", "STK0404"}


# --- faults: each affected target is STK0001, the others are still checked --------------------------


def test_faults_each_target_reported_others_checked(run_cli: RunCli, tmp_path: Path) -> None:
    gateways = [
        Gateway(POD, HEADER),
        Gateway("gw-refused-7d9c5b6f8-abcde", None, ip="10.244.0.20"),
        Gateway("gw-reset-7d9c5b6f8-bcdfg", HEADER, ip="10.244.0.21", fault="reset"),
        Gateway("gw-hang-7d9c5b6f8-cdfgh", HEADER, ip="10.244.0.22", fault="hang"),
        Gateway("gw-gone-7d9c5b6f8-dfghj", HEADER, ip="10.244.0.23", gone=True),
        Gateway("gw-pending-7d9c5b6f8-fghjk", None, ip="10.244.0.24", phase="Pending"),
    ]
    with lab_cluster(gateways) as lab, serving(lab, tmp_path) as (_server, kc):
        lab.cluster.add(plain_pod("no-envoy", NS, ip="10.244.0.30"))
        started = time.monotonic()
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--timeout", "1.5", "-o", "json")
        seconds = time.monotonic() - started
        partial = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--timeout", "1.5", "--allow-partial")
        plain = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--pod", "no-envoy", "--pod", "nope", "-o", "json")
    _no_traceback(res)
    assert res.exit_code == 3
    doc = as_json(res.stdout)
    unread = {f[2].removeprefix(f"target:pod/{NS}/"): f[3] for f in findings(doc) if f[0] == "STK0001"}
    assert set(unread) == {g.pod for g in gateways[1:]}
    assert "dial tcp4 127.0.0.1:15000: connect: connection refused" in unread["gw-refused-7d9c5b6f8-abcde"]
    assert "cut mid-transfer" in unread["gw-reset-7d9c5b6f8-bcdfg"]
    assert "timed out" in unread["gw-hang-7d9c5b6f8-cdfgh"] and "--timeout 1.5s" in unread["gw-hang-7d9c5b6f8-cdfgh"]
    assert "no longer exists" in unread["gw-gone-7d9c5b6f8-dfghj"]
    assert "is Pending" in unread["gw-pending-7d9c5b6f8-fghjk"]
    # The healthy replica was still checked.
    assert ("STK0601", f"proxy:{POD}.{NS}") in {(f[0], f[2]) for f in findings(doc)}
    assert [p["name"] for p in doc["proxies"]] == [f"{POD}.{NS}"]
    # One error line per unreadable target on stderr, and the hang cost one timeout, not one per request.
    assert len([line for line in res.stderr.splitlines() if line.startswith("stickyctl: error:")]) == 5
    assert seconds < 8
    _no_traceback(partial)
    assert partial.exit_code == 1  # STK0001 counts as an error finding, not "not checked"
    _no_traceback(plain)
    assert plain.exit_code == 3
    got = {f[2]: f[3] for f in findings(as_json(plain.stdout))}
    assert "has no istio-proxy container" in got[f"target:pod/{NS}/no-envoy"]
    assert "no such pod" in got[f"target:pod/{NS}/nope"]


def test_no_gateways_in_namespace(run_cli: RunCli, tmp_path: Path) -> None:
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path, namespace=None) as (_s, kc):
        res = run_cli("check", "--kubeconfig", str(kc))
        labelled = run_cli("check", "-n", NS, "-l", "app=nothing", "--kubeconfig", str(kc))
        everywhere = run_cli("check", "-A", "--kubeconfig", str(kc), "-o", "json")
    _no_traceback(res)
    assert res.exit_code == 3 and res.stderr.count("\n") == 1
    assert "no gateway pods in namespace default" in res.stderr and "-n istio-ingress" in res.stderr
    assert labelled.exit_code == 3 and "no pods match -l 'app=nothing'" in labelled.stderr
    assert everywhere.exit_code == 0 and {f[0] for f in findings(as_json(everywhere.stdout))} == {"STK0404", "STK0601"}


def test_absent_crds_are_skipped_with_a_warning(run_cli: RunCli, tmp_path: Path) -> None:
    with lab_cluster([Gateway(POD, HEADER)], installed=()) as lab, serving(lab, tmp_path) as (server, kc):
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
        assert not [e for e in server.requests() if e.status == 404]
    _no_traceback(res)
    assert res.exit_code == 0
    assert "ServiceEntries not read: networking.istio.io is not installed" in res.stderr
    assert "gateway.networking.k8s.io is not installed" in res.stderr


def test_api_unreachable_fails_fast_with_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kc = write_kubeconfig(tmp_path / "kc", [Context("gone", f"https://127.0.0.1:{port}", {"token": TOKEN})])
    started = time.monotonic()
    res = run_cli("check", "-n", NS, "--kubeconfig", str(kc))
    assert time.monotonic() - started < 3
    _no_traceback(res)
    assert res.exit_code == 3
    assert res.stderr == (f"stickyctl: error: cannot reach the Kubernetes API at https://127.0.0.1:{port} "
                          "(context gone): connection refused\n")
    assert TOKEN not in res.stderr


def test_api_that_never_answers_times_out(run_cli: RunCli, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # accepts TCP, never speaks (TLS handshake hangs)
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        port = s.getsockname()[1]
        kc = write_kubeconfig(tmp_path / "kc", [Context("mute", f"https://127.0.0.1:{port}", {"token": TOKEN})])
        started = time.monotonic()
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--timeout", "1")
        seconds = time.monotonic() - started
    _no_traceback(res)
    assert res.exit_code == 3 and res.stderr.count("\n") == 1
    assert "cannot reach the Kubernetes API" in res.stderr and "context mute" in res.stderr
    assert seconds < 4


@pytest.mark.parametrize("command", ["check", "dump"])
def test_ctrl_c_exits_130_and_leaves_nothing(tmp_path: Path, command: str) -> None:
    with lab_cluster([Gateway(POD, HEADER, fault="hang")]) as lab, serving(lab, tmp_path) as (server, kc):
        out = tmp_path / "snap"
        args = [command, "-n", NS, "--kubeconfig", str(kc), "--timeout", "60"]
        if command == "dump":
            args += ["--out-dir", str(out)]
        proc = interruptible_stickyctl(args, tmp_path)
        try:
            wait_for(lambda: any(e.resource == "pods/portforward" for e in server.requests()), 20, "the port-forward")
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=5)
        finally:
            proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 1, stderr
    assert stdout == ""
    assert not out.exists() and not list(tmp_path.glob(".snap.partial-*"))


def test_dump_refuses_a_non_empty_directory(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "snap").mkdir()
    (tmp_path / "snap" / "keep.txt").write_text("mine")
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path) as (_s, kc):
        res = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--out-dir", str(tmp_path / "snap"))
    assert res.exit_code == 2 and "exists and is not empty" in res.stderr
    assert [p.name for p in (tmp_path / "snap").iterdir()] == ["keep.txt"]
    assert not list(tmp_path.glob(".snap.partial-*"))


def test_kubectl_reads_the_fake(tmp_path: Path, pki: Any) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path, pki=pki) as (server, kc):
        res = subprocess.run([kubectl, "--kubeconfig", str(kc), "get", "pods", "-n", NS], capture_output=True,
                             text=True, timeout=60, env=child_env(tmp_path))
        direct = subprocess.run([kubectl, "--server", server.url, "--certificate-authority", str(pki.ca),
                                 "--token", TOKEN, "get", "svc", "-A", "-o", "name"], capture_output=True, text=True,
                                timeout=60, env=child_env(tmp_path))
    assert res.returncode == 0, res.stderr
    assert POD in res.stdout and "Running" in res.stdout
    assert direct.returncode == 0, direct.stderr
    assert "service/helloworld" in direct.stdout.splitlines()


# --- fleet checks, revisions, several clusters -----------------------------------------------------


def test_fleet_checks_live(run_cli: RunCli, tmp_path: Path) -> None:
    import dataclasses

    drift = dataclasses.replace(HEADER, override_host_status=("HEALTHY", "DRAINING"))
    with lab_cluster([Gateway(POD, HEADER), Gateway(POD_B, drift, ip="10.244.1.9")]) as lab, \
            serving(lab, tmp_path) as (_s, kc):
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
    doc = as_json(res.stdout)
    (fleet,) = [f for f in doc["findings"] if f["code"] == "STK0501"]
    assert fleet["resource_id"] == "object:Deployment/istio-ingress/istio-ingressgateway"
    assert "[HEALTHY, DRAINING] on istio-ingressgateway-6b7f9c8d5-m4q9z" in fleet["message"]
    with lab_cluster([Gateway(POD, STRICT), Gateway(POD_B, STRICT, ip="10.244.1.9")]) as lab, \
            serving(lab, tmp_path) as (_s, kc):
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
        one = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--pod", POD, "-o", "json")
    assert {f["code"] for f in as_json(res.stdout)["findings"]} == {"STK0404", "STK0502", "STK0601"}
    assert {f["code"] for f in as_json(one.stdout)["findings"]} == {"STK0404", "STK0601"}


def test_istiod_of_the_revision_the_gateway_follows(run_cli: RunCli, tmp_path: Path) -> None:
    istiods = [istiod(flag=False), istiod(flag=True, revision="canary")]
    with lab_cluster([Gateway(POD, HEADER, revision="canary")], istiods=istiods) as lab, \
            serving(lab, tmp_path) as (_s, kc):
        canary = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
    assert {f[0] for f in findings(as_json(canary.stdout))} == {"STK0404", "STK0601"}  # default's flag is off: not used
    with lab_cluster([Gateway(POD, HEADER, revision="stable")], istiods=istiods) as lab, \
            serving(lab, tmp_path) as (_s, kc):
        res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "-o", "json")
    notes = as_json(res.stdout)["summary"]["not_checked"]
    assert any("follow istiod revision 'stable', but no istiod Deployment of that revision is in istio-system" in n
               for n in notes)


def test_several_contexts_one_unreachable(run_cli: RunCli, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path) as (server, _kc):
        kc = write_kubeconfig(tmp_path / "kc2", [
            Context("east", server.url, {"token": TOKEN}, namespace=NS),
            Context("west", f"http://127.0.0.1:{port}", {"token": TOKEN}, namespace=NS),
        ])
        res = run_cli("check", "--kubeconfig", str(kc), "--context", "east", "--context", "west", "-o", "json")
        bad = run_cli("check", "--kubeconfig", str(kc), "--context", "north")
    _no_traceback(res)
    assert res.exit_code == 3
    got = {(f[0], f[2]) for f in findings(as_json(res.stdout))}
    assert got == {("STK0001", "target:context/west"), ("STK0601", f"proxy:{POD}.{NS}"), (
        "STK0404", f"proxy:{POD}.{NS}/cluster:outbound|5000||helloworld.helloworld.svc.cluster.local")}
    assert as_json(res.stdout)["proxies"][0]["sources"] == [f"east:pod/{NS}/{POD}"]
    assert bad.exit_code == 2 and "--context 'north': not in the kubeconfig (contexts: east, west)" in bad.stderr


# --- decode --resolve against the API ----------------------------------------------------------------


def test_decode_resolve_live(run_cli: RunCli, tmp_path: Path) -> None:
    from stickyctl.envoy.session_values import encode_header

    need_envoy()
    with lab_cluster([Gateway(POD, HEADER)]) as lab, serving(lab, tmp_path) as (_s, kc):
        lab.cluster.add(
            plain_pod("helloworld-v1-5d4f8b7c9-qwzrt", "helloworld", ip="10.244.1.4", node="kind-worker2"),
            plain_pod("helloworld-v2-7f6d5c4b3-tkxbn", "helloworld", ip="10.244.1.5", terminating=True),
        )
        ok = run_cli("decode", encode_header("10.244.1.4", 5000), "--resolve", "--kubeconfig", str(kc), "-o", "json")
        table = run_cli("decode", encode_header("10.244.1.5", 5000), "--resolve", "--kubeconfig", str(kc))
        stale = run_cli("decode", encode_header("10.9.9.9", 5000), "--resolve", "--kubeconfig", str(kc),
                        "-n", "helloworld")
    _no_traceback(ok)
    assert ok.exit_code == 0, ok.stderr
    (value,) = as_json(ok.stdout)["values"]
    assert value["endpoints"] == [{"namespace": "helloworld", "pod": "helloworld-v1-5d4f8b7c9-qwzrt",
                                   "node": "kind-worker2", "phase": "Running", "ready": True, "terminating": False,
                                   "port_declared": True}]
    assert table.exit_code == 0
    assert "pod: namespace=helloworld pod=helloworld-v2-7f6d5c4b3-tkxbn" in table.stdout
    assert "ready=false terminating=true" in table.stdout
    assert stale.exit_code == 1
    assert "pod: none has this IP (a stale session" in stale.stdout
    assert "10.9.9.9:5000: no pod in the cluster has this IP: a stale session" in stale.stderr


def test_live_flags_do_not_mix_with_files(run_cli: RunCli, tmp_path: Path) -> None:
    sample = ["--sample", "helloworld"]
    res = run_cli("check", *sample, "-n", NS)
    assert res.exit_code == 2 and "-n/--namespace applies to a live check" in res.stderr
    res = run_cli("check", "--from", str(tmp_path), "--context", "x")
    assert res.exit_code == 2 and "--context applies to a live check, not to --from DIR" in res.stderr
    res = run_cli("check", "--from", str(tmp_path))
    assert res.exit_code == 3 and "no snapshot.yaml" in res.stderr
    res = run_cli("check", "-n", NS, "--kubeconfig", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "no such file" in res.stderr
    res = run_cli("check", "-A", "--pod", "x", "--kubeconfig", str(tmp_path / "missing"))
    assert res.exit_code == 2


def test_exec_and_dump_with_an_unreadable_pod(run_cli: RunCli, tmp_path: Path) -> None:
    gateways = [Gateway(POD, HEADER), Gateway("gw-refused-7d9c5b6f8-abcde", None, ip="10.244.0.20")]
    with lab_cluster(gateways) as lab, serving(lab, tmp_path) as (_s, kc):
        via_exec = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--via", "exec", "-o", "json")
        dumped = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--out-dir", str(tmp_path / "a"))
        partial = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--out-dir", str(tmp_path / "b"),
                          "--allow-partial")
    _no_traceback(via_exec)
    assert via_exec.exit_code == 3
    got = {f[2]: f[3] for f in findings(as_json(via_exec.stdout)) if f[0] == "STK0001"}
    assert list(got) == ["target:pod/istio-ingress/gw-refused-7d9c5b6f8-abcde"]
    assert "pilot-agent request GET config_dump?mask=bootstrap.node" in next(iter(got.values()))
    assert "connection refused" in next(iter(got.values()))
    # dump: the snapshot is written all the same, the pod recorded as not read; exit 3 (or 0 with --allow-partial)
    assert dumped.exit_code == 3 and "1 of 2 pod(s) read" in dumped.stdout
    assert partial.exit_code == 0
    from_snapshot = run_cli("check", "--from", str(tmp_path / "a"), "-o", "json")
    assert from_snapshot.exit_code == 3
    assert {(f[0], f[2]) for f in findings(as_json(from_snapshot.stdout))} == {
        ("STK0001", "target:pod/istio-ingress/gw-refused-7d9c5b6f8-abcde"), ("STK0601", f"proxy:{POD}.{NS}"),
        ("STK0404", f"proxy:{POD}.{NS}/cluster:outbound|5000||helloworld.helloworld.svc.cluster.local")}
