"""Follow one request through a proxy's config as Envoy would, and say whether its session sticks.

The walk: listener → filter chain → HTTP connection manager → route configuration → virtual host →
route → the effective stateful_session config (most specific wins, as ``envoy.sessions.
effective_session`` resolves it) → the session value, decoded as strictly as Envoy
(``envoy.session_values``) → the cluster (or each weighted cluster) → whether the pinned address is
a host of that cluster with a status in ``override_host_status`` → the verdict:

- ``sticks``: Envoy sends the request to the pinned host;
- ``rebalanced``: the load balancer picks a host (and the response carries a new session value when
  a session config applies); for a weighted route, on at least some requests;
- ``unavailable``: Envoy answers 503 (strict session and an unusable pinned host, a cluster missing
  from CDS or without hosts);
- ``no_route``: no listener, filter chain, virtual host or route takes the request (404, or a
  refused connection), or the route answers itself (redirect, direct response).

Pure: no I/O. Raises :class:`CannotCheck` when the outcome hinges on something the input does not
show (an RE2 construct Python cannot mirror, scoped routes, a dump without endpoints …).
"""

from __future__ import annotations

import posixpath
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from stickyctl.envoy.cookie_path import cookie_path_matches
from stickyctl.envoy.enums import ConfigLevel, HostStatus, RouteKind, SessionMode
from stickyctl.envoy.model import (
    Cluster,
    Destination,
    HttpConnectionManager,
    Proxy,
    RequestRewrite,
    Route,
    RouteConfig,
    SessionConfig,
    SessionState,
    VirtualHost,
)
from stickyctl.envoy.session_values import (
    DecodedValue,
    Rejected,
    SessionValue,
    ValueOrigin,
    decode_cookie_value,
    decode_header_value,
    decode_session_value,
)
from stickyctl.envoy.sessions import OverrideHostStatus, effective_session
from stickyctl.errors import StickyError
from stickyctl.exitcodes import ExitStatus
from stickyctl.why import hosts as hs
from stickyctl.why import matchers as mt
from stickyctl.why import routing
from stickyctl.why.request import Request

Verdict = Literal["sticks", "rebalanced", "unavailable", "no_route"]
SCHEMA_VERSION = 1


class CannotCheck(StickyError):
    """The outcome depends on something stickyctl cannot evaluate from this input (exit 3)."""

    exit_status = ExitStatus.UNCHECKED


@dataclass(frozen=True)
class Step:
    """One line of the trace: what was looked at, which one Envoy uses, and why."""

    kind: str
    name: str
    detail: str = ""


@dataclass(frozen=True)
class NewValue:
    """The session value a response carries when Envoy picked another host than the one asked for."""

    mode: SessionMode
    name: str
    path: str | None = None
    ttl_seconds: float | None = None

    def text(self) -> str:
        if self.mode == SessionMode.COOKIE:
            attrs = [f"Path={self.path or '/'}"]
            if self.ttl_seconds:
                attrs.append(f"Max-Age={int(self.ttl_seconds)}")
            return f"Set-Cookie {self.name} ({'; '.join(attrs)})"
        return f"header {self.name}"


@dataclass(frozen=True)
class Outcome:
    """What happens when Envoy picks one destination cluster of the route."""

    cluster: str
    share: float
    """The fraction of requests that pick this cluster (1.0 unless the route is weighted)."""
    verdict: Verdict
    reason: str
    status: int | None
    upstream: str | None = None
    host: hs.HostState | None = None
    new_value: NewValue | None = None
    session: SessionConfig | None = None


@dataclass
class Explanation:
    verdict: Verdict
    reason: str
    status: int | None
    """The status Envoy answers with (None: the connection is refused or closed)."""
    trace: list[Step]
    request: Request
    upstream: str | None = None
    workload: str | None = None
    listener: str | None = None
    filter_chain: str | None = None
    route_config: str | None = None
    virtual_host: str | None = None
    route: str | None = None
    clusters: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    session: SessionConfig | None = None
    value: DecodedValue | None = None
    value_given: bool = False
    """The request carries a session value (under the configured name or another)."""
    new_value: NewValue | None = None
    caveats: list[str] = field(default_factory=list)
    host_source: str | None = None

    @property
    def headline(self) -> str:
        if self.verdict == "sticks":
            who = f"{self.upstream} ({self.workload})" if self.workload else str(self.upstream)
            return f"sticks to {who}"
        if self.verdict == "rebalanced":
            return "re-balanced" if self.value_given else "load-balanced (no session value)"
        if self.verdict == "unavailable":
            return f"{self.status or 503}: unavailable"
        return f"{self.status}: no route" if self.status else "no route"


class _Stop(Exception):
    """A step ends the walk with this verdict."""

    def __init__(self, verdict: Verdict, reason: str, status: int | None) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason
        self.status = status


# --- request rewriting by the HTTP connection manager ------------------------------------------

_UNRESERVED = re.compile(r"%(2[DdEe]|5[Ff]|7[Ee]|3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa])")


def _normalize_path(path: str, rewrite: RequestRewrite) -> str:
    """``normalize_path`` (RFC 3986 dot segments, unreserved characters decoded) and ``merge_slashes``."""
    if not rewrite.normalize_path and not rewrite.merge_slashes:
        return path
    p, sep, query = path.partition("?")
    if rewrite.normalize_path:
        p = _UNRESERVED.sub(lambda m: urllib.parse.unquote(m.group(0)), p)
        trailing = p.endswith("/") or p.endswith("/.") or p.endswith("/..")
        p = posixpath.normpath("/" + p.lstrip("/")) if p else "/"
        if p.startswith("//"):
            p = "/" + p.lstrip("/")
        if trailing and not p.endswith("/"):
            p += "/"
    if rewrite.merge_slashes:
        p = re.sub(r"/{2,}", "/", p)
    return p + sep + query


def _rewrite_authority(authority: str, rewrite: RequestRewrite, listener_port: int) -> str:
    start = routing.port_start(authority)
    if start is None:
        return authority
    port = authority[start + 1:]
    if rewrite.strip_any_host_port or (rewrite.strip_matching_host_port and port == str(listener_port)):
        return authority[:start]
    return authority


# --- the walk ----------------------------------------------------------------------------------


class _Walk:
    def __init__(self, proxy: Proxy, request: Request, host_index: hs.HostIndex | None, listener: str | None,
                 now: float) -> None:
        self.proxy = proxy
        self.request = request
        self.host_index = host_index
        self.listener_name = listener
        self.now = now
        self.x = Explanation("no_route", "", None, [], request)

    def step(self, kind: str, name: str, detail: str = "") -> None:
        self.x.trace.append(Step(kind, name, detail))

    def run(self) -> Explanation:
        try:
            self._walk()
        except _Stop as stop:
            self.x.verdict, self.x.reason, self.x.status = stop.verdict, stop.reason, stop.status
        except mt.CannotEvaluate as exc:
            raise CannotCheck(f"cannot tell where Envoy routes this request: {exc}") from None
        return self.x

    def _walk(self) -> None:
        x, request = self.x, self.request
        try:
            lc = routing.pick_listener(self.proxy, request, self.listener_name)
        except routing.NotFound as exc:
            raise _Stop("no_route", str(exc), None) from None
        x.listener = lc.listener.name
        self.step("listener", lc.listener.name, lc.note)
        try:
            cc = routing.pick_filter_chain(lc.listener, request, lc.port)
        except routing.NotFound as exc:
            raise _Stop("no_route", str(exc), None) from None
        x.filter_chain = cc.chain.id
        hcm = cc.chain.hcm
        if hcm is None:
            self.step("filter chain", cc.chain.id, cc.note + "; no HTTP connection manager")
            raise _Stop("no_route", f"filter chain {cc.chain.id} of listener {lc.listener.name} has no HTTP connection "
                                    "manager (TCP proxying): HTTP routes and sessions do not apply", None)
        if hcm.scoped:
            raise CannotCheck(f"listener {lc.listener.name} routes by scoped route configurations (SRDS), which "
                              "stickyctl does not evaluate")
        rc, rc_note = self._route_config(hcm, lc.listener.name, cc.chain.id)
        self.step("filter chain", cc.chain.id, f"{cc.note}; HTTP connection manager, {rc_note}")
        x.route_config = rc.name
        authority = _rewrite_authority(request.authority, hcm.rewrite, lc.port)
        path = _normalize_path(request.path, hcm.rewrite)
        try:
            vc = routing.pick_virtual_host(rc, authority)
        except routing.NotFound as exc:
            raise _Stop("no_route", str(exc), 404) from None
        x.virtual_host = vc.virtual_host.name
        self.step("virtual host", vc.virtual_host.name, vc.how)
        try:
            rt = routing.pick_route(vc.virtual_host, request, path)
        except routing.NotFound as exc:
            raise _Stop("no_route", str(exc), 404) from None
        route = rt.route
        x.route = route.id
        self.step("route", route.id, f"matches {request.method} {path}: {rt.how}")
        destinations = self._destinations(route)
        self._session_and_hosts(hcm, rc, vc.virtual_host, route, destinations, path)

    def _route_config(self, hcm: HttpConnectionManager, listener: str, chain: str) -> tuple[RouteConfig, str]:
        if hcm.inline_route_config is not None:
            rc = hcm.inline_route_config
            return rc, f"inline route configuration {rc.name or '(unnamed)'}"
        name = hcm.rds_name
        if name is None:
            raise CannotCheck(f"listener {listener} chain {chain}: the HTTP connection manager has neither RDS nor "
                              "an inline route configuration")
        rc_found = self.proxy.route_configs.get(name)
        if rc_found is None:
            if not self.proxy.has_routes:
                raise CannotCheck(f"route configuration {name} is needed but the input has no routes (add the "
                                  "RDS dump, e.g. istioctl proxy-config route -o json)")
            self.step("filter chain", chain, f"HTTP connection manager, RDS {name}")
            raise _Stop("no_route", f"route configuration {name} (RDS) is not in the dump: until Envoy receives it, "
                                    "it answers 404", 404)
        return rc_found, f"RDS {name}"

    def _destinations(self, route: Route) -> list[tuple[Destination, float]]:
        details = route.action
        if route.kind in (RouteKind.REDIRECT, RouteKind.DIRECT_RESPONSE):
            status = details.status if details is not None else None
            what = "a redirect" if route.kind == RouteKind.REDIRECT else "a direct response"
            raise _Stop("no_route", f"route {route.id} answers with {what}{f' ({status})' if status else ''}: the "
                                    "request reaches no upstream, sessions do not apply", status)
        if route.kind == RouteKind.OTHER or not route.destinations:
            if details is not None and details.cluster_header:
                values = self.request.header_values(details.cluster_header)
                if not values or not values[0]:
                    raise _Stop("unavailable", f"route {route.id} takes its cluster from header "
                                               f"{details.cluster_header}, which the request lacks: Envoy answers 503",
                                503)
                return [(Destination(values[0], None, None), 1.0)]
            if details is not None and details.plugin:
                raise CannotCheck(f"route {route.id} picks its cluster with a cluster_specifier_plugin")
            raise CannotCheck(f"route {route.id} has no cluster stickyctl can read")
        if not route.weighted:
            return [(route.destinations[0], 1.0)]
        total = details.total_weight if details is not None and details.total_weight else None
        weights = [d.weight or 0 for d in route.destinations]
        total = total or sum(weights)
        if total <= 0:
            raise _Stop("unavailable", f"route {route.id}: its weighted clusters all weigh 0", 503)
        return [(d, w / total) for d, w in zip(route.destinations, weights, strict=True) if w > 0]

    # -- session config and value --------------------------------------------------------------

    def _session_and_hosts(self, hcm: HttpConnectionManager, rc: RouteConfig, vh: VirtualHost, route: Route,
                           destinations: list[tuple[Destination, float]], path: str) -> None:
        x = self.x
        x.clusters = [d.cluster for d, _ in destinations]
        if len(destinations) > 1:
            shares = ", ".join(f"{d.cluster} {share:.0%}" for d, share in destinations)
            self.step("clusters", f"{len(destinations)} weighted", shares)
        outcomes: list[Outcome] = []
        seen_value: DecodedValue | None = None
        for dest, share in destinations:
            eff = effective_session(dest.session, route, vh, rc, hcm)
            applied = self._session_applied(hcm, route, eff)
            state = None if isinstance(applied, str) else applied[1]
            value: DecodedValue | None = None
            path_ok = True
            if state is not None:
                if state.mode == SessionMode.OTHER:
                    raise CannotCheck(f"route {route.id}: session state extension {state.extension} is not one "
                                      "stickyctl knows (header, cookie, envelope)")
                if state.mode == SessionMode.COOKIE and not cookie_path_matches(state.cookie_path or "/", path):
                    path_ok = False
                else:
                    value = self._value(state)
                    seen_value = seen_value or value
            outcomes.append(self._outcome(dest, share, eff, applied, path_ok, value, path, route))
        x.outcomes = outcomes
        first = outcomes[0]
        x.session = first.session
        x.value = seen_value
        x.value_given = seen_value is not None or self._stray_values() != []
        self._session_steps(outcomes, destinations, path)
        self._aggregate(outcomes, route)

    def _session_applied(self, hcm: HttpConnectionManager, route: Route,
                         eff: SessionConfig | None) -> tuple[SessionConfig, SessionState] | str:
        """The session config Envoy applies to this destination, with its session state; or why none does."""
        sf = hcm.session_filter
        listener_filter_text = "the listener's stateful_session filter"
        if sf is None:
            if eff is not None and eff.active:
                return (f"route {route.id} carries a {eff.state.mode if eff.state else ''} session config, but the "
                        "listener's HTTP connection manager has no stateful_session filter to apply it: turn "
                        "PILOT_ENABLE_PERSISTENT_SESSION_FILTER on in istiod (STK0201)")
            return (f"route {route.id} has no session config and the listener has no stateful_session filter: Envoy "
                    "keeps no sessions here; label the destination Service (istio.io/persistent-session-header or "
                    "istio.io/persistent-session) with PILOT_ENABLE_PERSISTENT_SESSION_FILTER on (STK0101)")
        router = hcm.router_index()
        index = hcm.session_filter_index()
        if router is not None and index is not None and index > router:
            return "the stateful_session filter runs after the router, so it never applies (STK0202)"
        if eff is None:
            return (f"route {route.id} has no session config (nor its virtual host or route configuration) and "
                    f"{listener_filter_text} has none of its own: Envoy reads no session value here; label the "
                    "destination Service for persistent sessions (STK0301)")
        if eff.level == ConfigLevel.LISTENER and sf.by_ecds:
            raise CannotCheck(f"route {route.id} has no session config of its own and the stateful_session filter's "
                              "config comes by ECDS, which the dump does not show")
        if eff.level == ConfigLevel.LISTENER and sf.disabled:
            return (f"the stateful_session filter is disabled on the listener and route {route.id} does not enable "
                    "it with a per-route config: Envoy reads no session value here")
        if eff.disabled:
            return (f"the stateful_session filter is disabled for route {route.id} (at the "
                    f"{eff.level.words} level): Envoy reads no session value here; remove the 'disabled' "
                    "per-route config (STK0304)")
        if eff.state is None:
            if eff.level == ConfigLevel.LISTENER:
                return (f"route {route.id} has no session config (nor its virtual host or route configuration) and "
                        f"{listener_filter_text} is empty, as istiod makes it: Envoy reads no session value here; "
                        "label the destination Service for persistent sessions (STK0301)")
            return (f"the session config at the {eff.level.words} level of route {route.id} has no "
                    "session state: Envoy reads no session value here")
        return eff, eff.state

    def _value(self, state: SessionState) -> DecodedValue | None:
        """The session value the request carries for this session state, decoded as Envoy reads it."""
        if state.mode == SessionMode.COOKIE:
            found = next((v for n, v in self.request.cookies() if n == state.name), None)
            if found is None:
                return None
            return decode_cookie_value(found, ValueOrigin("cookie", state.name, "request"))
        values = self.request.header_values(state.name)
        if not values:
            return None
        return decode_header_value(values[0], ValueOrigin("header", state.name, "request"))

    def _stray_values(self) -> list[tuple[str, str, SessionValue]]:
        """Headers and cookies of the request whose value decodes as a session value: (kind, name, value)."""
        out: list[tuple[str, str, SessionValue]] = []
        for name, value in self.request.headers:
            if name == "cookie":
                continue
            decoded = decode_session_value(value)
            if isinstance(decoded, SessionValue):
                out.append(("header", name, decoded))
        for name, value in self.request.cookies():
            decoded = decode_session_value(value)
            if isinstance(decoded, SessionValue):
                out.append(("cookie", name, decoded))
        return out

    # -- per destination -----------------------------------------------------------------------

    def _cluster(self, name: str, route: Route) -> Cluster | None:
        if self.proxy.clusters is None:
            raise CannotCheck(f"route {route.id} sends to cluster {name}, but the input has no clusters (CDS)")
        return self.proxy.clusters.get(name)

    def _hosts(self, cluster: str) -> dict[str, hs.HostState]:
        if self.host_index is None:
            raise CannotCheck("the dump has no endpoints, so whether the pinned host belongs to the cluster cannot be "
                              "told: record it with config_dump?include_eds, or use --admin-url")
        self.x.host_source = self.host_index.source_text
        found = self.host_index.hosts(cluster)
        return found if found is not None else {}

    def _outcome(self, dest: Destination, share: float, eff: SessionConfig | None,
                 applied: tuple[SessionConfig, SessionState] | str, path_ok: bool, value: DecodedValue | None,
                 path: str, route: Route) -> Outcome:
        cluster = self._cluster(dest.cluster, route)
        details = route.action
        if cluster is None:
            status = details.cluster_not_found_status if details is not None else 503
            return Outcome(dest.cluster, share, "unavailable",
                           f"route {route.id} sends to cluster {dest.cluster}, which is not in CDS: Envoy answers "
                           f"{status} (STK0403)", status, session=eff)
        hosts = self._hosts(dest.cluster)
        if not hosts:
            return Outcome(dest.cluster, share, "unavailable",
                           f"cluster {dest.cluster} has no endpoints: Envoy answers 503 (no healthy upstream)", 503,
                           session=eff)
        if isinstance(applied, str):
            problem = applied
            stray = self._stray_values()
            if stray:
                kind, name, _ = stray[0]
                problem = problem.replace("Envoy reads no session value here",
                                          f"Envoy ignores the {kind} {name} the request carries")
            return Outcome(dest.cluster, share, "rebalanced", problem, 200, session=eff)
        eff, state = applied
        new = NewValue(state.mode, state.name, state.cookie_path, state.ttl_seconds) if path_ok else None
        if not path_ok:
            return Outcome(dest.cluster, share, "rebalanced",
                           f"cookie {state.name} has Path {state.cookie_path}, which does not cover "
                           f"{mt.path_only(path)}: Envoy neither reads nor sets the cookie on this request; set the "
                           "cookie path to / or to a prefix of the route (STK0307)", 200, session=eff)
        if value is None:
            return Outcome(dest.cluster, share, "rebalanced", self._no_value_reason(state, dest.cluster), 200,
                           new_value=new, session=eff)
        if isinstance(value, Rejected):
            return Outcome(dest.cluster, share, "rebalanced",
                           f"the {state.mode} {state.name} value is not one Envoy accepts ({value.reason}): Envoy "
                           "load-balances the request and issues a new value; send the value exactly as Envoy "
                           "issued it", 200, new_value=new, session=eff)
        expired = value.expired(self.now)
        if expired:
            when = value.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") if value.expires_at else str(value.expires)
            ttl = f" (its TTL is {int(state.ttl_seconds)}s)" if state.ttl_seconds else ""
            return Outcome(dest.cluster, share, "rebalanced",
                           f"cookie {state.name} expired at {when}{ttl}: Envoy ignores it and issues a new one; "
                           "a longer or no TTL keeps sessions (STK0308)", 200, new_value=new, session=eff)
        override = OverrideHostStatus.of(cluster)
        set_text = override.listed + ("" if override.explicit else " (Envoy's default)")
        host = hosts.get(value.upstream)
        strict = eff.strict
        if host is None:
            what = (f"{value.upstream} is not an endpoint of cluster {dest.cluster} (the pod is gone, or the session "
                    "is stale)")
            if strict:
                return Outcome(dest.cluster, share, "unavailable",
                               f"{what}, and the session config is strict: Envoy answers 503 instead of moving the "
                               "session", 503, value.upstream, session=eff)
            return Outcome(dest.cluster, share, "rebalanced", f"{what}: Envoy picks another host and issues a new "
                                                              "session value", 200, value.upstream, new_value=new,
                           session=eff)
        action = ""
        if override.honours_none:
            reason = f"cluster {dest.cluster} has override_host_status set but empty, so Envoy honours no pinned host"
            action = "; remove the empty override_host_status (STK0402)"
        elif override.honours(host.status):
            who = f"{host.upstream} ({host.workload})" if host.workload else host.upstream
            ambiguous = self._ambiguous_status(host, override)
            if ambiguous:
                self.x.caveats.append(ambiguous)
            if host.connect_failures:
                self.x.caveats.append(
                    f"Envoy failed to connect to {host.upstream} {host.connect_failures} time(s) (cx_connect_fail in "
                    "/clusters): if the pod is down while its endpoint stays in EDS, each request fails over to "
                    "another host by retry and gets a new session value, until the endpoint is removed")
            return Outcome(dest.cluster, share, "sticks",
                           f"the pinned host {who} is a {host.status} endpoint of cluster {dest.cluster}, and "
                           f"{host.status} is in its override_host_status {set_text}", 200, value.upstream, host,
                           session=eff)
        else:
            flags = f" ({', '.join(host.flags)})" if host.flags else ""
            reason = (f"the pinned host {host.upstream} is {host.status}{flags}, which is not in the "
                      f"override_host_status {set_text} of cluster {dest.cluster}")
            if host.status == HostStatus.DRAINING:
                action = ("; add DRAINING to override_host_status (istiod does for a labelled Service's default "
                          "cluster, STK0401)")
        ambiguous = self._ambiguous_status(host, override)
        if ambiguous:
            self.x.caveats.append(ambiguous)
        if strict:
            return Outcome(dest.cluster, share, "unavailable",
                           f"{reason}, and the session config is strict: Envoy answers 503 instead of moving the "
                           f"session{action}", 503, value.upstream, host, session=eff)
        return Outcome(dest.cluster, share, "rebalanced",
                       f"{reason}: Envoy picks another host and issues a new session value{action}", 200,
                       value.upstream, host, new_value=new, session=eff)

    def _ambiguous_status(self, host: hs.HostState, override: OverrideHostStatus) -> str | None:
        # Envoy 1.40's config_dump renders an endpoint EDS sent as DRAINING as UNHEALTHY [seen]
        # (ISTIO-NOTES, Envoy side): only /clusters tells them apart.
        if self.host_index is None or self.host_index.source != "eds" or host.status != HostStatus.UNHEALTHY:
            return None
        if override.keeps_draining == override.honours(HostStatus.UNHEALTHY):
            return None
        other = "sticks" if override.keeps_draining else "is re-balanced"
        return (f"{host.upstream} shows as UNHEALTHY in the dump's EDS, which is also how a DRAINING endpoint "
                f"shows there: if the pod is draining, the session {other}; --admin-url reads the real status")

    def _no_value_reason(self, state: SessionState, cluster: str) -> str:
        where = f"{'cookie' if state.mode == SessionMode.COOKIE else 'header'} {state.name}"
        stray = self._stray_values()
        issued = NewValue(state.mode, state.name, state.cookie_path, state.ttl_seconds).text()
        if stray:
            kind, name, sv = stray[0]
            return (f"the route reads the session from {where}, but the request sends it in {kind} {name} "
                    f"({sv.upstream}): Envoy ignores that, load-balances the request and answers with a new "
                    f"{issued}; send the value in {where} (STK0302/STK0303)")
        return f"the request carries no session value in {where}: Envoy load-balances it over cluster {cluster}"

    # -- the verdict -----------------------------------------------------------------------------

    def _session_steps(self, outcomes: list[Outcome], destinations: list[tuple[Destination, float]], path: str) -> None:
        first = outcomes[0]
        eff = first.session
        if eff is not None and eff.state is not None and not eff.disabled:
            st = eff.state
            where = f"{st.mode} {st.name}" if st.name else st.mode
            extras = []
            if st.mode == SessionMode.COOKIE:
                extras.append(f"path {st.cookie_path or '/'}")
                extras.append(f"TTL {int(st.ttl_seconds)}s" if st.ttl_seconds else "no TTL")
            if eff.strict:
                extras.append("strict")
            self.step("session", where, f"config at the {eff.level.words} level"
                      + (f" ({', '.join(extras)})" if extras else ""))
        else:
            self.step("session", "none", "no session config applies")
        value = self.x.value
        if isinstance(value, SessionValue):
            extra = ""
            if value.expires_at is not None:
                extra = f", expires {value.expires_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
            origin = f"{value.origin.kind} {value.origin.name}"
            self.step("value", value.upstream, f"from {origin} ({value.form} form{extra})")
        elif isinstance(value, Rejected):
            self.step("value", "not usable", f"{value.origin.kind} {value.origin.name}: {value.reason}")
        for outcome in outcomes:
            cluster = self.proxy.clusters.get(outcome.cluster) if self.proxy.clusters else None
            override = None if cluster is None else OverrideHostStatus.of(cluster)
            detail = "not in CDS" if override is None else "override_host_status " + (
                override.listed + ("" if override.explicit else " (default)"))
            self.step("cluster", outcome.cluster, detail)
            if outcome.upstream is not None:
                if outcome.host is not None:
                    source = self.host_index.source_text if self.host_index else "?"
                    text = f"{hs.describe(outcome.host)} from {source}"
                    if outcome.host.workload:
                        text += f"; workload {outcome.host.workload}"
                    self.step("endpoint", outcome.upstream, text)
                elif outcome.verdict != "sticks":
                    self.step("endpoint", outcome.upstream, "not an endpoint of this cluster")

    def _aggregate(self, outcomes: list[Outcome], route: Route) -> None:
        x = self.x
        if len(outcomes) == 1:
            o = outcomes[0]
            x.verdict, x.reason, x.status = o.verdict, o.reason, o.status
            x.new_value = o.new_value
            if o.verdict == "sticks":
                x.upstream = o.upstream
                x.workload = o.host.workload if o.host else None
            return
        sticks = [o for o in outcomes if o.verdict == "sticks"]
        bad = [o for o in outcomes if o.verdict != "sticks"]
        if not bad:
            o = outcomes[0]
            x.verdict, x.status, x.upstream = "sticks", 200, o.upstream
            x.workload = o.host.workload if o.host else None
            x.reason = (f"every cluster of weighted route {route.id} has the pinned host {o.upstream} with an "
                        "overridable status")
            return
        worst = next((o for o in bad if o.verdict == "unavailable"), bad[0])
        x.verdict, x.status = worst.verdict, worst.status
        x.new_value = next((o.new_value for o in bad if o.new_value is not None), None)
        share_bad = sum(o.share for o in bad)
        if sticks and isinstance(x.value, SessionValue):
            held = ", ".join(o.cluster for o in sticks)
            others = ", ".join(o.cluster for o in bad)
            effect = "answers 503" if worst.verdict == "unavailable" else "re-balances the session"
            x.reason = (f"route {route.id} splits traffic over {len(outcomes)} clusters and the session value holds "
                        f"only IP:port: on the {share_bad:.0%} of requests that pick {others}, which lacks "
                        f"{x.value.upstream}, Envoy {effect} (Envoy issue 24741); it sticks only when {held} is "
                        "picked — route sticky traffic to one cluster (STK0306)")
        elif all(o.reason == bad[0].reason for o in bad):
            x.reason = bad[0].reason
        else:
            x.reason = f"whichever weighted cluster Envoy picks: {bad[0].reason}"


def explain(proxy: Proxy, request: Request, host_index: hs.HostIndex | None = None, *, listener: str | None = None,
            now: float | None = None) -> Explanation:
    """Where Envoy sends ``request`` and whether its session value sticks (see the module docstring)."""
    return _Walk(proxy, request, host_index, listener, time.time() if now is None else now).run()


# --- as data -----------------------------------------------------------------------------------


def _value_document(value: DecodedValue | None, now: float) -> dict[str, Any] | None:
    if value is None:
        return None
    doc: dict[str, Any] = {"source": value.origin.kind, "name": value.origin.name, "input": value.raw}
    if isinstance(value, Rejected):
        doc.update(valid=False, reason=value.reason)
        return doc
    doc.update(valid=True, form=value.form, upstream=value.upstream, expires=value.expires,
               expires_at=value.expires_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
               if isinstance(value.expires_at, datetime) else None, expired=value.expired(now))
    return doc


def _session_document(cfg: SessionConfig | None) -> dict[str, Any] | None:
    if cfg is None:
        return None
    st = cfg.state
    return {
        "level": cfg.level,
        "disabled": cfg.disabled,
        "mode": st.mode if st else None,
        "name": st.name if st else None,
        "cookie_path": st.cookie_path if st else None,
        "ttl_seconds": st.ttl_seconds if st else None,
        "strict": cfg.strict,
    }


def _new_value_document(new: NewValue | None) -> dict[str, Any] | None:
    if new is None:
        return None
    cookie = new.mode == SessionMode.COOKIE
    return {"mode": new.mode, "name": new.name, "path": new.path if cookie else None,
            "ttl_seconds": new.ttl_seconds if cookie else None}


def to_document(x: Explanation, now: float) -> dict[str, Any]:
    """The ``why -o json`` document (schema version 1).

    ``verdict`` (sticks | rebalanced | unavailable | no_route), ``upstream`` (the pinned host when it
    sticks, else null), ``reason`` (one sentence), ``status`` (the HTTP status Envoy answers with;
    null for a refused or closed connection), ``trace`` ([{step, name, detail}]), the resources used
    (``listener``, ``filter_chain``, ``route_config``, ``virtual_host``, ``route``, ``clusters``),
    ``session`` (the effective config), ``value`` (the session value as decoded, or null),
    ``value_given``, ``new_value`` (the session value the response carries, or null),
    ``destinations`` (per cluster: share, verdict, reason, host), ``host_source`` and ``caveats``.
    """
    r = x.request
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": x.verdict,
        "upstream": x.upstream,
        "workload": x.workload,
        "reason": x.reason,
        "status": x.status,
        "request": {"method": r.method, "url_port": r.port, "authority": r.authority, "path": r.path},
        "listener": x.listener,
        "filter_chain": x.filter_chain,
        "route_config": x.route_config,
        "virtual_host": x.virtual_host,
        "route": x.route,
        "clusters": x.clusters,
        "session": _session_document(x.session),
        "value": _value_document(x.value, now),
        "value_given": x.value_given,
        "new_value": _new_value_document(x.new_value),
        "destinations": [
            {
                "cluster": o.cluster,
                "share": round(o.share, 4),
                "verdict": o.verdict,
                "reason": o.reason,
                "status": o.status,
                "host": hs.as_json(o.host) if o.host else None,
            }
            for o in x.outcomes
        ],
        "host_source": x.host_source,
        "caveats": x.caveats,
        "trace": [{"step": s.kind, "name": s.name, "detail": s.detail} for s in x.trace],
    }
