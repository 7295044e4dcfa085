"""`probe`'s limits: http(s) only, count and rate capped by default, no redirect to another origin
unless asked (--follow-redirects), and a hostile Location header can never crash it."""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any

import httpx
import pytest

from stickyctl import probe as pr
from stickyctl.errors import UsageError
from stickyctl.probe import ProbeError, ProbeOptions, run_probe
from tests.conftest import RunCli

HOST = "10.0.0.1:5000"
VALUE = base64.b64encode(HOST.encode()).decode()


def _sticky(request: httpx.Request) -> httpx.Response:
    headers = {} if request.headers.get("x-session-header") == VALUE else {"x-session-header": VALUE}
    return httpx.Response(200, headers=headers, text=f"Hello from {HOST}\n")


class FakeClock:
    """stickyctl.probe's clock: sleeping advances it, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


def test_defaults_cap_count_and_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    seen: list[float] = []

    def timed(request: httpx.Request) -> httpx.Response:
        seen.append(clock.now)
        return _sticky(request)

    opts = ProbeOptions(url="http://gw.test/hello")  # every default
    doc = run_probe(opts, transport=httpx.MockTransport(timed)).to_json()
    assert (opts.rate, opts.count, opts.sessions) == (pr.DEFAULT_RATE, 20, 1) and pr.DEFAULT_RATE == 50
    assert doc["requests_sent"] == len(seen) == 1 + 20 + 20  # open, follow-ups, baseline
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert min(gaps) >= 1 / pr.DEFAULT_RATE - 1e-9  # never faster than 50 requests a second
    assert pr.MAX_TOTAL == 10_000 and pr.MAX_COUNT == 1_000 and pr.MAX_RATE == 1_000


@pytest.mark.parametrize(("args", "message"), [
    (["--count", "1001"], "--count must be between 1 and 1000"),
    (["--rate", "1001"], "--rate must be above 0 and at most 1000"),
    (["--sessions", "20", "--count", "1000"], "a probe sends at most 10000"),
    (["--hash-header", "k", "--keys", "1000", "--count", "11"], "a probe sends at most 10000"),
])
def test_caps_cannot_be_exceeded(run_cli: RunCli, args: list[str], message: str) -> None:
    res = run_cli("probe", "http://gw.test/hello", *args)
    assert res.exit_code == 2 and message in res.stderr and res.stderr.count("\n") == 1


@pytest.mark.parametrize("url", ["ftp://gw.test/", "file:///etc/passwd", "ws://gw.test/", "gw.test/hello",
                                 "javascript:alert(1)", "http://gw.test:99999/", "http://[::1/"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(UsageError):
        pr.check_url(url)


def _redirecting(target: str, hits: list[str]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.path}")
        if request.url.host == "gw.test":
            return httpx.Response(302, headers={"location": target})
        return _sticky(request)

    return handler


def test_no_redirect_to_another_origin_unless_asked() -> None:
    hits: list[str] = []
    opts = ProbeOptions(url="http://gw.test/hello", rate=1000, count=2, baseline=1)
    doc = run_probe(opts, transport=httpx.MockTransport(_redirecting("https://other.test/hello", hits))).to_json()
    assert all(h.startswith("http://gw.test/") for h in hits)  # other.test never asked
    assert doc["baseline"]["errors"] == 1
    assert any("redirect to another origin not followed: https://other.test (--follow-redirects follows it)" in n
               for n in doc["notes"]) or doc["sessions"] == []

    hits.clear()
    asked = ProbeOptions(url="http://gw.test/hello", rate=1000, count=2, baseline=1, follow_redirects=True)
    doc = run_probe(asked, transport=httpx.MockTransport(_redirecting("https://other.test/hello", hits))).to_json()
    assert "https://other.test/hello" in hits
    assert doc["sessions"][0]["pinned"] == 2 and doc["baseline"]["errors"] == 0
    assert doc["requests_sent"] == len(hits)  # every hop is a request, counted against the caps


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://other.test/x", "http://other.test:99999/x",
                                      "http://[::1/x", "gopher://x/", "//:0/x", "http://"])
@pytest.mark.parametrize("follow", [False, True])
def test_a_hostile_location_is_never_followed_nor_a_crash(location: str, follow: bool) -> None:
    """Either the redirect is reported and the probe goes on, or (a Location httpx itself refuses)
    the target cannot be probed: ProbeError, exit 3, one line. Never another host, never a crash."""
    hits: list[str] = []
    opts = ProbeOptions(url="http://gw.test/hello", rate=1000, count=1, baseline=1, follow_redirects=follow)
    try:
        doc = run_probe(opts, transport=httpx.MockTransport(_redirecting(location, hits))).to_json()
    except ProbeError as exc:
        assert "\n" not in str(exc) and ("location" in str(exc).lower() or "redirect" in str(exc)), exc
    else:
        assert doc["baseline"]["errors"] == 1
    assert hits and all(h.startswith("http://gw.test/") for h in hits)


def test_redirect_loops_end() -> None:
    hits: list[str] = []
    opts = ProbeOptions(url="http://gw.test/hello", rate=1000, count=1, baseline=1)
    with pytest.raises(ProbeError, match="more than 5 redirects"):
        run_probe(opts, transport=httpx.MockTransport(_redirecting("/hello", hits)))
    assert len(hits) == pr.MAX_REDIRECTS + 1


def test_userinfo_is_never_shown(run_cli: RunCli) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run_cli("probe", f"http://ci:hunter22@127.0.0.1:{port}/hello", "--count", "1", "--baseline", "0")
    assert res.exit_code == 3 and "hunter22" not in res.stdout + res.stderr and "***@127.0.0.1" in res.stderr
    opts = ProbeOptions(url="http://ci:hunter22@gw.test/hello", rate=1000, count=1, baseline=0)
    doc = run_probe(opts, transport=httpx.MockTransport(_sticky)).to_json()
    assert doc["url"] == "http://***@gw.test/hello"
