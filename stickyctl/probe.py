"""Probe sticky sessions from the client side: real requests to a gateway, counted.

A session is what a client holds: the value Envoy issued (header or ``Set-Cookie``) under the name
the client knows. The probe opens sessions the way a client does (a first request without one),
sends follow-ups carrying them, and tells per request which backend answered: the host a value
Envoy *re-issues* decodes to (Envoy writes a new value only when it picked another host than the
one asked for), else the pinned host; or, with ``--backend-from``, what the response itself says.
A baseline of requests without a session shows the spread. For consistent hashing (no session
value is issued) ``--hash-header`` sends its own keys and records the backend each key reaches.

Bounded on purpose: at most :data:`MAX_TOTAL` requests, at most ``rate`` per second (one at a
time), a timeout on each, http/https only, redirects followed only to the same origin. httpx is
imported only when a probe runs.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from stickyctl.envoy.session_values import (
    Rejected,
    SessionValue,
    ValueOrigin,
    decode_cookie_value,
    decode_header_value,
)
from stickyctl.errors import StickyError, UsageError
from stickyctl.sanitize import redact_url
from stickyctl.urls import UrlError, parse_http_url

if TYPE_CHECKING:
    import httpx

SCHEMA_VERSION = 1
MAX_TOTAL = 10_000
MAX_COUNT = 1_000
MAX_RATE = 1_000.0
DEFAULT_RATE = 50.0
DEFAULT_TIMEOUT = 5.0
MAX_REDIRECTS = 5
Kind = Literal["header", "cookie"]
Expectation = Literal["sticky", "spread"]


class ProbeError(StickyError):
    """The target could not be probed at all (exit 3)."""


# --- what identifies a backend ---------------------------------------------------------------


@dataclass(frozen=True)
class BackendFrom:
    """``header:NAME`` (a response header) or ``regex:PATTERN`` (group 1, else the match, on the body)."""

    spec: str
    header: str | None = None
    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, spec: str) -> BackendFrom:
        kind, sep, rest = spec.partition(":")
        if sep and kind == "header" and rest.strip():
            return cls(spec, header=rest.strip())
        if sep and kind == "regex" and rest:
            try:
                return cls(spec, pattern=re.compile(rest))
            except re.error as exc:
                raise UsageError(f"--backend-from {spec!r}: not a regular expression ({exc})") from None
        raise UsageError(f"--backend-from {spec!r}: expected header:NAME or regex:PATTERN")

    def extract(self, response: httpx.Response) -> str | None:
        if self.header is not None:
            value = response.headers.get(self.header)
            return value.strip() if value else None
        assert self.pattern is not None
        match = self.pattern.search(response.text[:65536])
        if match is None:
            return None
        return match.group(1) if match.groups() else match.group(0)


# --- session values on a response ------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A session value a response carries: header ``name: wire`` or ``Set-Cookie: name=wire``."""

    kind: Kind
    name: str
    wire: str
    """As sent back by a client (a cookie keeps its quotes)."""
    decoded: SessionValue | Rejected

    @property
    def upstream(self) -> str | None:
        return self.decoded.upstream if isinstance(self.decoded, SessionValue) else None

    def label(self) -> str:
        return f"{self.kind} {self.name}"

    def matches(self, kind: Kind, name: str) -> bool:
        if kind != self.kind:
            return False
        return self.name.lower() == name.lower() if kind == "header" else self.name == name


def issued_values(response: httpx.Response) -> list[Issued]:
    """Every header and Set-Cookie of a response, decoded as Envoy 1.40 would read the value."""
    out: list[Issued] = []
    for name, value in response.headers.multi_items():
        lowered = name.lower()
        if lowered == "set-cookie":
            pair = value.split(";", 1)[0]
            cookie, sep, wire = pair.partition("=")
            if not sep:
                continue
            cookie, wire = cookie.strip(), wire.strip()
            out.append(Issued("cookie", cookie, wire, decode_cookie_value(wire, ValueOrigin("set-cookie", cookie))))
        else:
            out.append(Issued("header", lowered, value, decode_header_value(value, ValueOrigin("header", lowered))))
    return out


def session_like(issued: Sequence[Issued]) -> list[Issued]:
    return [i for i in issued if isinstance(i.decoded, SessionValue)]


# --- options and results ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeOptions:
    url: str
    header: str | None = None
    cookie: str | None = None
    given_sessions: tuple[str, ...] = ()
    sessions: int = 1
    count: int = 20
    baseline: int = 20
    backend_from: BackendFrom | None = None
    hash_header: str | None = None
    keys: tuple[str, ...] = ()
    compare: Mapping[str, Any] | None = None
    compare_path: str | None = None
    expect: Expectation | None = None
    rate: float = DEFAULT_RATE
    timeout: float = DEFAULT_TIMEOUT
    request_headers: tuple[tuple[str, str], ...] = ()
    follow_redirects: bool = False
    """Follow redirects to other origins too (http/https only, at most MAX_REDIRECTS, each request
    counted and paced); without it only same-origin redirects are followed."""

    @property
    def named(self) -> tuple[Kind, str] | None:
        if self.header:
            return "header", self.header
        if self.cookie:
            return "cookie", self.cookie
        return None


@dataclass
class Hit:
    """One request: its status (or error), the backend it reached, and how that is known."""

    status: int | None
    backend: str | None
    basis: str
    """reissued (a new session value) | pinned (no new value: the pinned host) | backend-from | issued | unknown"""
    error: str | None = None
    reissued: bool = False

    @property
    def ok(self) -> bool:
        # A 4xx is no answer from a backend either: a wrong path or Host (404), a rate limit (429).
        return self.error is None and self.status is not None and self.status < 400

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "backend": self.backend, "basis": self.basis}
        if self.error:
            out["error"] = self.error
        if self.reissued:
            out["reissued"] = True
        return out


@dataclass
class Session:
    value: str
    """The value as first held (sent as is)."""
    source: str
    """learned | given | compare"""
    initial_backend: str | None
    previous_backend: str | None = None
    """From a compared earlier probe."""
    current: str = ""
    hits: list[Hit] = field(default_factory=list)
    pinned: int = 0
    repinned: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for h in self.hits if not h.ok)

    @property
    def backend(self) -> str | None:
        for hit in reversed(self.hits):
            if hit.backend:
                return hit.backend
        return self.initial_backend

    @property
    def first_backend(self) -> str | None:
        for hit in self.hits:
            if hit.ok and hit.backend:
                return hit.backend
        return None

    def distinct(self) -> set[str]:
        return {h.backend for h in self.hits if h.ok and h.backend}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "source": self.source,
            "initial_backend": self.initial_backend,
            "backend": self.backend,
            "value_now": self.current,
            "requests": len(self.hits),
            "pinned": self.pinned,
            "repinned": self.repinned,
            "errors": self.errors,
            "backends": [h.backend for h in self.hits],
            "statuses": [h.status for h in self.hits],
        }
        if self.previous_backend is not None:
            out["previous_backend"] = self.previous_backend
            out["moved"] = self.moved
        return out

    @property
    def moved(self) -> bool | None:
        first = self.first_backend
        if self.previous_backend is None or first is None:
            return None
        return first != self.previous_backend


@dataclass
class KeyResult:
    key: str
    hits: list[Hit] = field(default_factory=list)
    previous_backend: str | None = None

    @property
    def backend(self) -> str | None:
        for hit in self.hits:
            if hit.ok and hit.backend:
                return hit.backend
        return None

    @property
    def consistent(self) -> bool:
        return len({h.backend for h in self.hits if h.ok}) <= 1 and all(h.ok for h in self.hits)

    @property
    def moved(self) -> bool | None:
        if self.previous_backend is None or self.backend is None:
            return None
        return self.backend != self.previous_backend

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "backend": self.backend,
            "consistent": self.consistent,
            "requests": len(self.hits),
            "errors": sum(1 for h in self.hits if not h.ok),
            "backends": [h.backend for h in self.hits],
        }
        if self.previous_backend is not None:
            out["previous_backend"] = self.previous_backend
            out["moved"] = self.moved
        return out


@dataclass
class ProbeReport:
    url: str
    mode: Literal["session", "hash"]
    kind: Kind | None = None
    name: str | None = None
    name_source: str | None = None
    """given (--header/--cookie) | detected | compare"""
    hash_header: str | None = None
    backend_from: str | None = None
    sessions: list[Session] = field(default_factory=list)
    keys: list[KeyResult] = field(default_factory=list)
    baseline: list[Hit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    expect: Expectation | None = None
    met: bool | None = None
    reason: str = ""
    requests: int = 0
    failed: int = 0
    """Requests that got no answer, or an HTTP error status (4xx/5xx), whatever they were for."""
    statuses: Counter[str] = field(default_factory=Counter)
    """How the failed requests failed: ``HTTP 404``, ``timed out after 5s``, ``reset`` …"""
    seconds: float = 0.0

    @property
    def all_failed(self) -> bool:
        return self.requests > 0 and self.failed == self.requests

    # -- totals --------------------------------------------------------------------------------

    def baseline_spread(self) -> dict[str, int]:
        return dict(Counter(h.backend or "unknown" for h in self.baseline if h.ok).most_common())

    def compared(self) -> tuple[int, int] | None:
        items: Sequence[Session | KeyResult] = self.sessions if self.mode == "session" else self.keys
        flags = [i.moved for i in items if i.moved is not None]
        if not any(i.previous_backend is not None for i in items):
            return None
        return len(flags), sum(1 for f in flags if f)

    def totals(self) -> dict[str, Any]:
        if self.mode == "session":
            follow = [h for s in self.sessions for h in s.hits]
            return {
                "sessions": len(self.sessions),
                "requests": len(follow),
                "pinned": sum(s.pinned for s in self.sessions),
                "repinned": sum(s.repinned for s in self.sessions),
                "errors": sum(1 for h in follow if not h.ok),
                "backends": len({h.backend for h in follow if h.ok and h.backend}),
            }
        hits = [h for k in self.keys for h in k.hits]
        spread = Counter(k.backend or "unknown" for k in self.keys)
        return {
            "keys": len(self.keys),
            "requests": len(hits),
            "consistent_keys": sum(1 for k in self.keys if k.consistent),
            "errors": sum(1 for h in hits if not h.ok),
            "backends": len([b for b in spread if b != "unknown"]),
            "keys_per_backend": dict(spread.most_common()),
        }

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "url": redact_url(self.url),
            "mode": self.mode,
            "session": {"kind": self.kind, "name": self.name, "source": self.name_source} if self.name else None,
            "hash_header": self.hash_header,
            "backend_from": self.backend_from,
            "totals": self.totals(),
            "sessions": [s.to_json() for s in self.sessions],
            "keys": [k.to_json() for k in self.keys],
            "baseline": {
                "requests": len(self.baseline),
                "errors": sum(1 for h in self.baseline if not h.ok),
                "backends": self.baseline_spread(),
                "distinct": len([b for b in self.baseline_spread() if b != "unknown"]),
            },
            "notes": list(self.notes),
            "requests_sent": self.requests,
            "requests_failed": self.failed,
            "seconds": round(self.seconds, 3),
        }
        compared = self.compared()
        doc["compare"] = None
        if compared:
            share = round(compared[1] / compared[0], 4) if compared[0] else None
            doc["compare"] = {"compared": compared[0], "moved": compared[1], "share": share}
        doc["expect"] = {"expectation": self.expect, "met": self.met, "reason": self.reason} if self.expect else None
        # Nothing answered: whatever was expected (or not), the probe could not show anything.
        doc["exit_code"] = 1 if (self.expect and not self.met) or self.all_failed else 0
        return doc


# --- the client ------------------------------------------------------------------------------


def check_url(url: str) -> urllib.parse.SplitResult:
    """``url`` split, or a usage error (stickyctl.urls: http/https only, a host, a valid port, no
    spaces or control characters). No scheme is assumed: a probe sends real requests."""
    try:
        return parse_http_url(url, add_scheme=False, purpose=" can be probed").parts
    except UrlError as exc:
        raise UsageError(f"{redact_url(url)!r}: {exc}") from None


def _origin(parts: urllib.parse.SplitResult) -> tuple[str, str, int | None] | None:
    """(scheme, host, port), or None for a URL that has none (e.g. a redirect to port 99999)."""
    try:
        default = 443 if parts.scheme == "https" else 80
        return parts.scheme, (parts.hostname or "").lower(), parts.port or default
    except ValueError:
        return None


class Client:
    """Sequential GETs to one origin, at most ``rate`` per second, each within ``timeout``."""

    def __init__(self, opts: ProbeOptions, transport: httpx.BaseTransport | None = None,
                 on_request: Callable[[int], None] | None = None) -> None:
        try:
            import httpx
        except ImportError:  # pragma: no cover - httpx comes with the live/test extras
            raise ProbeError("probe needs httpx: pip install httpx (a dependency of stickyctl)") from None
        self._httpx = httpx
        self.opts = opts
        self.origin = _origin(check_url(opts.url))
        self.interval = 1.0 / opts.rate
        self._next = 0.0
        self.sent = 0
        self.failed = 0
        self.failures: Counter[str] = Counter()
        self.on_request = on_request or (lambda _sent: None)
        self._client = httpx.Client(
            timeout=opts.timeout, follow_redirects=False, transport=transport, trust_env=False,
            headers={"user-agent": "stickyctl-probe"},
        )  # fmt: skip

    def close(self) -> None:
        self._client.close()

    def _pace(self) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval

    def get(self, headers: Mapping[str, str]) -> tuple[httpx.Response | None, str | None]:
        """One logical request (same-origin redirects followed); (response, None) or (None, error).
        Failures (no answer, an HTTP error status) are counted, whatever the request was for."""
        response, error = self._get(headers)
        if response is None or error or response.status_code >= 400:
            self.failed += 1
            self.failures[f"HTTP {response.status_code}" if response is not None and response.status_code >= 400
                          else (error or "no answer")] += 1
        self.on_request(self.sent)
        return response, error

    def _get(self, headers: Mapping[str, str]) -> tuple[httpx.Response | None, str | None]:
        httpx = self._httpx
        url = self.opts.url
        merged = {**dict(self.opts.request_headers), **headers}
        for _ in range(MAX_REDIRECTS + 1):
            if self.sent >= MAX_TOTAL:
                return None, f"request limit ({MAX_TOTAL}) reached"
            self._pace()
            self.sent += 1
            # No cookie jar: a session is sent only where the probe means to (Cookie header below).
            self._client.cookies.clear()
            try:
                response = self._client.get(url, headers=merged)
            except httpx.TimeoutException:
                return None, f"timed out after {self.opts.timeout:g}s"
            except httpx.HTTPError as exc:
                return None, (str(exc) or type(exc).__name__).splitlines()[0]
            if response.is_redirect and "location" in response.headers:
                try:
                    target = urllib.parse.urljoin(url, response.headers["location"])
                    parts = urllib.parse.urlsplit(target)
                except ValueError:
                    return response, "redirect to a URL that does not parse: not followed"
                origin = _origin(parts)
                if parts.scheme not in ("http", "https") or origin is None or not parts.hostname:
                    return response, f"redirect to {redact_url(target)!r} not followed: not an http(s) URL"
                if origin != self.origin and not self.opts.follow_redirects:
                    shown = redact_url(f"{parts.scheme}://{parts.netloc}")
                    return response, (f"redirect to another origin not followed: {shown} (--follow-redirects "
                                      "follows it)")
                url = target
                continue
            return response, None
        return None, f"more than {MAX_REDIRECTS} redirects"


# --- the probe -------------------------------------------------------------------------------


def _short(value: str, limit: int = 24) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _send_headers(kind: Kind, name: str, value: str) -> dict[str, str]:
    return {name: value} if kind == "header" else {"cookie": f"{name}={value}"}


class Probe:
    def __init__(self, opts: ProbeOptions, client: Client, progress: Callable[[str], None] | None = None) -> None:
        self.opts = opts
        self.client = client
        self.progress = progress or (lambda _m: None)
        self.report = ProbeReport(
            url=opts.url,
            mode="hash" if opts.hash_header else "session",
            hash_header=opts.hash_header,
            backend_from=opts.backend_from.spec if opts.backend_from else None,
        )

    def _backend_from(self, response: httpx.Response | None) -> str | None:
        if response is None or self.opts.backend_from is None:
            return None
        return self.opts.backend_from.extract(response)

    def run(self) -> ProbeReport:
        started = time.monotonic()
        try:
            if self.opts.hash_header:
                self._run_hash(self.opts.hash_header)
            else:
                self._run_sessions()
                self._run_baseline()
        finally:
            self.report.requests = self.client.sent
            self.report.failed = self.client.failed
            self.report.statuses = self.client.failures
            self.report.seconds = time.monotonic() - started
        self._explain()
        self._evaluate()
        return self.report

    def _explain(self) -> None:
        """Notes that say why the counts look the way they do, and what to do about it."""
        r = self.report
        if r.all_failed:
            r.notes = [n for n in r.notes if not n.startswith("opening session")]  # said once, below
            how = ", ".join(f"{what} ×{n}" for what, n in r.statuses.most_common())
            self._note(f"every request failed ({how}): no backend answered; check the URL's path and host "
                       "(-H 'Host: …' for a virtual host)")
            return
        if r.mode == "session" and not r.sessions and r.backend_from is None:
            r.notes = [n for n in r.notes if not n.startswith("no session value on the response")]
            self._note("no session value was issued, so the backends behind the requests cannot be told apart: "
                       "pass --backend-from header:NAME or regex:PATTERN (what identifies a backend in the "
                       "response), or check that the route has a session config (stickyctl check)")

    # -- sessions ------------------------------------------------------------------------------

    def _learn_name(self, issued: Sequence[Issued]) -> Issued | None:
        """The session value on a first response, under the name given or detected."""
        r = self.report
        candidates = session_like(issued)
        if r.kind is not None and r.name is not None:
            mine = [i for i in issued if i.matches(r.kind, r.name)]
            if mine and isinstance(mine[0].decoded, SessionValue):
                return mine[0]
            if mine:
                assert isinstance(mine[0].decoded, Rejected)
                self._note(f"{mine[0].label()}: {mine[0].decoded.reason}")
            others = [i for i in candidates if not i.matches(r.kind, r.name)]
            if others:
                shown = "; ".join(f"{i.label()} ({i.upstream})" for i in others)
                self._note(
                    f"the response carries a session value under {shown}, not {r.kind} {r.name}: the route's "
                    "session config names another header/cookie than the client uses (STK0302/STK0303)"
                )
            elif not mine:
                self._note(f"the response carries no {r.kind} {r.name}")
            return None
        if not candidates:
            return None
        chosen = candidates[0]
        r.kind, r.name, r.name_source = chosen.kind, chosen.name, "detected"
        if len(candidates) > 1:
            also = ", ".join(i.label() for i in candidates[1:])
            self._note(f"several session values on the response; following {chosen.label()} (also: {also})")
        return chosen

    def _note(self, message: str) -> None:
        if message not in self.report.notes:
            self.report.notes.append(message)

    def _run_sessions(self) -> None:
        r, opts = self.report, self.opts
        given: list[tuple[str, str, str | None]] = []  # (value, source, previous backend)
        if opts.named:
            r.kind, r.name = opts.named
            r.name_source = "given"
        if opts.compare is not None:
            cmp_session = opts.compare.get("session") or {}
            if r.name is None and cmp_session.get("name"):
                r.kind, r.name, r.name_source = cmp_session.get("kind"), cmp_session["name"], "compare"
            for s in opts.compare.get("sessions") or []:
                value = s.get("value_now") or s.get("value")
                if value:
                    given.append((str(value), "compare", s.get("backend")))
        given += [(v, "given", None) for v in opts.given_sessions]
        if given:
            if r.kind is None or r.name is None:
                raise UsageError("--session needs --header NAME or --cookie NAME (how to send it)")
            for value, source, previous in given:
                decoded = (decode_header_value if r.kind == "header" else decode_cookie_value)(value)
                initial = decoded.upstream if isinstance(decoded, SessionValue) else None
                if initial is None:
                    assert isinstance(decoded, Rejected)
                    self._note(f"session value {_short(value)}: {decoded.reason}")
                r.sessions.append(Session(value, source, initial, previous_backend=previous, current=value))
        else:
            for index in range(opts.sessions):
                response, error = self.client.get({})
                if response is None:
                    if index == 0:
                        raise ProbeError(f"{redact_url(opts.url)}: {error}")
                    self._note(f"opening session {index + 1}: {error}")
                    continue
                if error:
                    self._note(f"opening session {index + 1}: {error}")
                if response.status_code >= 400:
                    self._note(f"opening session {index + 1}: HTTP {response.status_code}")
                    continue
                chosen = self._learn_name(issued_values(response))
                if chosen is None:
                    if index == 0 and r.name is None:
                        self._note(
                            f"no session value on the response (HTTP {response.status_code}; no header or "
                            "Set-Cookie decodes to a host)"
                        )
                    continue
                backend = self._backend_from(response) if opts.backend_from else chosen.upstream
                r.sessions.append(Session(chosen.wire, "learned", backend, current=chosen.wire))
        if not r.sessions:
            return
        for number, session in enumerate(r.sessions, 1):
            self.progress(f"session {number}/{len(r.sessions)}")
            self._follow(session)

    def _follow(self, session: Session) -> None:
        r, opts = self.report, self.opts
        assert r.kind is not None and r.name is not None
        pinned = session.initial_backend
        for _ in range(opts.count):
            response, error = self.client.get(_send_headers(r.kind, r.name, session.current))
            if response is None or error:
                session.hits.append(Hit(response.status_code if response else None, None, "unknown", error))
                continue
            mine = [i for i in issued_values(response) if i.matches(r.kind, r.name)]
            new = mine[0] if mine and isinstance(mine[0].decoded, SessionValue) else None
            if opts.backend_from is not None:
                backend, basis = self._backend_from(response), "backend-from"
            elif new is not None:
                backend, basis = new.upstream, "reissued"
            else:
                decoded = (decode_header_value if r.kind == "header" else decode_cookie_value)(session.current)
                backend = decoded.upstream if isinstance(decoded, SessionValue) else None
                basis = "pinned"
            hit = Hit(response.status_code, backend, basis, reissued=new is not None)
            if not hit.ok:
                hit.error = f"HTTP {response.status_code}"
                hit.backend = None
            session.hits.append(hit)
            if new is not None:
                session.current = new.wire
            if not hit.ok or hit.backend is None:
                continue
            if pinned is None:
                pinned = hit.backend
                session.pinned += 1
            elif hit.backend == pinned:
                session.pinned += 1
            else:
                session.repinned += 1
                pinned = hit.backend

    def _run_baseline(self) -> None:
        r, opts = self.report, self.opts
        for _ in range(opts.baseline):
            response, error = self.client.get({})
            if response is None or error:
                r.baseline.append(Hit(response.status_code if response else None, None, "unknown", error))
                continue
            if opts.backend_from is not None:
                backend, basis = self._backend_from(response), "backend-from"
            else:
                issued = session_like(issued_values(response))
                if r.name is not None and r.kind is not None:
                    issued = [i for i in issued if i.matches(r.kind, r.name)] or issued
                backend, basis = (issued[0].upstream, "issued") if issued else (None, "unknown")
            hit = Hit(response.status_code, backend, basis)
            if not hit.ok:
                hit.error, hit.backend = f"HTTP {response.status_code}", None
            r.baseline.append(hit)

    # -- consistent hashing --------------------------------------------------------------------

    def _run_hash(self, header: str) -> None:
        r, opts = self.report, self.opts
        previous: dict[str, str | None] = {}
        keys = list(opts.keys)
        if opts.compare is not None:
            for k in opts.compare.get("keys") or []:
                if k.get("key") is not None:
                    previous[str(k["key"])] = k.get("backend")
            keys = list(previous) or keys
        for index, key in enumerate(keys):
            result = KeyResult(key, previous_backend=previous.get(key))
            self.progress(f"key {index + 1}/{len(keys)}")
            for _ in range(opts.count):
                response, error = self.client.get({header: key})
                if response is None and index == 0 and not result.hits:
                    raise ProbeError(f"{redact_url(opts.url)}: {error}")
                if response is None or error:
                    result.hits.append(Hit(response.status_code if response else None, None, "unknown", error))
                    continue
                if opts.backend_from is not None:
                    backend, basis = self._backend_from(response), "backend-from"
                else:
                    issued = session_like(issued_values(response))
                    backend, basis = (issued[0].upstream, "issued") if issued else (None, "unknown")
                hit = Hit(response.status_code, backend, basis)
                if not hit.ok:
                    hit.error, hit.backend = f"HTTP {response.status_code}", None
                result.hits.append(hit)
            r.keys.append(result)
        if r.keys and all(k.backend is None for k in r.keys):
            self._note("no backend could be told for any key: pass --backend-from header:NAME or regex:PATTERN")
        self._run_baseline()

    # -- verdict -------------------------------------------------------------------------------

    def _evaluate(self) -> None:
        r = self.report
        r.expect = self.opts.expect
        if r.expect is None:
            return
        r.met, r.reason = self._sticky() if r.expect == "sticky" else self._spread()

    def _sticky(self) -> tuple[bool, str]:
        r = self.report
        if r.mode == "hash":
            if not r.keys:
                return False, "no keys were probed"
            bad = [k for k in r.keys if not k.consistent or k.backend is None]
            if bad:
                return False, f"{len(bad)} of {len(r.keys)} keys did not stay on one backend (or failed)"
            return True, f"each of {len(r.keys)} keys stayed on one backend"
        name = f"{r.kind} {r.name}" if r.name else "any header or cookie"
        if not r.sessions:
            return False, f"no session value was issued under {name}"
        t = r.totals()
        if t["errors"]:
            return False, f"{t['errors']} of {t['requests']} requests carrying a session failed"
        if t["repinned"]:
            return False, f"{t['repinned']} of {t['requests']} requests carrying a session were re-pinned"
        unknown = [s for s in r.sessions if s.initial_backend is None and not s.distinct()]
        if unknown:
            return False, "the backend behind a session could not be told"
        moved = [s for s in r.sessions if s.moved]
        if moved:
            return False, f"{len(moved)} of {len(r.sessions)} sessions now reach another backend than before"
        sessions = f"{t['sessions']} session" + ("s" if t["sessions"] != 1 else "")
        return True, f"{t['requests']} requests over {sessions} all stayed pinned"

    def _spread(self) -> tuple[bool, str]:
        r = self.report
        if r.mode == "hash":
            spread = [k for k in r.keys if len({h.backend for h in k.hits if h.ok and h.backend}) > 1]
            if spread:
                return True, f"{len(spread)} of {len(r.keys)} keys reached more than one backend"
            return False, "every key stayed on one backend"
        if r.sessions:
            spread_sessions = [s for s in r.sessions if len(s.distinct()) > 1]
            if spread_sessions:
                return True, f"{len(spread_sessions)} of {len(r.sessions)} sessions reached more than one backend"
            return False, "every session stayed on one backend"
        backends = [b for b in r.baseline_spread() if b != "unknown"]
        if len(backends) > 1:
            return True, f"no session value was issued; requests reached {len(backends)} backends"
        if not backends:
            return False, "no session value and no way to tell backends apart: pass --backend-from"
        return False, "every request reached the same backend"


def run_probe(
    opts: ProbeOptions,
    *,
    transport: httpx.BaseTransport | None = None,
    progress: Callable[[str], None] | None = None,
    on_request: Callable[[int], None] | None = None,
) -> ProbeReport:
    """``progress``: told each phase (``session 2/5``); ``on_request``: told the count after each request."""
    check_url(opts.url)
    client = Client(opts, transport=transport, on_request=on_request)
    try:
        return Probe(opts, client, progress).run()
    finally:
        client.close()
