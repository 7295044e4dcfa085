"""Unit tests of the live pieces that do not need a cluster: fleet grouping and messages, bounded
concurrency, --allow-partial, atomic snapshots, the progress display, the fake's selectors, and the
exec transport's mapping of pilot-agent's answers (respx-free: a stub exec)."""

from __future__ import annotations

import copy
import io
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from stickyctl.checks.engine import CheckOptions
from stickyctl.checks.snapshot import check_snapshot
from stickyctl.environment import Environment
from stickyctl.envoy.enums import ProxyKind
from stickyctl.kube import collect as collect_mod
from stickyctl.kube import snapshot as snap
from stickyctl.kube.client import Cluster
from stickyctl.kube.streams import ExecResult, PortForwardRelay
from tests.conftest import CASES, RunCli
from tests.fake_apiserver import field_match, label_match

DRIFT = CASES / "STK0501-override-status-drift"
POD_A = "istio-ingressgateway-6b7f9c8d5-x7k2p"
POD_B = "istio-ingressgateway-6b7f9c8d5-m4q9z"


# --- fleet: replicas, grouping, what the message names ------------------------------------------------


@pytest.mark.parametrize(("pod", "workload"), [
    ("istio-ingressgateway-6b7f9c8d5-x7k2p", "Deployment/ns/istio-ingressgateway"),
    ("gw-bcdfghjklm-2x4z6", "Deployment/ns/gw"),
    ("edge-gw-7xk2p", "DaemonSet/ns/edge-gw"),
    ("egress-0", "StatefulSet/ns/egress"),
    ("bare", None),
])
def test_workload_of(pod: str, workload: str | None) -> None:
    from stickyctl.checks.rules._fleet import workload_of
    from stickyctl.envoy.model import Proxy, ProxyIdentity

    proxy = Proxy(ProxyIdentity(f"{pod}.ns", f"router~10.0.0.1~{pod}.ns~ns.svc.cluster.local", ProxyKind.ROUTER,
                                None, None), ())
    got = workload_of(proxy)
    assert (got.ref if got else None) == workload
    sidecar = Proxy(ProxyIdentity(f"{pod}.ns", f"sidecar~10.0.0.1~{pod}.ns~ns.svc.cluster.local",
                                  ProxyKind.SIDECAR, None, None), ())
    assert workload_of(sidecar) is None


def _without_session_filter(dump: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dump)
    for section in out["configs"]:
        for dl in section.get("dynamic_listeners", []):
            for chain in dl["active_state"]["listener"]["filter_chains"]:
                for f in chain["filters"]:
                    hcm = f["typed_config"]
                    hcm["http_filters"] = [h for h in hcm.get("http_filters", [])
                                           if h["name"] != "envoy.filters.http.stateful_session"]
    return out


def test_replicas_disagree_names_each_difference(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    a = json.loads((DRIFT / f"{POD_A}.json").read_text())
    b = _without_session_filter(json.loads((DRIFT / f"{POD_B}.json").read_text()))
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    monkeypatch.chdir(tmp_path)
    res = run_cli("check", "-f", "a.json", "-f", "b.json", "-o", "json")
    (fleet,) = [f for f in json.loads(res.stdout)["findings"] if f["code"] == "STK0501"]
    details = fleet["details"]
    # Replicas in name order (m4q9z < x7k2p); the majority first when there is one.
    assert details["listener 0.0.0.0_8080 filter chain #0: session filter"] == (
        f"absent on {POD_B} but filter 4 of 5, before the router on {POD_A}")
    cluster = "cluster outbound|5000||helloworld.helloworld.svc.cluster.local: override_host_status"
    assert details[cluster] == f"[HEALTHY, DRAINING] on {POD_B} but [HEALTHY, DRAINING, UNKNOWN, DEGRADED] on {POD_A}"
    assert "2 replicas of Deployment/istio-ingress/istio-ingressgateway disagree" in fleet["message"]
    assert "version_info" not in json.dumps(details) and "last_updated" not in json.dumps(details)


def test_identical_replicas_do_not_disagree(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = json.loads((DRIFT / f"{POD_A}.json").read_text())
    b = copy.deepcopy(a)
    node = next(s for s in b["configs"] if "Bootstrap" in s["@type"])["bootstrap"]["node"]
    node["id"] = node["id"].replace(POD_A, POD_B).replace("10.244.0.7", "10.244.1.9")
    for section in b["configs"]:  # timestamps and versions differ between replicas: never compared
        for dl in section.get("dynamic_listeners", []):
            dl["active_state"]["last_updated"] = "2030-01-01T00:00:00Z"
            dl["active_state"]["version_info"] = "other/9"
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    monkeypatch.chdir(tmp_path)
    res = run_cli("check", "-f", "a.json", "-f", "b.json", "-o", "json")
    doc = json.loads(res.stdout)
    assert len(doc["proxies"]) == 2
    assert "STK0501" not in {f["code"] for f in doc["findings"]}


# --- bounded concurrency -----------------------------------------------------------------------------


def test_run_bounded_keeps_order_and_bound() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return i * i

    done: list[int] = []
    assert collect_mod.run_bounded(list(range(12)), work, concurrency=3,
                                   on_done=lambda i, _item: done.append(i)) == [i * i for i in range(12)]
    assert peak == 3 and sorted(done) == list(range(12))
    assert collect_mod.run_bounded([], work, concurrency=3) == []


def test_progress_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Environment(stdout=io.StringIO(), stderr=Tty(), color="never")
    plain = Environment(stdout=io.StringIO(), stderr=io.StringIO(), color="never")
    assert isinstance(collect_mod._progress(tty, 3), collect_mod._RichProgress)
    assert isinstance(collect_mod._progress(plain, 3), collect_mod._NoProgress)
    assert isinstance(collect_mod._progress(tty, 1), collect_mod._NoProgress)
    target = snap.TargetRecord(label="pod/ns/p", context="c", namespace="ns", pod="p")
    with collect_mod._progress(tty, 2) as advance:
        advance(target)
        advance(target)


# --- --allow-partial ----------------------------------------------------------------------------------


def _snapshot(targets: list[snap.TargetRecord]) -> snap.Snapshot:
    return snap.Snapshot(taken_at="2026-11-27T12:00:00Z", stickyctl_version="0", label_keys={},
                         clusters=[snap.ClusterRecord(context="c", server="https://x")], targets=targets)


def _configs(pod: str = POD_A) -> list[Any]:
    """A recorded dump as the flat entries of config_dump?resource=… (what a live fetch records)."""
    dump = json.loads((DRIFT / f"{pod}.json").read_text())
    admin = "type.googleapis.com/envoy.admin.v3."
    out: list[Any] = []
    for section in dump["configs"]:
        t = section["@type"]
        if t.endswith("BootstrapConfigDump"):
            out.append(section)
        elif t.endswith("ListenersConfigDump"):
            out += [{"@type": admin + "ListenersConfigDump.DynamicListener", **d}
                    for d in section.get("dynamic_listeners", [])]
        elif t.endswith("ClustersConfigDump"):
            out += [{"@type": admin + "ClustersConfigDump.DynamicCluster", **d}
                    for d in section.get("dynamic_active_clusters", [])]
        elif t.endswith("RoutesConfigDump"):
            out += [{"@type": admin + "RoutesConfigDump.DynamicRouteConfig", **d}
                    for d in section.get("dynamic_route_configs", [])]
    return out


def test_fleet_replicas_are_per_cluster() -> None:
    def target(context: str, pod: str) -> snap.TargetRecord:
        return snap.TargetRecord(label=f"{context}:pod/istio-ingress/{pod}", context=context,
                                 namespace="istio-ingress", pod=pod, configs=_configs(pod))

    one = check_snapshot(_snapshot([target("east", POD_A), target("east", POD_B)]), CheckOptions())
    (fleet,) = [f for f in one.findings if f.code == "STK0501"]
    assert fleet.resource_id == "target:context/east/object:Deployment/istio-ingress/istio-ingressgateway"
    assert "(context east)" in fleet.message
    two = check_snapshot(_snapshot([target("east", POD_A), target("west", POD_B)]), CheckOptions())
    assert "STK0501" not in {f.code for f in two.findings}
    assert len(two.proxies) == 2


def test_allow_partial_exit_statuses() -> None:
    from stickyctl.cli.live_opts import allow_partial_report

    ok = snap.TargetRecord(label="pod/ns/a", context="c", namespace="ns", pod="a", configs=_configs())
    bad = snap.TargetRecord(label="pod/ns/b", context="c", namespace="ns", pod="b", error="connection refused")
    report = check_snapshot(_snapshot([ok, bad]), CheckOptions())
    assert int(report.exit_status) == 3
    partial = allow_partial_report(report)
    assert int(partial.exit_status) == 1
    assert partial.document()["summary"]["exit_code"] == 1
    assert [f.code for f in partial.findings if f.code == "STK0001"] == ["STK0001"]
    none = allow_partial_report(check_snapshot(_snapshot([bad]), CheckOptions()))
    assert int(none.exit_status) == 3  # nothing was checked at all: still "not checked"
    relaxed = allow_partial_report(check_snapshot(_snapshot([ok, bad]), CheckOptions(failure_threshold=None)))
    assert int(relaxed.exit_status) == 0


# --- snapshots on disk --------------------------------------------------------------------------------


def test_snapshot_round_trip_and_atomic_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok = snap.TargetRecord(label="pod/ns/a", context="c", namespace="ns", pod="a", configs=_configs())
    bad = snap.TargetRecord(label="pod/ns/b", context="c", namespace="ns", pod="b", error="refused")
    s = _snapshot([ok, bad])
    s.notes.append("ServiceEntries not read: …")
    out = snap.write_snapshot(s, str(tmp_path / "snap"))
    back = snap.read_snapshot(str(out))
    assert back.targets[0].configs == ok.configs and back.targets[1].error == "refused"
    assert back.notes == s.notes
    a = check_snapshot(s, CheckOptions())
    b = check_snapshot(back, CheckOptions())
    assert a.findings == b.findings and a.not_checked == b.not_checked

    # A failure in the middle of writing leaves neither the snapshot nor a partial directory.
    calls = {"n": 0}
    real = snap._yaml_dump

    def failing(doc: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(doc)

    monkeypatch.setattr(snap, "_yaml_dump", failing)
    with pytest.raises(KeyboardInterrupt):
        snap.write_snapshot(s, str(tmp_path / "other"))
    assert not (tmp_path / "other").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["snap"]


def test_read_snapshot_refuses_what_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(snap.SnapshotError, match=r"no snapshot\.yaml"):
        snap.read_snapshot(str(tmp_path))
    (tmp_path / "snapshot.yaml").write_text("kind: Something\n")
    with pytest.raises(snap.SnapshotError, match="not a stickyctl snapshot"):
        snap.read_snapshot(str(tmp_path))
    (tmp_path / "snapshot.yaml").write_text("kind: StickyctlSnapshot\nversion: 1\ntargets:\n- {label: x, context: c, "
                                            "namespace: n, pod: p, file: ../../etc/passwd}\n")
    with pytest.raises(snap.SnapshotError, match="outside the snapshot"):
        snap.read_snapshot(str(tmp_path))


# --- --via exec: pilot-agent's answers --------------------------------------------------------------


def test_exec_transport_maps_pilot_agent_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from stickyctl.envoy.admin import AdminClient
    from stickyctl.errors import InputError
    from stickyctl.kube import streams
    from stickyctl.kube.client import KubeError

    seen: list[list[str]] = []
    answers: list[ExecResult] = [
        ExecResult(0, b'{"configs": []}', b""),
        ExecResult(1, b"", b"Error: received unsuccessful status code 404: not found\n"),
        ExecResult(126, b"", b"boom\n"),
    ]

    def fake_exec(_cluster: Any, _ns: str, _pod: str, container: str, command: list[str], *, timeout: float
                  ) -> ExecResult:
        assert container == "istio-proxy"
        seen.append(list(command))
        return answers.pop(0)

    monkeypatch.setattr(streams, "exec_command", fake_exec)
    from kubernetes.client import ApiClient

    cluster = Cluster(ApiClient(), context="c", namespace="ns", timeout=1)  # never dialled: exec_command is faked
    transport = collect_mod.ExecTransport(cluster, "ns", "p", port=15001, timeout=1).build()
    client = AdminClient("http://localhost:15001", transport=transport, label="pod/ns/p")
    assert client.get_json("config_dump?resource=dynamic_listeners") == {"configs": []}
    assert seen[0] == ["pilot-agent", "request", "GET", "config_dump?resource=dynamic_listeners", "--debug-port",
                       "15001"]
    with pytest.raises(InputError, match="answered 404"):
        client.get("config_dump?resource=x")
    with pytest.raises(KubeError, match="failed: boom"):
        client.get("config_dump?resource=y")
    with pytest.raises(httpx.UnsupportedProtocol):
        transport.handle_request(httpx.Request("POST", "http://localhost:15001/quitquitquit"))


# --- the fake's selectors behave like the API server's -------------------------------------------------


def test_fake_selectors() -> None:
    labels = {"app": "gw", "istio.io/rev": "canary"}
    assert label_match("app=gw", labels) and label_match("app==gw,istio.io/rev", labels)
    assert not label_match("app!=gw", labels) and not label_match("!istio.io/rev", labels)
    assert label_match("istio.io/rev in (canary,stable)", labels)
    assert not label_match("istio.io/rev notin (canary)", labels)
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "status": {"podIP": "10.0.0.1"}}
    assert field_match("status.podIP=10.0.0.1,metadata.namespace=ns", pod)
    assert not field_match("status.podIP!=10.0.0.1", pod)


def test_fake_api_server_speaks_like_one() -> None:
    import urllib.error
    import urllib.request

    from tests.fake_apiserver import ALL, FakeApiServer, FakeCluster, Rule

    def get(server: FakeApiServer, path: str, token: str = "t", method: str = "GET") -> tuple[int, Any]:
        req = urllib.request.Request(server.url + path, method=method, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    only_pods = [Rule(frozenset({"list"}), frozenset({""}), frozenset({"pods"}), "ns")]
    for installed in (set(), {"istio"}):
        with FakeApiServer(FakeCluster(installed=installed), tokens={"t": "u", "r": "reader"},
                           grants={"u": ALL, "reader": only_pods}) as server:
            status, doc = get(server, "/apis/networking.istio.io/v1/serviceentries")
            groups = {g["name"] for g in get(server, "/apis")[1]["groups"]}
            if installed:
                assert status == 200 and doc["kind"] == "ServiceEntryList" and "networking.istio.io" in groups
                crds = get(server, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")[1]["items"]
                assert "serviceentries.networking.istio.io" in {c["metadata"]["name"] for c in crds}
            else:
                assert status == 404 and doc["reason"] == "NotFound" and "networking.istio.io" not in groups
            assert get(server, "/api/v1/pods", token="nope")[0] == 401
            assert get(server, "/api/v1/namespaces/ns/pods", token="r")[0] == 200
            status, doc = get(server, "/api/v1/services", token="r")
            assert status == 403 and doc["message"] == ('services is forbidden: User "reader" cannot list resource '
                                                        '"services" in API group "" at the cluster scope')
            assert get(server, "/api/v1/namespaces/ns/pods/x", method="DELETE")[0] == 405


@pytest.mark.parametrize(("text", "message"), [
    ("apiVersion: v1\nkind: Config\ncontexts: [\n", "not a readable kubeconfig"),
    ("apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n- name: a\n  cluster: {server: 'https://127.0.0.1:1',"
     " certificate-authority-data: '!!x'}\nusers:\n- name: a\n  user: {token: x}\ncontexts:\n- name: a\n  context: "
     "{cluster: a, user: a}\n", "kubeconfig context a: Invalid base64"),
])
def test_broken_kubeconfig_is_one_line(run_cli: RunCli, tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "kc").write_text(text)
    res = run_cli("check", "-n", "x", "--kubeconfig", str(tmp_path / "kc"))
    assert res.exit_code == 3 and res.stderr.count("\n") == 1 and message in res.stderr
    assert "internal error" not in res.stderr


NS_UNIT = "istio-ingress"


class _SilentPortForward:
    """A port-forward websocket that never sends anything: the relay waits on its socket."""

    def __init__(self) -> None:
        self.sock, self.peer = socket.socketpair()

    def shutdown(self) -> None:
        self.sock.close()
        self.peer.close()


class _OnePortForwardCluster:
    def websocket(self, *_args: Any, **_kwargs: Any) -> _SilentPortForward:
        return _SilentPortForward()


def test_relay_connections_send_without_delay() -> None:
    """The relay's local connections have TCP_NODELAY, as kubectl port-forward's (Go's default): a
    response arriving in several frames is sent on at once, not after the client's delayed ACK
    (stickyctl.kube.streams.local_socket_options)."""
    relay = PortForwardRelay(cast(Cluster, _OnePortForwardCluster()), NS_UNIT, "gw-0", 15000)
    try:
        with socket.create_connection(("127.0.0.1", relay.local_port)):
            deadline = time.monotonic() + 10
            while not relay._streams and time.monotonic() < deadline:  # the relay's side of the connection
                time.sleep(0.01)
            (stream,) = relay._streams
            assert stream.conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        relay.close()
