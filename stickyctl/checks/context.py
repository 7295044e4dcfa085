"""What every rule reads, computed once per run: proxies, sticky Services, and per-route facts.

The per-route facts carry the *effective* session config for each destination and, for sticky
destinations, its verdict, both decided by ``stickyctl.envoy.sessions`` as Envoy does. Everything
is indexed once, so rules stay linear in routes and clusters.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from stickyctl.envoy.enums import ListenerState, SessionMode, StrEnum
from stickyctl.envoy.model import (
    Cluster,
    HttpConnectionManager,
    Listener,
    Proxy,
    Route,
    RouteConfig,
    SessionConfig,
    SessionState,
    View,
    VirtualHost,
)
from stickyctl.envoy.sessions import SessionVerdict, effective_session, session_verdict
from stickyctl.findings import Resource
from stickyctl.istio.labels import LabelKeys
from stickyctl.istio.manifests import (
    SERVICE_KINDS,
    IstiodSettings,
    K8sObject,
    LabelledService,
    ServiceIndex,
    session_label,
)
from stickyctl.istio.names import destination_host, parse_cluster_name

# Istio's bootstrap (not istiod) defines these HTTP listeners: Prometheus stats and health.
# istiod never adds the session filter to them (ISTIO-NOTES, "HTTP filter").
ISTIO_BOOTSTRAP_PORTS = frozenset({15090, 15021})
CHECKED_LISTENER_STATES = (ListenerState.ACTIVE, ListenerState.WARMING)
"""istiod's listeners that serve, or are about to: the ones the filter checks read."""


class ExpectationSource(StrEnum):
    """Where a sticky destination's expected session comes from."""

    LABEL = "label"
    """The Service's session label (--services given): the label decides."""
    DUMP = "dump"
    """Inferred from the session config the dump's routes carry (no --services): the most common one."""


class Expectation(View, frozen=True):
    """What a sticky destination's session config must be."""

    mode: SessionMode
    name: str
    service_id: str
    source: ExpectationSource
    kind: str
    """Service | ServiceEntry (from a label) | host (inferred from the dump)."""


class DestinationFact(View, frozen=True):
    """A destination of a route that is not a sticky Service."""

    cluster: str
    host: str
    effective: SessionConfig | None
    not_given: bool = False
    """--services was given but holds no Service or ServiceEntry for this host: whether it is
    labelled is unknown, which is not the same as unlabelled."""
    expectation: None = None
    verdict: None = None


class StickyDestination(View, frozen=True):
    """A destination of a route that is a sticky Service (labelled, or inferred from the dump)."""

    cluster: str
    host: str
    effective: SessionConfig | None
    expectation: Expectation
    verdict: SessionVerdict
    not_given: bool = False


class RouteFact(View, frozen=True):
    proxy: Proxy
    route_config: RouteConfig
    virtual_host: VirtualHost
    route: Route
    hcm: HttpConnectionManager | None
    destinations: tuple[DestinationFact | StickyDestination, ...]
    sticky: tuple[StickyDestination, ...]
    """The destinations that are sticky Services (labelled, or inferred from the dump)."""
    active_sessions: tuple[tuple[SessionConfig, SessionState], ...]
    """Effective configs under which Envoy issues and honours session values on this route, each with
    its session state."""

    @property
    def resource(self) -> Resource:
        return Resource(
            proxy=self.proxy.name,
            route_config=self.route_config.name,
            virtual_host=self.virtual_host.name,
            route=self.route.id,
        )



@dataclass
class CheckContext:
    proxies: list[Proxy]
    objects: list[K8sObject] = field(default_factory=list)
    services_given: bool = False
    keys: LabelKeys = field(default_factory=LabelKeys)
    istiod: list[IstiodSettings] = field(default_factory=list)
    labelled: list[LabelledService] = field(default_factory=list)
    route_facts: list[RouteFact] = field(default_factory=list)
    expectations: dict[str, Expectation] = field(default_factory=dict)
    """Sticky destination host -> expectation (from labels, or inferred from the dump)."""
    not_checked: list[str] = field(default_factory=list)
    """What rules could not check, in words (listed in the report's ``not_checked``, never passed)."""

    @functools.cached_property
    def sticky_clusters(self) -> dict[tuple[str, str], Proxy]:
        out: dict[tuple[str, str], Proxy] = {}
        for fact in self.route_facts:
            for d in fact.sticky:
                out.setdefault((fact.proxy.name, d.cluster), fact.proxy)
        return out

    @functools.cached_property
    def by_verdict(self) -> dict[SessionVerdict, list[tuple[RouteFact, StickyDestination]]]:
        """Sticky destinations grouped by verdict, computed once for STK0301–STK0304."""
        out: dict[SessionVerdict, list[tuple[RouteFact, StickyDestination]]] = {}
        label = ExpectationSource.LABEL  # read once, not per destination (see stickyctl.envoy.enums)
        for fact in self.route_facts:
            if lost_to_weighted_mix(fact):
                continue  # STK0310 names this case precisely
            for d in fact.sticky:
                if d.expectation.source != label:
                    # Inferred from the dump itself: no label says which config is meant, so a
                    # route that differs from the others is STK0312's warning, never an error
                    # against a name guessed from the majority (Envoy Gateway configures sessions
                    # per route, differently by design).
                    continue
                out.setdefault(d.verdict, []).append((fact, d))
        return out

    @functools.cached_property
    def _facts_by_proxy(self) -> dict[int, list[RouteFact]]:
        out: dict[int, list[RouteFact]] = {}
        for fact in self.route_facts:
            out.setdefault(id(fact.proxy), []).append(fact)
        return out

    def facts_of(self, proxy: Proxy) -> list[RouteFact]:
        """``proxy``'s route facts, in ``route_facts`` order: grouped once, so that a per-proxy walk
        of a fleet costs its own routes, not every proxy's routes once per proxy."""
        return self._facts_by_proxy.get(id(proxy), [])

    def checked_listeners(self, proxy: Proxy) -> list[Listener]:
        return [lst for lst in proxy.listeners if lst.state in CHECKED_LISTENER_STATES]

    def cluster(self, proxy: Proxy, name: str) -> Cluster | None:
        return None if proxy.clusters is None else proxy.clusters.get(name)


def _hcm_by_route_config(proxy: Proxy) -> dict[str, HttpConnectionManager]:
    out: dict[str, HttpConnectionManager] = {}
    for lst in proxy.listeners:
        if lst.state not in CHECKED_LISTENER_STATES and lst.state != ListenerState.STATIC:
            continue
        for ch in lst.chains:
            if ch.hcm is None:
                continue
            if ch.hcm.rds_name is not None:
                out.setdefault(ch.hcm.rds_name, ch.hcm)
            if ch.hcm.inline_route_config is not None:
                out.setdefault(ch.hcm.inline_route_config.name or f"inline:{lst.name}/{ch.id}", ch.hcm)
    return out


_ServedRoute = tuple[Proxy, RouteConfig, VirtualHost, Route, HttpConnectionManager | None,
                     list[tuple[str, str, SessionConfig | None]]]


def _served_routes(proxies: list[Proxy]) -> Iterator[_ServedRoute]:
    for proxy in proxies:
        hcms = _hcm_by_route_config(proxy)
        for rc_key, rc in proxy.route_configs.items():
            hcm = hcms.get(rc_key)
            for vh in rc.virtual_hosts:
                for route in vh.routes:
                    yield proxy, rc, vh, route, hcm, [
                        (d.cluster, destination_host(d.cluster), effective_session(d.session, route, vh, rc, hcm))
                        for d in route.destinations]


def build_context(proxies: list[Proxy], objects: list[K8sObject], *, services_given: bool, keys: LabelKeys,
                  istiod_objects: list[K8sObject]) -> CheckContext:
    from stickyctl.istio.manifests import istiod_settings

    istiod = [s for s in (istiod_settings(o) for o in istiod_objects) if s is not None]
    # istiod reads its label keys from PILOT_PERSISTENT_SESSION_LABEL / _HEADER_LABEL
    # (pilot/pkg/features/experimental.go): with --istiod, those keys are the ones that count,
    # unless --cookie-label/--header-label said otherwise.
    istiod_keys = {LabelKeys(cookie=s.cookie_key, header=s.header_key) for s in istiod}
    if keys == LabelKeys() and len(istiod_keys) == 1:
        keys = istiod_keys.pop()
    ctx = CheckContext(proxies=proxies, objects=objects, services_given=services_given, keys=keys)
    ctx.istiod = istiod
    ctx.labelled = [s for s in (session_label(o, keys) for o in objects if o.kind in SERVICE_KINDS) if s]
    index = ServiceIndex(ctx.labelled, [o for o in objects if o.kind in SERVICE_KINDS])

    # Every served route with the effective config per destination.
    raw = _served_routes(proxies)
    # Sticky destinations: from labels when Services were given; otherwise inferred from the
    # session config the dump carries (the most common config per host is taken as intended).
    expectations = ctx.expectations
    if services_given:
        # One lookup per distinct host; the routes are walked once (a generator, not a list).
        looked_up: dict[str, Expectation | None] = {}
        label = ExpectationSource.LABEL  # read once, not per host (see stickyctl.envoy.enums)

        def expectation(host: str) -> Expectation | None:
            if host in looked_up:
                return looked_up[host]
            svc = index.lookup(host)
            exp = None if svc is None else Expectation(svc.mode, svc.name, svc.id, label, svc.obj.kind)
            looked_up[host] = exp
            if exp is not None:
                expectations[host] = exp
            return exp
    else:
        routes = list(raw)  # walked twice: votes first
        raw = iter(routes)
        votes: dict[str, Counter[tuple[SessionMode, str]]] = {}
        for *_route, dests in routes:
            for _cluster, host, eff in dests:
                if eff is not None and eff.active and eff.state is not None:
                    votes.setdefault(host, Counter())[(eff.state.mode, eff.state.name)] += 1
        for host, counter in votes.items():
            (mode, name), _n = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            expectations[host] = Expectation(mode, name, host, ExpectationSource.DUMP, "host")

        def expectation(host: str) -> Expectation | None:
            return expectations.get(host)

    append = ctx.route_facts.append
    for proxy, rc, vh, route, hcm, dests in raw:
        facts: list[DestinationFact | StickyDestination] = []
        sticky: list[StickyDestination] = []
        active: list[tuple[SessionConfig, SessionState]] = []
        for c, h, e in dests:
            exp = expectation(h)
            if exp is None:
                unknown = services_given and names_a_service(c) and not index.given(h)
                facts.append(DestinationFact(c, h, e, unknown))
            else:
                fact = StickyDestination(c, h, e, exp, session_verdict(exp.mode, exp.name, e))
                sticky.append(fact)
                facts.append(fact)
            if e is not None and not e.disabled and e.state is not None:
                active.append((e, e.state))
        append(RouteFact(proxy, rc, vh, route, hcm, tuple(facts), tuple(sticky), tuple(active)))
    return ctx


ISTIO_SPECIAL_CLUSTERS = frozenset({"BlackHoleCluster", "PassthroughCluster", "InboundPassthroughCluster",
                                    "InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6"})


def names_a_service(cluster: str) -> bool:
    """Whether a destination cluster stands for a Service or ServiceEntry the manifests could hold:
    Istio's outbound clusters, and clusters of other control planes (named their own way); not
    Istio's inbound clusters (the pod itself) nor its passthrough and black-hole clusters."""
    parsed = parse_cluster_name(cluster)
    if parsed is not None:
        return parsed.direction == "outbound" and bool(parsed.host)
    return cluster not in ISTIO_SPECIAL_CLUSTERS


def lost_to_weighted_mix(fact: RouteFact) -> bool:
    """STK0310's case: a weighted split over labelled and unlabelled destinations with no config at
    any route level (istiod keeps the last destination's config, here none)."""
    if not fact.route.weighted:
        return False
    sticky = fact.sticky
    if not sticky or len(sticky) == len(fact.destinations):
        return False
    if any(d.not_given for d in fact.destinations):
        return False  # the other destination may be labelled too: not known
    if any(d.expectation.source != ExpectationSource.LABEL for d in sticky):
        return False  # without labels nothing is known to be unlabelled: STK0312 compares the routes
    return all(d.effective is None or (not d.effective.disabled and d.effective.state is None)
               for d in fact.destinations)
