"""The fault matrix on the admin and live paths: every misbehaving endpoint is one line, exit 3,
within the per-target ``--timeout``; the other targets are still checked.

Admin endpoints are loopback servers (tests/loopback.py) that accept and then misbehave: a
slow-loris dribbling the body or the headers a byte at a time, a web server, a 500, a redirect to
another host (never followed: that host sees no request), invalid JSON, bytes that are not HTTP,
silence, a reset, an endless body, a gzip bomb. The same servers stand behind gateway pods of the
fake API server (port-forward and exec) for the live path. Ctrl-C during a fleet fetch ends with
130, every port-forward closed, and no snapshot.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from stickyctl.envoy.admin import IDENTITY_QUERY
from stickyctl.lab.scenarios import HEADER
from tests.conftest import Captured, RunCli
from tests.fake_apiserver import wait_for
from tests.live_support import (
    ADMIN_TOKEN,
    NS,
    POD,
    ROOT,
    TOKEN,
    Gateway,
    as_json,
    findings,
    interruptible_stickyctl,
    lab_cluster,
    serving,
)
from tests.loopback import FAULTS, fault_server

TIMEOUT = 0.6
"""--timeout for every case: a slow target must cost about this, once, not once per request."""
SLACK = 1.5

EXPECTED: dict[str, str] = {
    "loris-body": f"was not answered in full within {TIMEOUT:g}s",
    "loris-headers": f"was not answered in full within {TIMEOUT:g}s",
    "silent": f"was not answered in full within {TIMEOUT:g}s",
    "html": "the answer is text/html, not JSON: is this an Envoy admin API?",
    "status-500": f"GET /config_dump?{IDENTITY_QUERY} answered 500",
    "redirect": "answered 302 (a redirect to http://127.0.0.2:",
    "bad-json": "not JSON (Input data was truncated): is this an Envoy admin API?",
    "json-not-dump": "no 'configs' list in the answer: is this an Envoy admin API?",
    "not-http": "the answer is not HTTP",
    "reset": "cannot reach the Envoy admin API",
    "endless": "the answer is larger than 1048576 bytes",
    "gzip-bomb": "the answer is larger than 1048576 bytes",
}
UNSUPPORTED = {"html", "bad-json", "json-not-dump"}
LIMITED = {"endless", "gzip-bomb"}
"""Faults met with STICKYCTL_MAX_INPUT_BYTES=1 MiB (the default 1 GiB would take a while)."""


def _no_credentials(*texts: str) -> None:
    """The kubeconfig's bearer tokens never reach an output or a file, whatever failed."""
    for text in texts:
        assert TOKEN not in text and ADMIN_TOKEN not in text


def _one_line(res: Captured) -> str:
    _no_credentials(res.stdout, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr and "internal error" not in res.stderr, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stickyctl: error: "), res.stderr
    return lines[0]


def _why_present() -> bool:
    from tests.test_bad_input_corpus import has_command

    return has_command("why")


# --- --admin-url against misbehaving endpoints ---------------------------------------------------


@pytest.mark.usefixtures("no_ambient_kube")
@pytest.mark.parametrize("mode", FAULTS)
def test_admin_url_fault(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    if mode in LIMITED:
        monkeypatch.setenv("STICKYCTL_MAX_INPUT_BYTES", str(1 << 20))
    with fault_server("html", host="127.0.0.2") as elsewhere, \
            fault_server(mode, location=f"{elsewhere.url}/config_dump") as server:
        started = time.monotonic()
        res = run_cli("check", "--admin-url", server.url, "--timeout", str(TIMEOUT), "-o", "json")
        seconds = time.monotonic() - started
        why = None
        if _why_present():
            why = run_cli("why", "--admin-url", server.url, "--url", "http://gw/hello", "--timeout", str(TIMEOUT))
        assert elsewhere.requests == []  # the redirect is never followed
    line = _one_line(res)
    assert res.exit_code == 3
    assert line.startswith(f"stickyctl: error: {server.url}: ") and EXPECTED[mode] in line, line
    assert seconds < TIMEOUT + SLACK, seconds  # one timeout for the target, not one per request
    doc = as_json(res.stdout)
    code = "STK0002" if mode in UNSUPPORTED else "STK0001"  # an answer that is no config dump: unsupported input
    assert [(f[0], f[2]) for f in findings(doc)] == [(code, f"target:{server.url}")]
    assert doc["summary"]["exit_code"] == 3
    if why is not None:
        assert why.exit_code == 3 and EXPECTED[mode] in _one_line(why)


@pytest.mark.usefixtures("no_ambient_kube")
def test_admin_url_faults_do_not_hide_a_good_target(run_cli: RunCli, tmp_path: Path) -> None:
    """Several --admin-url, one of them a slow-loris: the good one is checked, the run is exit 3."""
    with lab_cluster([Gateway(POD, HEADER)]) as lab, fault_server("loris-body") as loris:
        started = time.monotonic()
        res = run_cli("check", "--admin-url", loris.url, "--admin-url", lab.admin_url(), "--timeout", str(TIMEOUT),
                      "-o", "json")
        seconds = time.monotonic() - started
    line = _one_line(res)
    assert res.exit_code == 3 and "timed out" in line and loris.url in line
    assert {f[0] for f in findings(as_json(res.stdout))} == {"STK0001", "STK0404", "STK0601"}
    assert seconds < TIMEOUT + SLACK + 1


# --- the live path: the same faults behind gateway pods --------------------------------------------

LIVE_FAULTS = ("loris-body", "loris-headers", "html", "status-500", "redirect", "not-http")


@pytest.mark.usefixtures("no_ambient_kube")
@pytest.mark.parametrize("via", ["port-forward", "exec"])
def test_live_faults_behind_pods(run_cli: RunCli, tmp_path: Path, via: str) -> None:
    """One healthy gateway and one pod per fault: each faulty pod is STK0001 naming its fault, the
    healthy one is checked, the slow ones cost one --timeout each, all in parallel."""
    pods = {mode: f"gw-{mode}-7d9c5b6f8-x{i}" for i, mode in enumerate(LIVE_FAULTS)}
    gateways = [Gateway(POD, HEADER)] + [Gateway(name, None, ip=f"10.244.0.{40 + i}")
                                        for i, name in enumerate(pods.values())]
    servers = {mode: fault_server(mode, location="http://127.0.0.2:1/config_dump") for mode in LIVE_FAULTS}
    with lab_cluster(gateways) as lab, serving(lab, tmp_path) as (_server, kc):
        opened = {mode: cm.__enter__() for mode, cm in servers.items()}
        try:
            for mode, srv in opened.items():
                lab.cluster.backends[(NS, pods[mode])].admin = srv.address
            started = time.monotonic()
            res = run_cli("check", "-n", NS, "--kubeconfig", str(kc), "--via", via, "--timeout", str(TIMEOUT),
                          "-o", "json")
            seconds = time.monotonic() - started
        finally:
            for cm in servers.values():
                cm.__exit__(None, None, None)
    assert "Traceback" not in res.stdout + res.stderr and "internal error" not in res.stderr
    _no_credentials(res.stdout, res.stderr)
    assert res.exit_code == 3
    errors = res.stderr.splitlines()
    assert len(errors) == len(LIVE_FAULTS) and all(e.startswith("stickyctl: error: pod/") for e in errors), errors
    doc = as_json(res.stdout)
    unread = {f[2].rpartition("/")[2]: f[3] for f in findings(doc) if f[0] == "STK0001"}
    assert set(unread) == set(pods.values())
    for mode in ("loris-body", "loris-headers"):
        assert "timed out" in unread[pods[mode]] or "no result within" in unread[pods[mode]], unread[pods[mode]]
    assert "500" in unread[pods["status-500"]]
    assert "302" in unread[pods["redirect"]]
    assert ("STK0601", f"proxy:{POD}.{NS}") in {(f[0], f[2]) for f in findings(doc)}
    assert seconds < TIMEOUT + SLACK + 3, seconds


@pytest.mark.usefixtures("no_ambient_kube")
def test_dump_with_a_slow_loris_pod(run_cli: RunCli, tmp_path: Path) -> None:
    """dump: the snapshot is written with the slow pod recorded as not read (exit 3), within the
    timeout; check --from then reports it as STK0001."""
    slow = "gw-loris-7d9c5b6f8-abcde"
    with lab_cluster([Gateway(POD, HEADER), Gateway(slow, None, ip="10.244.0.60")]) as lab, \
            serving(lab, tmp_path) as (_s, kc), fault_server("loris-body") as loris:
        lab.cluster.backends[(NS, slow)].admin = loris.address
        started = time.monotonic()
        res = run_cli("dump", "-n", NS, "--kubeconfig", str(kc), "--timeout", str(TIMEOUT), "--out-dir",
                      str(tmp_path / "snap"))
        seconds = time.monotonic() - started
    assert res.exit_code == 3 and "1 of 2 pod(s) read" in res.stdout
    assert "timed out" in _one_line(res)
    assert seconds < TIMEOUT + SLACK + 2
    _no_credentials(*(p.read_text() for p in (tmp_path / "snap").rglob("*") if p.is_file()))
    again = run_cli("check", "--from", str(tmp_path / "snap"), "-o", "json")
    _no_credentials(again.stdout, again.stderr)
    assert again.exit_code == 3
    assert ("STK0001", f"target:pod/{NS}/{slow}") in {(f[0], f[2]) for f in findings(as_json(again.stdout))}


# --- Ctrl-C during a fleet fetch ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "dump"])
def test_ctrl_c_during_a_fleet_fetch(tmp_path: Path, command: str) -> None:
    """Five gateways, two read at a time, all stuck (two hang, three dribble): SIGINT while their
    port-forwards are open ends the run with 130 and one line, closes every port-forward (the API
    server sees each stream end), and leaves no snapshot and no partial directory."""
    gateways = [Gateway(f"gw-{i}-7d9c5b6f8-abcd{i}", HEADER if i < 2 else None, ip=f"10.244.0.{70 + i}",
                        fault="hang" if i < 2 else None) for i in range(5)]
    with lab_cluster(gateways) as lab, serving(lab, tmp_path) as (server, kc), \
            fault_server("loris-body") as loris:
        for gw in gateways[2:]:
            lab.cluster.backends[(NS, gw.pod)].admin = loris.address
        out = tmp_path / "snap"
        args = [command, "-n", NS, "--kubeconfig", str(kc), "--timeout", "60", "--concurrency", "2"]
        if command == "dump":
            args += ["--out-dir", str(out)]
        proc = interruptible_stickyctl(args, tmp_path)
        try:
            wait_for(lambda: server.open_streams() >= 2, 20, "two port-forwards")
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=10)
        finally:
            proc.kill()
        wait_for(lambda: server.open_streams() == 0, 5, "every port-forward to close")
        forwarded = [e for e in server.requests() if e.resource == "pods/portforward"]
    _no_credentials(stdout, stderr)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert stderr == "stickyctl: error: interrupted\n"
    assert stdout == ""
    assert 2 <= len(forwarded) < len(gateways)  # interrupted mid-fleet, not after it
    assert not out.exists() and not list(tmp_path.glob(".snap.partial-*"))


def test_ctrl_c_reaches_stickyctl_when_pytest_ignores_it(tmp_path: Path) -> None:
    """As under `pytest &` or nohup: SIGINT is ignored in this process. The interrupt tests' child
    gets Ctrl-C's default action back, so they test stickyctl, not how pytest was started."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with fault_server("silent") as server:
            proc = interruptible_stickyctl(["check", "--admin-url", server.url, "--timeout", "60"], tmp_path)
            try:
                wait_for(lambda: bool(server.requests), 20, "the admin request")
                proc.send_signal(signal.SIGINT)
                stdout, stderr = proc.communicate(timeout=10)
            finally:
                proc.kill()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert stderr == "stickyctl: error: interrupted\n" and stdout == ""


def test_fault_matrix_is_documented() -> None:
    """docs/security.md names every fault the matrix exercises."""
    text = (ROOT / "docs" / "security.md").read_text()
    for mode in FAULTS:
        assert f"`{mode}`" in text, mode
