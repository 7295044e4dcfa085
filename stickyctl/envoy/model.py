"""Typed, partial views of a proxy's config: only what the session checks read.

Built from one or more ``DumpParts`` (loader.py). A wrong type anywhere a check reads raises
``InputError`` naming the file and the field path (STK0002), never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stickyctl.envoy.loader import ClusterEntry, DumpParts, ListenerEntry, RouteConfigEntry
from stickyctl.errors import InputError

SESSION_FILTER = "envoy.filters.http.stateful_session"
SESSION_FILTER_TYPE = "envoy.extensions.filters.http.stateful_session.v3.StatefulSession"
SESSION_PER_ROUTE_TYPE = "envoy.extensions.filters.http.stateful_session.v3.StatefulSessionPerRoute"
FILTER_CONFIG_TYPE = "envoy.config.route.v3.FilterConfig"
ROUTER_FILTER = "envoy.filters.http.router"
ROUTER_TYPE = "envoy.extensions.filters.http.router.v3.Router"
HCM_FILTER = "envoy.filters.network.http_connection_manager"
HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

HEADER_STATE = "envoy.http.stateful_session.header"
COOKIE_STATE = "envoy.http.stateful_session.cookie"
ENVELOPE_STATE = "envoy.http.stateful_session.envelope"

# Envoy's default override set when override_host_status is unset (ISTIO-NOTES, Envoy side).
DEFAULT_OVERRIDE_STATUSES = ("UNKNOWN", "HEALTHY", "DEGRADED")


def _type_name(type_url: object) -> str:
    return type_url.rsplit("/", 1)[-1] if isinstance(type_url, str) else ""


class _Reader:
    """Typed access into decoded JSON with the field path kept for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> InputError:
        return InputError(self.source, f"{where}: {message}")

    def obj(self, value: object, where: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {type(value).__name__}")
        return value

    def seq(self, value: object, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def text(self, value: object, where: str, default: str = "") -> str:
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {type(value).__name__}")
        return value

    def flag(self, value: object, where: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true/false, got {type(value).__name__}")
        return value


# ---------------------------------------------------------------------------------------------
# Session state


@dataclass(frozen=True)
class SessionState:
    """A session_state extension: which header or cookie carries the pinned host."""

    mode: str
    """header | cookie | envelope | other"""
    name: str
    """Header or cookie name ('' when the config has none)."""
    extension: str
    cookie_path: str | None = None
    ttl_seconds: float | None = None
    """Cookie TTL; None when unset (a session cookie)."""


@dataclass(frozen=True)
class SessionConfig:
    """The stateful_session config that applies at one level (route, vhost, …) or the filter's own."""

    level: str
    """weighted_cluster | route | virtual_host | route_config | listener"""
    disabled: bool
    state: SessionState | None
    strict: bool = False

    @property
    def active(self) -> bool:
        """Envoy issues and honours session values under this config."""
        return not self.disabled and self.state is not None


def _duration_seconds(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    if isinstance(value, dict):  # {"seconds": N, "nanos": M} in some YAML renderings
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def parse_session_state(r: _Reader, raw: object, where: str) -> SessionState | None:
    ext = r.obj(raw, where)
    if not ext:
        return None
    extension = r.text(ext.get("name"), f"{where}.name")
    tc = r.obj(ext.get("typed_config"), f"{where}.typed_config")
    type_name = _type_name(tc.get("@type"))
    if extension == HEADER_STATE or type_name.endswith("HeaderBasedSessionState"):
        return SessionState("header", r.text(tc.get("name"), f"{where}.typed_config.name"), extension)
    if extension == COOKIE_STATE or type_name.endswith("CookieBasedSessionState"):
        cookie = r.obj(tc.get("cookie"), f"{where}.typed_config.cookie")
        return SessionState(
            "cookie",
            r.text(cookie.get("name"), f"{where}.typed_config.cookie.name"),
            extension,
            cookie_path=r.text(cookie.get("path"), f"{where}.typed_config.cookie.path", default="") or None,
            ttl_seconds=_duration_seconds(cookie.get("ttl")),
        )
    if extension == ENVELOPE_STATE or type_name.endswith("EnvelopeSessionState"):
        header = r.obj(tc.get("header"), f"{where}.typed_config.header")
        return SessionState("envelope", r.text(header.get("name"), f"{where}.typed_config.header.name"), extension)
    return SessionState("other", "", extension or type_name)


def parse_per_filter_config(r: _Reader, raw: object, where: str, level: str) -> SessionConfig:
    """A ``typed_per_filter_config`` value for the session filter."""
    cfg = r.obj(raw, where)
    type_name = _type_name(cfg.get("@type"))
    if type_name == FILTER_CONFIG_TYPE:
        # envoy.config.route.v3.FilterConfig{config, is_optional, disabled}
        if r.flag(cfg.get("disabled"), f"{where}.disabled"):
            return SessionConfig(level, True, None)
        cfg = r.obj(cfg.get("config"), f"{where}.config")
        where = f"{where}.config"
    if r.flag(cfg.get("disabled"), f"{where}.disabled"):
        return SessionConfig(level, True, None)
    ss = r.obj(cfg.get("stateful_session"), f"{where}.stateful_session")
    return SessionConfig(
        level,
        False,
        parse_session_state(r, ss.get("session_state"), f"{where}.stateful_session.session_state"),
        strict=r.flag(ss.get("strict"), f"{where}.stateful_session.strict"),
    )


# ---------------------------------------------------------------------------------------------
# Listeners and HTTP connection managers


@dataclass(frozen=True)
class HttpFilter:
    name: str
    type_name: str
    disabled: bool
    by_ecds: bool
    session: SessionConfig | None = None
    """For the session filter: its own config (Istio's is an empty StatefulSession{})."""

    @property
    def is_session_filter(self) -> bool:
        return self.name == SESSION_FILTER or self.type_name == SESSION_FILTER_TYPE

    @property
    def is_router(self) -> bool:
        return self.name == ROUTER_FILTER or self.type_name == ROUTER_TYPE


@dataclass(frozen=True)
class HttpConnectionManager:
    filters: tuple[HttpFilter, ...]
    rds_name: str | None
    inline_route_config: RouteConfig | None
    scoped: bool

    def session_filter_index(self) -> int | None:
        for i, f in enumerate(self.filters):
            if f.is_session_filter:
                return i
        return None

    def router_index(self) -> int | None:
        for i, f in enumerate(self.filters):
            if f.is_router:
                return i
        return None

    @property
    def session_filter(self) -> HttpFilter | None:
        i = self.session_filter_index()
        return None if i is None else self.filters[i]


@dataclass(frozen=True)
class FilterChain:
    id: str
    """The chain's name, ``default`` for default_filter_chain, else ``#<index>``."""
    hcm: HttpConnectionManager | None
    inbound: bool


@dataclass(frozen=True)
class Listener:
    name: str
    state: str
    port: int | None
    direction: str
    chains: tuple[FilterChain, ...]
    error: dict[str, Any] | None = None


def _parse_hcm(r: _Reader, tc: dict[str, Any], where: str) -> HttpConnectionManager:
    filters: list[HttpFilter] = []
    for i, raw in enumerate(r.seq(tc.get("http_filters"), f"{where}.http_filters")):
        fw = f"{where}.http_filters[{i}]"
        f = r.obj(raw, fw)
        name = r.text(f.get("name"), f"{fw}.name")
        ftc = r.obj(f.get("typed_config"), f"{fw}.typed_config")
        type_name = _type_name(ftc.get("@type"))
        by_ecds = "config_discovery" in f
        if by_ecds:
            cd = r.obj(f.get("config_discovery"), f"{fw}.config_discovery")
            urls = r.seq(cd.get("type_urls"), f"{fw}.config_discovery.type_urls")
            if any(_type_name(u) == SESSION_FILTER_TYPE for u in urls):
                type_name = SESSION_FILTER_TYPE
        disabled = r.flag(f.get("disabled"), f"{fw}.disabled")
        session = None
        if name == SESSION_FILTER or type_name == SESSION_FILTER_TYPE:
            session = SessionConfig(
                "listener",
                disabled,
                None if by_ecds
                else parse_session_state(r, ftc.get("session_state"), f"{fw}.typed_config.session_state"),
                strict=r.flag(ftc.get("strict"), f"{fw}.typed_config.strict"),
            )
        filters.append(HttpFilter(name, type_name, disabled, by_ecds, session))
    rds_name = None
    if "rds" in tc:
        rds = r.obj(tc.get("rds"), f"{where}.rds")
        rds_name = r.text(rds.get("route_config_name"), f"{where}.rds.route_config_name")
    inline = None
    if "route_config" in tc:
        rc = r.obj(tc.get("route_config"), f"{where}.route_config")
        inline = parse_route_config(r, rc, f"{where}.route_config", static=True)
    return HttpConnectionManager(tuple(filters), rds_name, inline, "scoped_routes" in tc)


def _is_hcm(r: _Reader, f: dict[str, Any], where: str) -> dict[str, Any] | None:
    tc = r.obj(f.get("typed_config"), f"{where}.typed_config")
    if r.text(f.get("name"), f"{where}.name") == HCM_FILTER or _type_name(tc.get("@type")) == HCM_TYPE:
        return tc
    return None


def parse_listener(r: _Reader, entry: ListenerEntry, where: str) -> Listener:
    lst = r.obj(entry.listener, where)
    sa = r.obj(r.obj(lst.get("address"), f"{where}.address").get("socket_address"), f"{where}.address")
    port = sa.get("port_value")
    direction = r.text(lst.get("traffic_direction"), f"{where}.traffic_direction", default="UNSPECIFIED")
    chains: list[FilterChain] = []
    raw_chains: list[tuple[str, object]] = [
        (f"#{i}", c) for i, c in enumerate(r.seq(lst.get("filter_chains"), f"{where}.filter_chains"))
    ]
    if lst.get("default_filter_chain") is not None:
        raw_chains.append(("default", lst.get("default_filter_chain")))
    for cid, raw in raw_chains:
        cw = f"{where}.filter_chains[{cid.lstrip('#')}]" if cid != "default" else f"{where}.default_filter_chain"
        chain = r.obj(raw, cw)
        name = r.text(chain.get("name"), f"{cw}.name")
        hcm = None
        for j, rf in enumerate(r.seq(chain.get("filters"), f"{cw}.filters")):
            fw = f"{cw}.filters[{j}]"
            tc = _is_hcm(r, r.obj(rf, fw), fw)
            if tc is not None:
                hcm = _parse_hcm(r, tc, f"{fw}.typed_config")
        # Istio names sidecar inbound chains "inbound|<port>||…" and "virtualInbound": never
        # expected to carry the session filter (it is outbound/gateway only).
        inbound = name.startswith("inbound") or direction == "INBOUND"
        chains.append(FilterChain(name or cid, hcm, inbound))
    return Listener(entry.name, entry.state, port if isinstance(port, int) else None, direction, tuple(chains),
                    entry.error)


# ---------------------------------------------------------------------------------------------
# Routes


@dataclass(frozen=True)
class Destination:
    cluster: str
    weight: int | None
    """None for a plain route action; the weight for weighted_clusters entries."""
    session: SessionConfig | None
    """The weighted-cluster entry's own session config, if any."""


@dataclass(frozen=True)
class Route:
    id: str
    match: dict[str, Any]
    destinations: tuple[Destination, ...]
    weighted: bool
    session: SessionConfig | None
    hash_policy: bool
    kind: str
    """route | redirect | direct_response | other (cluster_header, …)."""


@dataclass(frozen=True)
class VirtualHost:
    name: str
    domains: tuple[str, ...]
    routes: tuple[Route, ...]
    session: SessionConfig | None


@dataclass(frozen=True)
class RouteConfig:
    name: str
    virtual_hosts: tuple[VirtualHost, ...]
    session: SessionConfig | None
    static: bool


def _session_of(r: _Reader, obj: dict[str, Any], where: str, level: str, filter_names: tuple[str, ...]) -> (
        SessionConfig | None):
    tpfc = r.obj(obj.get("typed_per_filter_config"), f"{where}.typed_per_filter_config")
    for name in filter_names:
        if name in tpfc:
            return parse_per_filter_config(r, tpfc[name], f"{where}.typed_per_filter_config[{name}]", level)
    return None


_SESSION_KEYS = (SESSION_FILTER,)


def parse_route_config(r: _Reader, rc: dict[str, Any], where: str, *, static: bool) -> RouteConfig:
    name = r.text(rc.get("name"), f"{where}.name")
    vhosts: list[VirtualHost] = []
    for i, rv in enumerate(r.seq(rc.get("virtual_hosts"), f"{where}.virtual_hosts")):
        vw = f"{where}.virtual_hosts[{i}]"
        vh = r.obj(rv, vw)
        routes: list[Route] = []
        raw_routes = r.seq(vh.get("routes"), f"{vw}.routes")
        names = [r.obj(x, f"{vw}.routes[{j}]").get("name") for j, x in enumerate(raw_routes)]
        for j, rr in enumerate(raw_routes):
            routes.append(_parse_route(r, r.obj(rr, f"{vw}.routes[{j}]"), f"{vw}.routes[{j}]", j, names))
        domains = tuple(r.text(d, f"{vw}.domains") for d in r.seq(vh.get("domains"), f"{vw}.domains"))
        vhosts.append(VirtualHost(r.text(vh.get("name"), f"{vw}.name") or f"#{i}", domains, tuple(routes),
                                  _session_of(r, vh, vw, "virtual_host", _SESSION_KEYS)))
    return RouteConfig(name, tuple(vhosts), _session_of(r, rc, where, "route_config", _SESSION_KEYS), static)


def _parse_route(r: _Reader, rt: dict[str, Any], where: str, index: int, names: list[object]) -> Route:
    name = rt.get("name")
    rid = name if isinstance(name, str) and name and names.count(name) == 1 else f"#{index}"
    match = r.obj(rt.get("match"), f"{where}.match")
    dests: list[Destination] = []
    weighted = False
    hash_policy = False
    kind = "other"
    if "route" in rt:
        kind = "route"
        action = r.obj(rt.get("route"), f"{where}.route")
        hash_policy = bool(r.seq(action.get("hash_policy"), f"{where}.route.hash_policy"))
        if "cluster" in action:
            dests.append(Destination(r.text(action.get("cluster"), f"{where}.route.cluster"), None, None))
        elif "weighted_clusters" in action:
            weighted = True
            wc = r.obj(action.get("weighted_clusters"), f"{where}.route.weighted_clusters")
            for k, rawc in enumerate(r.seq(wc.get("clusters"), f"{where}.route.weighted_clusters.clusters")):
                cw = f"{where}.route.weighted_clusters.clusters[{k}]"
                c = r.obj(rawc, cw)
                weight = c.get("weight")
                dests.append(Destination(
                    r.text(c.get("name"), f"{cw}.name"),
                    weight if isinstance(weight, int) else None,
                    _session_of(r, c, cw, "weighted_cluster", _SESSION_KEYS),
                ))
        else:
            kind = "other"
    elif "redirect" in rt:
        kind = "redirect"
    elif "direct_response" in rt:
        kind = "direct_response"
    return Route(rid, match, tuple(dests), weighted, _session_of(r, rt, where, "route", _SESSION_KEYS),
                 hash_policy, kind)


# ---------------------------------------------------------------------------------------------
# Clusters and endpoints


@dataclass(frozen=True)
class Cluster:
    name: str
    override_statuses: tuple[str, ...] | None
    """None when override_host_status is unset (Envoy default applies); () when set but empty."""
    lb_policy: str
    static: bool

    @property
    def effective_override_statuses(self) -> tuple[str, ...]:
        return DEFAULT_OVERRIDE_STATUSES if self.override_statuses is None else self.override_statuses


def parse_cluster(r: _Reader, entry: ClusterEntry, where: str) -> Cluster:
    c = entry.cluster
    clb = r.obj(c.get("common_lb_config"), f"{where}.common_lb_config")
    statuses: tuple[str, ...] | None = None
    if "override_host_status" in clb:
        ohs = r.obj(clb.get("override_host_status"), f"{where}.common_lb_config.override_host_status")
        raw = r.seq(ohs.get("statuses"), f"{where}.common_lb_config.override_host_status.statuses")
        statuses = tuple(str(s) for s in raw)
    lb = c.get("lb_policy", "ROUND_ROBIN")
    return Cluster(entry.name, statuses, lb if isinstance(lb, str) else str(lb), entry.static)


@dataclass(frozen=True)
class Endpoint:
    cluster: str
    address: str
    port: int
    health_status: str
    workload: str | None
    """Istio's ``filter_metadata.istio.workload`` (workload;namespace;canonical;revision;cluster)."""

    @property
    def workload_name(self) -> str | None:
        return self.workload.split(";", 1)[0] if self.workload else None


def parse_endpoints(r: _Reader, cla: dict[str, Any], where: str) -> list[Endpoint]:
    cluster = r.text(cla.get("cluster_name"), f"{where}.cluster_name")
    out: list[Endpoint] = []
    for i, loc in enumerate(r.seq(cla.get("endpoints"), f"{where}.endpoints")):
        lw = f"{where}.endpoints[{i}]"
        for j, raw in enumerate(r.seq(r.obj(loc, lw).get("lb_endpoints"), f"{lw}.lb_endpoints")):
            ew = f"{lw}.lb_endpoints[{j}]"
            lbe = r.obj(raw, ew)
            ep = r.obj(lbe.get("endpoint"), f"{ew}.endpoint")
            sa = r.obj(r.obj(ep.get("address"), f"{ew}.endpoint.address").get("socket_address"),
                        f"{ew}.endpoint.address.socket_address")
            if not sa:
                continue  # pipe / envoy internal addresses carry no IP:port session value
            port = sa.get("port_value", 0)
            meta = r.obj(lbe.get("metadata"), f"{ew}.metadata")
            fmeta = r.obj(meta.get("filter_metadata"), f"{ew}.metadata.filter_metadata")
            istio = r.obj(fmeta.get("istio"), f"{ew}.metadata.filter_metadata.istio")
            workload = istio.get("workload")
            out.append(Endpoint(
                cluster,
                r.text(sa.get("address"), f"{ew}.endpoint.address.socket_address.address"),
                port if isinstance(port, int) else 0,
                r.text(lbe.get("health_status"), f"{ew}.health_status", default="UNKNOWN"),
                workload if isinstance(workload, str) else None,
            ))
    return out


# ---------------------------------------------------------------------------------------------
# The proxy


@dataclass(frozen=True)
class ProxyIdentity:
    name: str
    node_id: str | None
    kind: str
    istio_version: str | None
    envoy_version: str | None


@dataclass
class Proxy:
    identity: ProxyIdentity
    sources: tuple[str, ...]
    listeners: list[Listener] = field(default_factory=list)
    route_configs: dict[str, RouteConfig] = field(default_factory=dict)
    clusters: dict[str, Cluster] | None = None
    endpoints: dict[str, list[Endpoint]] | None = None
    has_listeners: bool = False
    has_routes: bool = False
    has_scoped_routes: bool = False

    @property
    def name(self) -> str:
        return self.identity.name


def identity_from_node(node: dict[str, Any] | None, fallback: str) -> ProxyIdentity:
    if not node:
        return ProxyIdentity(fallback, None, "unknown", None, None)
    node_id = node.get("id") if isinstance(node.get("id"), str) else None
    kind = "unknown"
    name = fallback
    if node_id:
        # Istio node ids: <type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>
        parts = node_id.split("~")
        if len(parts) == 4:
            kind = {"router": "router", "sidecar": "sidecar", "waypoint": "waypoint"}.get(parts[0], "unknown")
            name = parts[2] or node_id
        else:
            name = node_id
    meta = node.get("metadata") if isinstance(node.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    istio_version = meta.get("ISTIO_VERSION") if isinstance(meta.get("ISTIO_VERSION"), str) else None
    envoy_version = None
    ubv = node.get("user_agent_build_version")
    if isinstance(ubv, dict) and isinstance(ubv.get("version"), dict):
        v = ubv["version"]
        try:
            envoy_version = f"{int(v.get('major_number', 0))}.{int(v.get('minor_number', 0))}.{int(v.get('patch', 0))}"
        except (TypeError, ValueError):
            envoy_version = None
    return ProxyIdentity(name, node_id, kind, istio_version or None, envoy_version)


def build_proxies(all_parts: list[DumpParts]) -> list[Proxy]:
    """Group inputs into proxies: by bootstrap node id; inputs without one form a single proxy."""
    groups: dict[str, list[DumpParts]] = {}
    anonymous: list[DumpParts] = []
    for p in all_parts:
        node_id = p.node.get("id") if p.node else None
        if isinstance(node_id, str) and node_id:
            groups.setdefault(node_id, []).append(p)
        else:
            anonymous.append(p)
    grouped = list(groups.values())
    if anonymous:
        grouped.append(anonymous)
    return [_build_proxy(g) for g in grouped]


def _proxy_fallback_name(source: str) -> str:
    base = source.rsplit("/", 1)[-1]
    return base or source


def _build_proxy(parts: list[DumpParts]) -> Proxy:
    node = next((p.node for p in parts if p.node), None)
    ident = identity_from_node(node, _proxy_fallback_name(parts[0].source))
    proxy = Proxy(ident, tuple(p.source for p in parts))
    seen_listeners: set[tuple[str, str]] = set()
    for p in parts:
        r = _Reader(p.source)
        proxy.has_listeners |= p.has_listeners
        proxy.has_routes |= p.has_routes
        proxy.has_scoped_routes |= p.has_scoped_routes
        for i, le in enumerate(p.listeners):
            key = (le.name, le.state)
            if key in seen_listeners:
                continue  # the nameless duplicate error_state entry Envoy lists (ISTIO-NOTES, [seen])
            seen_listeners.add(key)
            proxy.listeners.append(parse_listener(r, le, f"listener {le.name or i!s}"))
        for rce in p.route_configs:
            _add_route_config(proxy, r, rce)
        if p.has_clusters:
            if proxy.clusters is None:
                proxy.clusters = {}
            for ce in p.clusters:
                if ce.name not in proxy.clusters or not ce.warming:
                    proxy.clusters[ce.name] = parse_cluster(r, ce, f"cluster {ce.name}")
        if p.has_endpoints:
            if proxy.endpoints is None:
                proxy.endpoints = {}
            for i, cla in enumerate(p.endpoints):
                for ep in parse_endpoints(r, cla, f"endpoints[{i}]"):
                    proxy.endpoints.setdefault(ep.cluster, []).append(ep)
    # Inline route configs (HCM route_config) are served like RDS ones.
    for lst in proxy.listeners:
        for ch in lst.chains:
            if ch.hcm and ch.hcm.inline_route_config is not None:
                rc = ch.hcm.inline_route_config
                proxy.route_configs.setdefault(rc.name or f"inline:{lst.name}/{ch.id}", rc)
                proxy.has_routes = True
    return proxy


def _add_route_config(proxy: Proxy, r: _Reader, rce: RouteConfigEntry) -> None:
    rc = parse_route_config(r, rce.route_config, f"route config {rce.name}", static=rce.static)
    proxy.route_configs.setdefault(rce.name, rc)
