"""`stickyctl probe`: the client-side view of sticky sessions.

Unit tests drive stickyctl.probe with httpx's MockTransport (an Envoy-like fake that pins by the
session header); end-to-end tests probe real labs (real Envoy, real sockets) through the CLI.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stickyctl.errors import UsageError
from stickyctl.probe import BackendFrom, ProbeError, ProbeOptions, issued_values, run_probe
from tests.conftest import ROOT
from tests.test_lab_e2e import BACKEND_FROM, lab, needs_envoy, stickyctl

HOSTS = ["10.0.0.1:5000", "10.0.0.2:5000", "10.0.0.3:5000"]


def _value(host: str) -> str:
    return base64.b64encode(host.encode()).decode()


class FakeEnvoy:
    """Header sessions as Envoy does them: honour a valid pinned host, else pick one (round robin)
    and write the header; ``moves``: hosts that are gone (their sessions get re-balanced)."""

    def __init__(self, *, header: str = "x-session-header", cookie: str | None = None, gone: set[str] | None = None):
        self.header, self.cookie, self.gone = header, cookie, gone or set()
        self.next = 0
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        asked = request.headers.get(self.header)
        if self.cookie:
            cookies = dict(
                part.strip().split("=", 1) for part in request.headers.get("cookie", "").split(";") if "=" in part
            )
            asked = cookies.get(self.cookie, "").strip('"') or None
        pinned = next((h for h in HOSTS if asked == _value(h) and h not in self.gone), None)
        headers: dict[str, str] = {}
        if pinned is None:
            live = [h for h in HOSTS if h not in self.gone]
            pinned = live[self.next % len(live)]
            self.next += 1
            if self.cookie:
                headers["set-cookie"] = f'{self.cookie}="{_value(pinned)}"; Path=/; HttpOnly'
            else:
                headers[self.header] = _value(pinned)
        return httpx.Response(200, headers=headers, text=f"Hello from {pinned}\n")


def _run(fake: Any, **kwargs: Any) -> Any:
    opts = ProbeOptions(url="http://gw.test/hello", rate=1000, **kwargs)
    return run_probe(opts, transport=httpx.MockTransport(fake)).to_json()


def test_learns_a_header_session_and_stays() -> None:
    doc = _run(FakeEnvoy(), count=5, baseline=6, expect="sticky")
    assert doc["session"] == {"kind": "header", "name": "x-session-header", "source": "detected"}
    (session,) = doc["sessions"]
    assert session["initial_backend"] == "10.0.0.1:5000" and session["pinned"] == 5 and session["repinned"] == 0
    assert doc["baseline"]["distinct"] == 3 and doc["expect"]["met"] and doc["exit_code"] == 0


def test_learns_a_cookie_session_and_sends_it_back_quoted() -> None:
    fake = FakeEnvoy(cookie="sticky")
    doc = _run(fake, count=3, baseline=0)
    assert doc["session"]["kind"] == "cookie" and doc["session"]["name"] == "sticky"
    assert doc["totals"]["pinned"] == 3
    assert fake.requests[1].headers["cookie"] == f'sticky="{_value("10.0.0.1:5000")}"'
    assert "cookie" not in fake.requests[0].headers


def test_no_cookie_jar_between_requests() -> None:
    fake = FakeEnvoy(cookie="sticky")
    doc = _run(fake, sessions=3, count=1, baseline=3)
    assert doc["totals"]["sessions"] == 3
    assert [s["initial_backend"] for s in doc["sessions"]] == HOSTS
    assert doc["baseline"]["distinct"] == 3


def test_a_re_issued_value_is_a_re_pin_and_is_adopted() -> None:
    fake = FakeEnvoy(gone={"10.0.0.1:5000"})
    doc = _run(fake, given_sessions=(_value("10.0.0.1:5000"),), header="x-session-header", count=4, baseline=0,
               expect="sticky")  # fmt: skip
    (session,) = doc["sessions"]
    assert session["repinned"] == 1 and session["pinned"] == 3
    assert session["backends"] == ["10.0.0.2:5000"] * 4 and session["value_now"] == _value("10.0.0.2:5000")
    assert doc["expect"]["met"] is False and doc["exit_code"] == 1


def test_a_session_under_another_name_is_named() -> None:
    doc = _run(FakeEnvoy(header="x-session"), header="x-session-header", count=3, baseline=4, expect="sticky")
    assert doc["sessions"] == [] and not doc["expect"]["met"]
    assert any("header x-session (10.0.0.1:5000), not header x-session-header" in n for n in doc["notes"])
    assert "STK0302" in " ".join(doc["notes"])


def test_spread_without_sessions() -> None:
    answered = itertools.count(1)

    def plain(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"x-served-by": f"pod-{next(answered) % 3}"})

    doc = _run(plain, count=3, baseline=6, expect="spread", backend_from=BackendFrom.parse("header:x-served-by"))
    assert doc["sessions"] == [] and doc["expect"]["met"] and doc["baseline"]["distinct"] == 3


def test_hash_keys_and_compare() -> None:
    def hashing(request: httpx.Request) -> httpx.Response:
        key = request.headers.get("x-user", "")
        return httpx.Response(200, text=f"instance: pod-{sum(map(ord, key)) % 3}\n")

    first = _run(hashing, hash_header="x-user", keys=("a", "b", "c", "d"), count=2, baseline=0,
                 backend_from=BackendFrom.parse(BACKEND_FROM), expect="sticky")  # fmt: skip
    assert first["totals"]["consistent_keys"] == 4 and first["expect"]["met"]
    again = _run(hashing, hash_header="x-user", count=1, baseline=0, compare=first,
                 backend_from=BackendFrom.parse(BACKEND_FROM))  # fmt: skip
    assert again["compare"] == {"compared": 4, "moved": 0, "share": 0.0}


def test_redirects_only_within_the_origin() -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/hello":
            return httpx.Response(302, headers={"location": "/there"})
        if request.url.path == "/there":
            return httpx.Response(302, headers={"location": "http://elsewhere.test/x"})
        return httpx.Response(200)

    doc = _run(redirect, count=1, baseline=1)
    assert doc["baseline"]["errors"] == 1
    assert doc["requests_sent"] == 4  # /hello and /there, twice; elsewhere.test never


def test_unreachable_target_is_exit_3() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProbeError):
        run_probe(ProbeOptions(url=f"http://127.0.0.1:{port}/hello", timeout=2))


def test_backend_from_and_url_checks() -> None:
    with pytest.raises(UsageError):
        BackendFrom.parse("body")
    with pytest.raises(UsageError):
        BackendFrom.parse("regex:(")
    response = httpx.Response(200, text="Hello version: v1, instance: helloworld-v1-abc\n", headers={"x-pod": "p1"})
    assert BackendFrom.parse(BACKEND_FROM).extract(response) == "helloworld-v1-abc"
    assert BackendFrom.parse("header:X-Pod").extract(response) == "p1"
    issued = issued_values(httpx.Response(200, headers={"x-session-header": _value("10.0.0.1:5000"), "date": "x"}))
    assert [i.upstream for i in issued if i.upstream] == ["10.0.0.1:5000"]


@pytest.mark.parametrize(
    "args",
    [
        ["ftp://example.test/"],
        ["file:///etc/passwd"],
        ["http://gw.test/", "--count", "0"],
        ["http://gw.test/", "--count", "5000"],
        ["http://gw.test/", "--rate", "0"],
        ["http://gw.test/", "--header", "a", "--cookie", "b"],
        ["http://gw.test/", "--session", "MTAuMC4wLjE6NTAwMA=="],
        ["http://gw.test/", "--expect", "maybe"],
        ["http://gw.test/", "--backend-from", "body"],
        ["http://gw.test/", "-H", "no colon"],
        ["http://gw.test/", "--sessions", "1000", "--count", "1000"],
    ],
)
def test_usage_errors_are_exit_2(args: list[str]) -> None:
    result = stickyctl("probe", *args)
    assert result.exit_code == 2, result
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("stickyctl: error:")


def test_unreachable_through_the_cli(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = stickyctl("probe", f"http://127.0.0.1:{port}/hello")
    assert result.exit_code == 3 and result.stderr.count("\n") == 1


# --- on real labs ------------------------------------------------------------------------------


@pytest.fixture
def cookie_lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with lab(tmp_path / "lab", "--mode", "cookie", "--replicas", "3") as info:
        yield info


@needs_envoy
def test_cookie_lab_is_sticky(cookie_lab: dict[str, Any]) -> None:
    url = cookie_lab["gateway_url"] + "/hello"
    result = stickyctl("probe", url, "--expect", "sticky", "--rate", "1000", "-o", "json")
    doc = result.json()
    assert result.exit_code == 0, doc["expect"]
    assert doc["session"] == {"kind": "cookie", "name": "sticky", "source": "detected"}
    pods = {p["upstream"] for p in cookie_lab["pods"]}
    assert {s["initial_backend"] for s in doc["sessions"]} <= pods
    table = stickyctl("probe", url, "--cookie", "sticky", "--count", "3", "--rate", "1000")
    assert table.exit_code == 0 and "3 pinned, 0 re-pinned" in table.stdout
    # Each session is opened without a cookie (the probe keeps no cookie jar), and so is the baseline.
    many = stickyctl("probe", url, "--sessions", "6", "--count", "2", "--baseline", "12", "--rate", "1000",
                     "-o", "json")  # fmt: skip
    doc = many.json()
    assert doc["totals"]["sessions"] == 6 and doc["totals"]["repinned"] == 0
    assert len({s["initial_backend"] for s in doc["sessions"]}) > 1 and doc["baseline"]["distinct"] > 1
    # The header the Service's label would promise is not what this route issues
    wrong = stickyctl("probe", url, "--header", "x-session-header", "--count", "3", "--expect", "sticky", "--rate",
                      "1000")  # fmt: skip
    assert wrong.exit_code == 1 and "cookie sticky" in wrong.stdout


@needs_envoy
def test_hash_header_reports_each_key(tmp_path: Path) -> None:
    with lab(tmp_path / "lab", "--mode", "consistent-hash", "--replicas", "4") as info:
        url = info["gateway_url"] + "/hello"
        result = stickyctl("probe", url, "--hash-header", "x-session-header", "--keys", "12", "--count", "3",
                           "--backend-from", BACKEND_FROM, "--expect", "sticky", "--rate", "1000",
                           "-o", "json")  # fmt: skip
        doc = result.json()
        assert result.exit_code == 0, doc["expect"]
        names = {p["name"] for p in info["pods"]}
        assert len(doc["keys"]) == 12 and all(k["consistent"] and k["backend"] in names for k in doc["keys"])
        # No session value is issued in this mode: a session probe finds none, and requests spread.
        plain = stickyctl("probe", url, "--backend-from", BACKEND_FROM, "--expect", "spread", "--rate", "1000",
                          "-o", "json")  # fmt: skip
        assert plain.exit_code == 0 and json.loads(plain.stdout)["sessions"] == []


# --- errors, sessions that cannot be told apart, progress -----------------------------------------


def _status(code: int) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, text="nope\n")

    return answer


@pytest.mark.parametrize("code", [404, 403, 429, 500, 503])
def test_every_response_an_http_error_is_counted_and_exit_1(code: int) -> None:
    """Before: a path where every answer is a 404 printed "0 errors" and exited 0."""
    doc = _run(_status(code), count=5, baseline=4)
    assert doc["requests_sent"] == doc["requests_failed"] == 1 + 4
    assert doc["baseline"]["errors"] == 4
    assert doc["exit_code"] == 1
    assert doc["notes"] == [f"every request failed (HTTP {code} ×5): no backend answered; check the URL's path and "
                            "host (-H 'Host: …' for a virtual host)"]


def test_resets_count_as_errors() -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    fake = FakeEnvoy()
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return reset(request) if calls["n"] > 1 else fake(request)

    doc = _run(flaky, count=3, baseline=2)
    assert doc["totals"]["errors"] == 3 and doc["baseline"]["errors"] == 2
    assert doc["requests_failed"] == 5 and doc["exit_code"] == 0  # one answer came: not "all failed"
    calls["n"] = 0
    assert _run(flaky, count=3, baseline=2, expect="sticky")["exit_code"] == 1


def test_some_http_errors_are_errors_not_backends() -> None:
    fake = FakeEnvoy()
    calls = {"n": 0}

    def sometimes_503(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(503, text="upstream connect error\n") if calls["n"] % 2 == 0 else fake(request)

    doc = _run(sometimes_503, count=4, baseline=0, expect="sticky")
    assert doc["totals"]["errors"] == 2 and doc["totals"]["pinned"] == 2
    assert doc["expect"]["met"] is False and "failed" in doc["expect"]["reason"]


def test_no_session_value_says_backends_cannot_be_told_apart() -> None:
    def plain(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="Hello\n")

    doc = _run(plain, count=5, baseline=5)
    assert doc["sessions"] == [] and doc["baseline"]["distinct"] == 0
    (note,) = doc["notes"]
    assert note.startswith("no session value was issued, so the backends behind the requests cannot be told apart")
    assert "--backend-from" in note
    assert doc["exit_code"] == 0  # nothing was expected; answers came


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_bar_appears_only_after_two_seconds() -> None:
    import io

    from stickyctl.cli.probe_cmd import ProgressBar
    from stickyctl.environment import Environment

    err = io.StringIO()
    clock = _Clock()
    bar = ProgressBar(Environment(stdout=io.StringIO(), stderr=err, color="always"), 100, clock=clock)
    bar.phase("session 1/2")
    for sent in range(1, 40):
        clock.now = sent * 0.05  # 1.95 s: still quick
        bar.advance(sent)
    assert not bar.shown and err.getvalue() == ""
    clock.now = 2.5
    bar.advance(50)
    assert bar.shown
    bar.close()
    assert "50/100" in err.getvalue() and "session 1/2" in err.getvalue()


@needs_envoy
def test_probe_on_a_lab_404_no_session_and_progress(tmp_path: Path) -> None:
    with lab(tmp_path / "lab", "--break", "STK0301", "--replicas", "3") as info:
        missing = stickyctl("probe", info["gateway_url"] + "/nope", "--rate", "1000")
        assert missing.exit_code == 1
        assert "requests    21 in" in missing.stdout and "all failed" in missing.stdout
        assert "every request failed (HTTP 404 ×21)" in " ".join(missing.stdout.split())
        # STK0301: no session config on the route, so no session value is issued.
        plain = stickyctl("probe", info["gateway_url"] + "/hello", "--rate", "1000")
        assert plain.exit_code == 0
        text = " ".join(plain.stdout.split())
        assert "cannot be told apart" in text and "--backend-from" in text
        told = stickyctl("probe", info["gateway_url"] + "/hello", "--rate", "1000", "--backend-from", BACKEND_FROM,
                         "-o", "json")
        assert told.json()["baseline"]["distinct"] >= 2
        # A probe of ~3 s shows a bar on a terminal's stderr (FORCE_COLOR: as on a terminal); machine
        # output never does, nor does a stderr that is no terminal.
        slow = ["probe", info["gateway_url"] + "/hello", "--rate", "20", "--count", "1", "--baseline", "60"]
        env = {**os.environ, "FORCE_COLOR": "1", "PYTHONPATH": str(ROOT)}
        shown = subprocess.run([sys.executable, "-m", "stickyctl", *slow], capture_output=True, text=True, env=env,
                               timeout=60)
        assert shown.returncode == 0 and "probe" in shown.stderr and "/62" in shown.stderr
        assert "/62" not in shown.stdout
        env["FORCE_COLOR"] = ""
        env["NO_COLOR"] = "1"
        for args in (slow, [*slow, "-o", "json"]):
            quiet = subprocess.run([sys.executable, "-m", "stickyctl", *args], capture_output=True, text=True,
                                   env=env, timeout=60)
            assert quiet.returncode == 0 and quiet.stderr == ""
        forced = subprocess.run([sys.executable, "-m", "stickyctl", *slow, "-o", "json"], capture_output=True,
                                text=True, env={**env, "FORCE_COLOR": "1", "NO_COLOR": ""}, timeout=60)
        assert forced.stderr == ""
