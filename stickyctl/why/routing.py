"""How Envoy picks the listener, filter chain, virtual host and route for one request.

- Listener: the one bound to the port the connection arrives on (for an Istio gateway reached
  through its Service, Istio's convention maps 80 → 8080 and 443 → 8443); among several on that
  port, the one bound to the request's address before a wildcard one.
- Filter chain (FilterChainManagerImpl): the criteria are tried in Envoy's order — destination
  port, destination IP, server name (SNI), transport protocol, application protocols, then the
  source — and at each level the most specific chain that matches wins; none: the default chain.
- Virtual host (RouteMatcher::findVirtualHost): ``:authority`` lower-cased, its port removed when
  the route configuration says ``ignore_port_in_host_matching``; an exact domain first, then the
  longest ``*suffix`` wildcard, then the longest ``prefix*`` wildcard (each must leave at least
  one character for ``*``), then ``*``. A domain written with a port matches only a host with
  that port.
- Route: the first one, in order, whose every matcher matches.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec.structs

from stickyctl.envoy import schema as sc
from stickyctl.envoy.enums import ListenerState
from stickyctl.envoy.model import FilterChain, Listener, Proxy, Route, RouteConfig, RouteMatcher, VirtualHost
from stickyctl.why import matchers as mt
from stickyctl.why.request import Request

SERVING_STATES = (ListenerState.ACTIVE, ListenerState.STATIC)
"""Listeners that accept connections (warming ones do not yet; error entries never did)."""
ISTIO_GATEWAY_PORTS = {80: 8080, 443: 8443}
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"
HTTP_INSPECTOR = "envoy.filters.listener.http_inspector"


class NotFound(Exception):
    """A step found nothing: the message is the user-facing reason."""


# --- listener ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerChoice:
    listener: Listener
    port: int
    """The port the connection arrives on at the proxy."""
    note: str


def _is_wildcard(address: str | None) -> bool:
    return address in (None, "", "0.0.0.0", "::")


def pick_listener(proxy: Proxy, request: Request, name: str | None = None) -> ListenerChoice:
    serving = [lst for lst in proxy.listeners if lst.state in SERVING_STATES]
    if name is not None:
        for lst in serving:
            if lst.name == name:
                return ListenerChoice(lst, lst.port or request.port, "--listener")
        names = ", ".join(sorted({lst.name for lst in serving})) or "none"
        raise LookupError(f"--listener {name!r}: no such listener serving (listeners: {names})")
    port, note = request.port, f"port {request.port}"
    candidates = [lst for lst in serving if lst.port == port]
    if not candidates and port in ISTIO_GATEWAY_PORTS:
        mapped = ISTIO_GATEWAY_PORTS[port]
        candidates = [lst for lst in serving if lst.port == mapped]
        if candidates:
            port = mapped
            note = f"port {mapped} (an Istio gateway's Service maps {request.port} to {mapped})"
    if not candidates:
        ports = sorted({lst.port for lst in serving if lst.port is not None})
        listed = ", ".join(str(p) for p in ports) or "none"
        raise NotFound(f"no listener on port {request.port} (listeners on: {listed}): the connection is refused; "
                       "give the gateway's port in --url or --listener NAME")
    exact = [lst for lst in candidates if request.host_is_ip and lst.address == request.host]
    wildcard = [lst for lst in candidates if _is_wildcard(lst.address)]
    chosen = (exact or wildcard or candidates)[0]
    return ListenerChoice(chosen, port, note)


# --- filter chain ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainChoice:
    chain: FilterChain
    note: str


def _in_ranges(ip: str, ranges: Sequence[sc.CidrRange]) -> int | None:
    """The longest prefix length of ``ranges`` containing ``ip``; None when none does."""
    best: int | None = None
    address = ipaddress.ip_address(ip)
    for r in ranges:
        try:
            length = r.prefix_len if r.prefix_len is not None else (32 if ":" not in r.address_prefix else 128)
            network = ipaddress.ip_network(f"{r.address_prefix}/{length}", strict=False)
        except ValueError:
            continue
        if address.version == network.version and address in network and (best is None or length > best):
            best = length
    return best


def _server_name_rank(names: Sequence[str], sni: str | None) -> int | None:
    """Envoy's SNI order: exact name, then the longest ``*.suffix`` wildcard; None: no match."""
    if sni is None:
        return None
    best: int | None = None
    for name in names:
        name = name.lower()
        if name == sni:
            return 1 << 20
        if name.startswith("*.") and sni.endswith(name[1:]) and len(sni) > len(name) - 1:
            best = max(best or 0, len(name))
    return best


def pick_filter_chain(listener: Listener, request: Request, port: int) -> ChainChoice:
    # A listener without listener filters of its own may still get connections whose protocol was
    # detected by another (Istio's sidecar listeners, handed connections by virtualOutbound 15001).
    filters = set(listener.listener_filters)
    inspected = not filters
    tls = request.scheme == "https" and (inspected or TLS_INSPECTOR in filters)
    start = port_start(request.authority)
    sni = (request.authority[:start] if start is not None else request.authority).strip("[]").lower() if tls else None
    transport = "tls" if tls else "raw_buffer"
    if tls:
        alpn: tuple[str, ...] = ("h2", "http/1.1")
    elif request.scheme == "http" and (inspected or HTTP_INSPECTOR in filters):
        alpn = ("http/1.1",)
    else:
        alpn = ()
    chains = [c for c in listener.chains if c.id != "default"]
    default = next((c for c in listener.chains if c.id == "default"), None)

    def match_of(c: FilterChain) -> sc.FilterChainMatch:
        return c.match or sc.FilterChainMatch()

    # Each level keeps the chains that match it most specifically (an unset criterion matches all).
    level = [c for c in chains if match_of(c).destination_port in (None, port)]
    if any(match_of(c).destination_port == port for c in level):
        level = [c for c in level if match_of(c).destination_port == port]
    if any(match_of(c).prefix_ranges for c in level):
        if not request.host_is_ip:
            raise mt.CannotEvaluate(f"listener {listener.name}: filter chains match on the destination IP, and "
                                    f"{request.host} is a name; give the gateway's IP in --url")
        ranked = [(_in_ranges(request.host, match_of(c).prefix_ranges), c) for c in level if match_of(c).prefix_ranges]
        best = max((r for r, _ in ranked if r is not None), default=None)
        level = [c for r, c in ranked if r == best] if best is not None else [
            c for c in level if not match_of(c).prefix_ranges]
    if any(match_of(c).server_names for c in level):
        ranked_sni = [(_server_name_rank(match_of(c).server_names, sni), c) for c in level
                      if match_of(c).server_names]
        best_sni = max((r for r, _ in ranked_sni if r is not None), default=None)
        level = [c for r, c in ranked_sni if r == best_sni] if best_sni is not None else [
            c for c in level if not match_of(c).server_names]
    if any(match_of(c).transport_protocol == transport for c in level):
        level = [c for c in level if match_of(c).transport_protocol == transport]
    else:
        level = [c for c in level if not match_of(c).transport_protocol]
    if any(set(match_of(c).application_protocols) & set(alpn) for c in level):
        level = [c for c in level if set(match_of(c).application_protocols) & set(alpn)]
    else:
        level = [c for c in level if not match_of(c).application_protocols]
    if len(level) > 1 and any(_source_criteria(match_of(c)) for c in level):
        raise mt.CannotEvaluate(f"listener {listener.name}: filter chains differ by the client's address, "
                                "which stickyctl does not know")
    level = [c for c in level if not _source_criteria(match_of(c))] or level
    if level:
        chain = level[0]
        return ChainChoice(chain, _chain_note(chain))
    if default is not None:
        return ChainChoice(default, "no filter chain matches the connection: the default chain")
    raise NotFound(f"listener {listener.name}: no filter chain matches a {request.scheme} connection "
                   f"to port {port}: Envoy closes it")


def _source_criteria(m: sc.FilterChainMatch) -> bool:
    return bool(m.direct_source_prefix_ranges or m.source_prefix_ranges or m.source_ports
                or m.source_type not in (None, "ANY", 0))


def _chain_note(chain: FilterChain) -> str:
    m = chain.match
    if m is None:
        return "the listener's chain (no filter_chain_match)"
    parts = []
    if m.destination_port is not None:
        parts.append(f"port {m.destination_port}")
    if m.server_names:
        parts.append("SNI " + ",".join(m.server_names))
    if m.transport_protocol:
        parts.append(m.transport_protocol)
    if m.application_protocols:
        parts.append("ALPN " + ",".join(m.application_protocols))
    return "matches " + (", ".join(parts) if parts else "any connection")


# --- virtual host ------------------------------------------------------------------------------


def port_start(host: str) -> int | None:
    """Where the port begins in a Host value, as Envoy's HeaderUtility::getPortStart finds it."""
    colon = host.rfind(":")
    if colon < 0:
        return None
    bracket = host.rfind("]")
    if bracket < 0 or bracket < colon:
        return colon
    return None


def routing_host(authority: str, rc: RouteConfig) -> str:
    host = authority
    if rc.ignore_port_in_host_matching:
        start = port_start(host)
        if start is not None:
            host = host[:start]
    return host.lower()


@dataclass(frozen=True)
class VirtualHostChoice:
    virtual_host: VirtualHost
    domain: str
    how: str


def pick_virtual_host(rc: RouteConfig, authority: str) -> VirtualHostChoice:
    exact: dict[str, VirtualHost] = {}
    suffixes: list[tuple[str, str, VirtualHost]] = []
    prefixes: list[tuple[str, str, VirtualHost]] = []
    default: VirtualHost | None = None
    for vh in rc.virtual_hosts:
        for domain in vh.domains:
            d = domain.lower()
            if d == "*":
                default = default or vh
            elif len(d) > 1 and d.startswith("*"):
                suffixes.append((d[1:], domain, vh))
            elif len(d) > 1 and d.endswith("*"):
                prefixes.append((d[:-1], domain, vh))
            else:
                exact.setdefault(d, vh)
    if not exact and not suffixes and not prefixes:
        if default is None:
            raise NotFound(f"route configuration {rc.name} has no virtual hosts: Envoy answers 404")
        return VirtualHostChoice(default, "*", "the only domain, '*' (any host)")
    host = routing_host(authority, rc)
    port_note = " (port ignored: ignore_port_in_host_matching)" if rc.ignore_port_in_host_matching and \
        port_start(authority) is not None else ""
    if host in exact:
        return VirtualHostChoice(exact[host], host, f"domain {host} matches {authority}{port_note}")
    for key, domain, vh in sorted(suffixes, key=lambda t: -len(t[0])):
        if len(key) < len(host) and host.endswith(key):
            return VirtualHostChoice(vh, domain, f"wildcard domain {domain} matches {authority}{port_note}")
    for key, domain, vh in sorted(prefixes, key=lambda t: -len(t[0])):
        if len(key) < len(host) and host.startswith(key):
            return VirtualHostChoice(vh, domain, f"wildcard domain {domain} matches {authority}{port_note}")
    if default is not None:
        return VirtualHostChoice(default, "*", f"no domain names {authority}: the '*' virtual host")
    hint = ""
    start = port_start(authority)
    if start is not None and not rc.ignore_port_in_host_matching and authority[:start].lower() in exact:
        hint = f" ({authority[:start]} is a domain, but without port {authority[start + 1:]}: the Host carries it)"
    elif rc.ignore_port_in_host_matching and authority.lower() in exact:
        hint = f" (the domain {authority} names a port, which never matches once the Host's port is ignored)"
    raise NotFound(f"no virtual host of route configuration {rc.name} has a domain matching {authority}{port_note}"
                   f"{hint}: Envoy answers 404")


# --- route -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteChoice:
    route: Route
    how: str


def _other_matcher(route: Route, name: str, request: Request) -> bool:
    if name == "grpc":
        return any(v.lower().startswith("application/grpc") for v in request.header_values("content-type"))
    if name == "connect_matcher":
        return request.method == "CONNECT"
    raise mt.CannotEvaluate(f"route {route.id}: its {name} matcher is not decidable from the request alone")


def route_matches(route: Route, request: Request, path: str) -> tuple[bool, str]:
    """(matches, how or why not). Raises CannotEvaluate when only an unsupported matcher decides."""
    m = route.matcher
    if m is None:
        raise mt.CannotEvaluate(f"route {route.id}: its match was not read")
    if not mt.path_matches(m, path):
        return False, f"{mt.path_text(m)} does not match {mt.path_only(path)}"
    unknown: mt.CannotEvaluate | None = None
    params = mt.query_parameters(path) if m.query_parameters else []
    # (text, test) pairs; istioctl input decodes into camelCase twins of the schema Structs, so the
    # kind of each matcher is known from where it sits, never from its class.
    checks: list[tuple[str, Callable[[], bool]]] = []
    for h in m.headers:
        checks.append((mt.header_text(h), functools.partial(mt.header_matches, h, request.header_values(h.name))))
    for q in m.query_parameters:
        checks.append((mt.query_text(q), functools.partial(mt.query_matches, q, params)))
    for name in m.other:
        checks.append((name, functools.partial(_other_matcher, route, name, request)))
    for text, test in checks:
        try:
            ok = test()
        except mt.CannotEvaluate as exc:
            unknown = unknown or exc
            continue
        if not ok:
            return False, f"{text}: no"
    if unknown is not None:
        raise unknown
    extra = [text for text, _ in checks]
    return True, mt.path_text(m) + (", " + ", ".join(extra) if extra else "")


def pick_route(vh: VirtualHost, request: Request, path: str) -> RouteChoice:
    misses: list[str] = []
    for route in vh.routes:
        ok, how = route_matches(route, request, path)
        if ok:
            return RouteChoice(route, how)
        misses.append(f"{route.id}: {how}")
    hint = ""
    for route in vh.routes:
        m = route.matcher
        if m is not None and m.case_sensitive and m.safe_regex is None and _matches_in_any_case(m, path):
            hint = f"; route {route.id} matches {mt.path_only(path)} only in another case (its match is case-sensitive)"
            break
    shown = "; ".join(misses[:3]) + (f"; … {len(misses) - 3} more" if len(misses) > 3 else "")
    raise NotFound(f"no route of virtual host {vh.name} matches {request.method} {path}"
                   f"{' (' + shown + ')' if shown else ''}{hint}: Envoy answers 404")


def _matches_in_any_case(m: RouteMatcher, path: str) -> bool:
    try:
        return mt.path_matches(msgspec.structs.replace(m, case_sensitive=False), path)
    except mt.CannotEvaluate:
        return False
