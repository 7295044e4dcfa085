"""What a lab gateway is loaded with: designs, the defects (``--break CODE``), fixture scenarios and cases.

One :class:`Design` decides everything istiod would generate for the helloworld sample (listener
filter, per-route session config, clusters, endpoints) and the Kubernetes objects behind it (the
Services manifest). A :class:`Break` is a small change to a design that reproduces one finding code.
Both ``stickyctl lab up --break CODE`` and ``scripts/record_fixtures.py`` build from these, so a
recorded fixture and a running lab cannot drift apart: the fixture scenario ``name-mismatch`` *is*
the header design with the ``STK0302`` break applied.

Pure: building returns dicts and dataclasses; nothing here starts a process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from stickyctl.lab import manifests as m
from stickyctl.lab import xds
from stickyctl.lab.xds import JSON, Endpoint, FilterPlacement, LabPorts, XdsLayout, XdsSnapshot

Builder = Callable[[LabPorts, XdsLayout], XdsSnapshot]
"""What :func:`stickyctl.lab.envoy.start_gateway` and :meth:`LabEnvoy.push` take."""

Mode = Literal["header", "cookie", "consistent-hash"]
"""header / cookie: the helloworld Service carries that session label (istiod generates stateful
session config); consistent-hash: no label, a DestinationRule ``consistentHash.httpHeaderName:
x-session-header`` instead (ring hash, no stateful session) — the seed's contrast."""
MODES: Final[tuple[Mode, ...]] = ("header", "cookie", "consistent-hash")

Topology = Literal[
    "helloworld", "stale-config", "weighted", "weighted-mixed", "subset", "cluster-missing", "virtual-hosts"
]
RouteSession = Literal["label", "none", "disabled"]
"""The route's per-route session config: as the Service's label says, none, or ``disabled: true``."""
ExtraManifest = Literal["invalid-label", "misplaced-label", "unrouted-service", "httproute", "istiod"]

ISTIO_DEFAULT: Final = "istio"
"""``override_host_status`` as istiod sets it: its list on a labelled Service's default cluster, unset elsewhere."""
OverrideHostStatus = tuple[str, ...] | None | Literal["istio"]

CONSISTENT_HASH_HEADER: Final = xds.HEADER_NAME


@dataclass(frozen=True)
class Design:
    """Every knob of the helloworld gateway; the defaults are the seed (header label, Istio 1.24)."""

    mode: Mode = "header"
    route_session: RouteSession = "label"
    session_name: str | None = None
    """The name in the route's session config; None: the label's (``x-session-header`` / ``sticky``)."""
    swap_kind: bool = False
    """Cookie config for a header label, or the reverse."""
    cookie_path: str = "/"
    cookie_ttl: str | None = None
    strict: bool = False
    """Envoy's ``StatefulSession.strict`` (Istio never sets it): 503 instead of re-balancing."""
    filter_placement: FilterPlacement = "before_router"
    pushed_filter_placement: FilterPlacement | None = None
    """A listener pushed after start-up with the filter here (Envoy may reject it)."""
    override_host_status: OverrideHostStatus = ISTIO_DEFAULT
    hash_header: str | None = None
    """A route ``hash_policy`` on this header (consistent-hash mode: ``x-session-header``)."""
    topology: Topology = "helloworld"
    istio_version: str = xds.DEFAULT_ISTIO_VERSION
    both_labels: bool = False
    """The Service carries both labels (istiod: the cookie wins)."""
    extra_manifests: tuple[ExtraManifest, ...] = ()

    # -- what the labels say ------------------------------------------------------------------

    @property
    def label_kind(self) -> Literal["header", "cookie"] | None:
        """The session mode istiod reads from the Service's labels (None: unlabelled)."""
        if self.mode == "consistent-hash":
            return None
        return "cookie" if self.both_labels else self.mode

    @property
    def label_name(self) -> str | None:
        kind = self.label_kind
        return None if kind is None else (xds.HEADER_NAME if kind == "header" else xds.COOKIE_NAME)

    def session_labels(self) -> dict[str, str]:
        if self.mode == "consistent-hash":
            return {}
        if self.both_labels:
            return {m.COOKIE_LABEL: xds.COOKIE_NAME, m.HEADER_LABEL: xds.HEADER_NAME}
        if self.mode == "cookie":
            return {m.COOKIE_LABEL: xds.COOKIE_NAME}
        return {m.HEADER_LABEL: xds.HEADER_NAME}

    # -- xDS ------------------------------------------------------------------------------------

    def session_config(self) -> dict[str, JSON] | None:
        """The route's ``typed_per_filter_config`` (None: none)."""
        kind, name = self.label_kind, self.label_name
        if kind is None or name is None or self.route_session == "none" or self.topology == "weighted-mixed":
            return None  # weighted-mixed: istiod's later nil (the unlabelled destination) wins
        if self.route_session == "disabled":
            return xds.per_route_session(disabled=True)
        if self.swap_kind:
            kind = "cookie" if kind == "header" else "header"
        name = self.session_name or name
        if kind == "header":
            state = xds.header_session_state(name)
        else:
            state = xds.cookie_session_state(name, path=self.cookie_path, ttl=self.cookie_ttl)
        return xds.per_route_session(state, strict=self.strict)

    def override_statuses(self, *, labelled: bool = True) -> Sequence[str] | None:
        if not labelled or self.label_kind is None:
            return None if self.override_host_status == ISTIO_DEFAULT else self._explicit_override()
        if self.override_host_status == ISTIO_DEFAULT:
            return xds.ISTIO_OVERRIDE_HOST_STATUS
        return self._explicit_override()

    def _explicit_override(self) -> Sequence[str] | None:
        value = self.override_host_status
        return None if value is None or isinstance(value, str) else value

    def hash_policy(self) -> list[JSON]:
        header = self.hash_header or (CONSISTENT_HASH_HEADER if self.mode == "consistent-hash" else None)
        return [{"header": {"header_name": header}}] if header else []

    def build(
        self,
        ports: LabPorts,
        layout: XdsLayout,
        endpoints: Sequence[Endpoint] | None = None,
        *,
        filter_placement: FilterPlacement | None = None,
    ) -> XdsSnapshot:
        """The snapshot istiod would push for this design with these helloworld pods (default: the
        seed's 6 replicas on 127.0.0.11–16)."""
        pods = tuple(self.eds(xds.helloworld_endpoints() if endpoints is None else endpoints))
        placement = filter_placement or self.filter_placement
        if self.topology == "helloworld":
            consistent = self.mode == "consistent-hash"
            return xds.helloworld_gateway(
                ports=ports,
                layout=layout,
                session=self.session_config(),
                filter_placement=placement,
                override_host_status=self.override_statuses(),
                hash_policy=self.hash_policy(),
                endpoints=pods,
                ring_hash=consistent,
                destination_rule="helloworld" if consistent else "",
            )
        topology = _TOPOLOGIES[self.topology]
        return topology(self, ports, layout, pods, placement)

    def eds(self, pods: Sequence[Endpoint], *, cookie_labelled: bool | None = None) -> list[Endpoint]:
        """The endpoints istiod sends for these pods: a draining pod (terminating, still serving)
        stays, as DRAINING, only when the Service carries the *cookie* label; istiod drops it for the
        header label and for unlabelled Services (pilot/pkg/xds/endpoints/endpoint_builder.go
        ``filterIstioEndpoint``, every release through 1.31-dev; recorded from istiod's code in
        fixtures/istiod/terminating-header and terminating-cookie). So header sessions move on a
        rollout, cookie sessions hold."""
        if cookie_labelled is None:
            cookie_labelled = m.COOKIE_LABEL in self.session_labels()
        return [p for p in pods if cookie_labelled or p.health_status != "DRAINING"]

    def builder(self, endpoints: Sequence[Endpoint] | None = None) -> Builder:
        def build(ports: LabPorts, layout: XdsLayout) -> XdsSnapshot:
            return self.build(ports, layout, endpoints)

        return build

    def pushed_builder(self, endpoints: Sequence[Endpoint] | None = None) -> Builder | None:
        placement = self.pushed_filter_placement
        if placement is None:
            return None

        def build(ports: LabPorts, layout: XdsLayout) -> XdsSnapshot:
            return self.build(ports, layout, endpoints, filter_placement=placement)

        return build

    @property
    def expect_rejected(self) -> bool:
        """Envoy rejects the pushed listener (the filter after the router)."""
        return self.pushed_filter_placement == "after_router"

    @property
    def serves_hello(self) -> bool:
        """Whether ``/hello`` reaches the helloworld pods (not so when its cluster is missing)."""
        return self.topology != "cluster-missing"

    # -- Kubernetes objects ---------------------------------------------------------------------

    def services(self) -> list[JSON]:
        """The Services (and other objects) behind this design, as ``kubectl get`` shows them."""
        labels = self.session_labels()
        if self.topology in ("weighted", "weighted-mixed"):
            kind_label = next(iter(labels.items()), (m.HEADER_LABEL, xds.HEADER_NAME))
            docs = [
                m.version_service("v1", bool(labels), label=kind_label[0], value=kind_label[1]),
                m.version_service(
                    "v2", bool(labels) and self.topology == "weighted", label=kind_label[0], value=kind_label[1]
                ),
            ]
        elif self.topology == "cluster-missing":
            docs = [m.HW_PLAIN, m.service("cart", "shop", session_labels=labels)]
        else:
            docs = [m.service("helloworld", session_labels=labels)]
            if self.topology == "stale-config":
                docs.append(m.service("other", port=8000))
        for extra in self.extra_manifests:
            docs.extend(_EXTRA_SERVICES.get(extra, ()))
        return docs

    def extra_files(self) -> dict[str, list[JSON]]:
        """Manifests passed with their own option (``--istiod istiod.yaml``)."""
        return {"istiod.yaml": [m.istiod_deployment()]} if "istiod" in self.extra_manifests else {}


_EXTRA_SERVICES: Mapping[str, Sequence[JSON]] = {
    "invalid-label": [m.service("cart", port=8080, session_labels={m.COOKIE_LABEL: "cart:/api"})],
    "misplaced-label": [
        m.helloworld_v1_deployment({m.HEADER_LABEL: xds.HEADER_NAME}),
        m.service("cart", port=8080, session_labels={"istio.io/persistent-session-cookie": "cart"}),
    ],
    "unrouted-service": [m.service("cart", port=8080, session_labels={m.HEADER_LABEL: xds.HEADER_NAME})],
    "httproute": [m.gateway_api_gateway(), m.httproute_with_session_persistence()],
}


# --- topologies other than the seed's single route ----------------------------------------------

_Topology = Callable[[Design, LabPorts, XdsLayout, Sequence[Endpoint], FilterPlacement], XdsSnapshot]


def _of_version(pods: Sequence[Endpoint], version: str) -> list[Endpoint]:
    return [e for e in pods if e.revision == version]


def _stale_config(
    d: Design, ports: LabPorts, layout: XdsLayout, pods: Sequence[Endpoint], placement: FilterPlacement
) -> XdsSnapshot:
    """helloworld (labelled) plus an unlabelled Service ``other:8000`` whose route still carries a
    session config (route ``other``, ``uri: prefix: /other``, same VirtualService)."""
    other = xds.ServiceRef("other", xds.HELLOWORLD_NAMESPACE)
    other_cluster = xds.outbound_cluster_name(8000, other.host)
    hello_cluster = xds.helloworld_cluster_name()
    session = d.session_config()
    routes = [
        xds.route(
            name="hello",
            match=xds.exact_path("/hello"),
            cluster=hello_cluster,
            per_filter_config=session,
            operation=f"{xds.HELLOWORLD.host}:5000/hello",
        ),
        xds.route(
            name="other",
            match=xds.path_prefix("/other"),
            cluster=other_cluster,
            per_filter_config=session,
            operation=f"{other.host}:8000/other*",
        ),
    ]
    other_eps = [
        xds.Endpoint(f"127.0.0.{21 + i}", 8000, "other", xds.HELLOWORLD_NAMESPACE, "other", "latest") for i in range(2)
    ]
    return xds.gateway_snapshot(
        ports=ports,
        layout=layout,
        routes=routes,
        clusters=[
            xds.eds_cluster(
                service=xds.HELLOWORLD, port=5000, layout=layout, override_host_status=d.override_statuses()
            ),
            xds.eds_cluster(service=other, port=8000, layout=layout, override_host_status=None),
        ],
        load_assignments=[
            xds.load_assignment(hello_cluster, pods),
            xds.load_assignment(other_cluster, other_eps),
        ],
        filter_placement=placement,
    )


def _weighted(
    d: Design, ports: LabPorts, layout: XdsLayout, pods: Sequence[Endpoint], placement: FilterPlacement
) -> XdsSnapshot:
    """Route ``hello`` split 90/10 over Services helloworld-v1 / helloworld-v2 (Istio's
    helloworld-versions sample, as a VirtualService with weights); ``weighted-mixed``: v2 unlabelled."""
    v2_cookie = None if d.topology == "weighted" else False
    v1 = xds.ServiceRef("helloworld-v1", xds.HELLOWORLD_NAMESPACE)
    v2 = xds.ServiceRef("helloworld-v2", xds.HELLOWORLD_NAMESPACE)
    c1, c2 = xds.outbound_cluster_name(5000, v1.host), xds.outbound_cluster_name(5000, v2.host)
    hello = xds.route(
        name="hello",
        match=xds.exact_path("/hello"),
        weighted_clusters=[(c1, 90), (c2, 10)],
        per_filter_config=d.session_config(),
        operation=f"{v1.host}:5000/hello",
    )
    return xds.gateway_snapshot(
        ports=ports,
        layout=layout,
        routes=[hello],
        clusters=[
            xds.eds_cluster(service=v1, port=5000, layout=layout, override_host_status=d.override_statuses()),
            xds.eds_cluster(
                service=v2,
                port=5000,
                layout=layout,
                override_host_status=d.override_statuses(labelled=d.topology == "weighted"),
            ),
        ],
        load_assignments=[
            xds.load_assignment(c1, _of_version(pods, "v1")),
            # weighted-mixed: v2 is unlabelled, so istiod drops its draining pods whatever the label kind
            xds.load_assignment(c2, d.eds(_of_version(pods, "v2"), cookie_labelled=v2_cookie)),
        ],
        filter_placement=placement,
    )


def _subset(
    d: Design, ports: LabPorts, layout: XdsLayout, pods: Sequence[Endpoint], placement: FilterPlacement
) -> XdsSnapshot:
    """Route ``hello`` to DestinationRule subset v1: istiod never gives a subset cluster the
    override statuses, while the default cluster (also in CDS) has them."""
    default_cluster = xds.helloworld_cluster_name()
    v1_cluster = xds.helloworld_cluster_name(subset="v1")
    hello = xds.route(
        name="hello",
        match=xds.exact_path("/hello"),
        cluster=v1_cluster,
        per_filter_config=d.session_config(),
        operation=f"{xds.HELLOWORLD.host}:5000/hello",
    )
    return xds.gateway_snapshot(
        ports=ports,
        layout=layout,
        routes=[hello],
        clusters=[
            xds.eds_cluster(
                service=xds.HELLOWORLD, port=5000, layout=layout, override_host_status=d.override_statuses()
            ),
            xds.eds_cluster(
                service=xds.HELLOWORLD,
                port=5000,
                layout=layout,
                subset="v1",
                override_host_status=None,
                destination_rule="helloworld",
            ),
        ],
        load_assignments=[
            xds.load_assignment(default_cluster, pods),
            xds.load_assignment(v1_cluster, _of_version(pods, "v1")),
        ],
        filter_placement=placement,
    )


def _cluster_missing(
    d: Design, ports: LabPorts, layout: XdsLayout, pods: Sequence[Endpoint], placement: FilterPlacement
) -> XdsSnapshot:
    """A sticky route to ``cart.shop:5000`` whose cluster is not in CDS (validate_clusters is off,
    as istiod sets it, so Envoy takes the route); helloworld is unlabelled and unrouted."""
    cart = xds.ServiceRef("cart", "shop")
    hello = xds.route(
        name="hello",
        match=xds.exact_path("/hello"),
        cluster=xds.outbound_cluster_name(5000, cart.host),
        per_filter_config=d.session_config(),
        virtual_service=("shop", "cart"),
        operation=f"{cart.host}:5000/hello",
    )
    return xds.gateway_snapshot(
        ports=ports,
        layout=layout,
        routes=[hello],
        clusters=[xds.eds_cluster(service=xds.HELLOWORLD, port=5000, layout=layout, override_host_status=None)],
        load_assignments=[xds.load_assignment(xds.helloworld_cluster_name(), pods)],
        filter_placement=placement,
    )


VIRTUAL_HOST_DOMAINS: Final = ("hello.example.com", "*.shop.example.com", "api.*", "legacy.example.com:8080")


def _virtual_hosts(
    d: Design, ports: LabPorts, layout: XdsLayout, pods: Sequence[Endpoint], placement: FilterPlacement
) -> XdsSnapshot:
    """A gateway serving named hosts only (no ``*`` virtual host), each leading to helloworld: an exact
    domain, a ``*.suffix`` and a ``prefix.*`` wildcard, and a domain written with a port (which never
    matches: the route configuration ignores the port of the Host). Routes use what Envoy matches on:
    a case-insensitive prefix, a query parameter, a header, a regex; routes without session config
    sit beside routes with one. Used by ``tests/test_why_matrix.py`` (``stickyctl why`` against Envoy)."""
    cluster = xds.helloworld_cluster_name()
    session = d.session_config()

    def to_hello(name: str, match: JSON, sticky: bool = True) -> JSON:
        return xds.route(name=name, match=match, cluster=cluster, per_filter_config=session if sticky else None,
                         operation=f"{xds.HELLOWORLD.host}:5000/{name}")

    hello, shop, api, legacy = VIRTUAL_HOST_DOMAINS
    virtual_hosts = [
        xds.virtual_host(f"{hello}:80", [to_hello("hello", xds.exact_path("/hello"))], domains=(hello,)),
        xds.virtual_host(
            f"{shop}:80",
            [
                to_hello("cart-debug", {"prefix": "/cart", "case_sensitive": False,
                                        "query_parameters": [{"name": "debug", "present_match": True}]}, sticky=False),
                to_hello("cart", {"prefix": "/Cart", "case_sensitive": False}),
                to_hello("hello-canary", {**xds.exact_path("/hello"),
                                          "headers": [{"name": "x-canary", "string_match": {"exact": "yes"}}]}),
                to_hello("hello", xds.exact_path("/hello"), sticky=False),
            ],
            domains=(shop,),
        ),
        xds.virtual_host("api:80", [to_hello("items", {"safe_regex": {"regex": "/items/[0-9]+"}})], domains=(api,)),
        xds.virtual_host(f"{legacy}", [to_hello("legacy", xds.path_prefix("/"))], domains=(legacy,)),
    ]
    listener = xds.gateway_listener(port=ports.gateway, bind_address=ports.address,
                                    http_filters=xds.gateway_http_filters(placement, layout), layout=layout)
    return XdsSnapshot(
        listeners=(listener,),
        route_configs=(xds.route_configuration(xds.GATEWAY_ROUTE_CONFIG, virtual_hosts),),
        clusters=(
            xds.blackhole_cluster(),
            xds.eds_cluster(service=xds.HELLOWORLD, port=5000, layout=layout,
                            override_host_status=d.override_statuses()),
        ),
        load_assignments=(xds.load_assignment(cluster, pods),),
        extension_configs=(xds.ecds_stateful_session_config(),) if placement == "ecds" else (),
    )


_TOPOLOGIES: Mapping[str, _Topology] = {
    "stale-config": _stale_config,
    "weighted": _weighted,
    "weighted-mixed": _weighted,
    "subset": _subset,
    "cluster-missing": _cluster_missing,
    "virtual-hosts": _virtual_hosts,
}


# --- defects: one change to a design per finding code --------------------------------------------

SessionLoss = Literal["always", "on-drain", "sometimes", "after-ttl", "no-traffic", "no"]
"""What a client sees on a lab with the defect: sessions never stick (``always``), move when their pod
drains, move on a share of requests, end after the cookie TTL, no request reaches a pod, or nothing."""

STICKY_MODES: Final[tuple[Mode, ...]] = ("header", "cookie")


@dataclass(frozen=True)
class Break:
    code: str
    what: str
    """One line: what the lab does to reproduce the code."""
    changes: Mapping[str, object]
    loses_sessions: SessionLoss
    modes: tuple[Mode, ...] = STICKY_MODES


BREAKS: Final[dict[str, Break]] = {
    b.code: b
    for b in (
        Break(
            "STK0101",
            "istiod's flag is off: no session filter, no per-route config; istiod.yaml shows the Deployment",
            {"filter_placement": "absent", "route_session": "none", "extra_manifests": ("istiod",)},
            "always",
        ),
        Break(
            "STK0102",
            "the manifests add Service cart with the label value 'cart:/api' (not a valid label value)",
            {"extra_manifests": ("invalid-label",)},
            "no",
            modes=MODES,
        ),
        Break(
            "STK0103",
            "Service helloworld carries both labels: the cookie wins (the lab serves cookie sessions)",
            {"both_labels": True},
            "no",
        ),
        Break(
            "STK0104",
            "the manifests add the header label on a Deployment and a look-alike cookie label key",
            {"extra_manifests": ("misplaced-label",)},
            "no",
            modes=MODES,
        ),
        Break(
            "STK0105",
            "the manifests add a labelled Service cart that no route leads to",
            {"extra_manifests": ("unrouted-service",)},
            "no",
            modes=MODES,
        ),
        Break(
            "STK0106",
            "the manifests add an HTTPRoute with Gateway API sessionPersistence (Istio ignores it)",
            {"extra_manifests": ("httproute",)},
            "no",
            modes=MODES,
        ),
        Break(
            "STK0201",
            "the gateway listener has no stateful_session filter (RDS still carries the session config)",
            {"filter_placement": "absent"},
            "always",
        ),
        Break(
            "STK0202",
            "a listener with the filter after the router is pushed; Envoy rejects it and keeps the old one",
            {"pushed_filter_placement": "after_router"},
            "no",
        ),
        Break(
            "STK0203",
            "the session filter comes by ECDS",
            {"filter_placement": "ecds"},
            "no",
        ),
        Break(
            "STK0204",
            "a listener with the filter after the router is pushed; Envoy rejects it and keeps the old one",
            {"pushed_filter_placement": "after_router"},
            "no",
        ),
        Break("STK0301", "route hello has no per-route session config", {"route_session": "none"}, "always"),
        Break(
            "STK0302",
            "the route's session config names 'x-session', not the label's name",
            {"session_name": "x-session"},
            "always",
        ),
        Break(
            "STK0303",
            "the route's session config is a cookie for the header label (or the reverse)",
            {"swap_kind": True},
            "always",
        ),
        Break("STK0304", "the session filter is disabled on route hello", {"route_session": "disabled"}, "always"),
        Break(
            "STK0305",
            "an unlabelled Service other:8000 gets route /other with session config",
            {"topology": "stale-config"},
            "no",
        ),
        Break(
            "STK0306",
            "route hello is split 90/10 over Services helloworld-v1 / helloworld-v2, both labelled",
            {"topology": "weighted"},
            "sometimes",
        ),
        Break(
            "STK0307",
            "the cookie path is /api, which does not cover /hello",
            {"cookie_path": "/api"},
            "always",
            modes=("cookie",),
        ),
        Break("STK0308", "the cookie TTL is 120s (Istio 1.17–1.21)", {"cookie_ttl": "120s"}, "after-ttl", ("cookie",)),
        Break(
            "STK0309",
            "route hello also has a consistent-hash policy (header x-user)",
            {"hash_header": "x-user"},
            "no",
        ),
        Break(
            "STK0310",
            "route hello is split over a labelled and an unlabelled Service: istiod emits no session config",
            {"topology": "weighted-mixed"},
            "always",
        ),
        Break(
            "STK0401",
            "the cluster's override_host_status is unset (Envoy's default, without DRAINING)",
            {"override_host_status": None},
            "on-drain",
            # Header label: istiod drops draining pods from EDS, DRAINING or not (STK0404).
            modes=("cookie",),
        ),
        Break(
            "STK0402",
            "the cluster's override_host_status is set but empty: Envoy honours no session",
            {"override_host_status": ()},
            "always",
        ),
        Break(
            "STK0403",
            "route hello leads to cluster outbound|5000||cart.shop.svc.cluster.local, which is not in CDS",
            {"topology": "cluster-missing"},
            "no-traffic",
        ),
    )
}


class DesignError(ValueError):
    """Breaks that do not fit the mode or each other."""


def broken(design: Design, *codes: str) -> Design:
    """``design`` with the breaks for ``codes`` applied; raises :class:`DesignError` on an unknown
    code, a code that needs another mode, or two breaks that change the same knob differently."""
    changed: dict[str, object] = {}
    for code in codes:
        spec = BREAKS.get(code.upper())
        if spec is None:
            raise DesignError(f"unknown break {code!r} (available: {', '.join(BREAKS)})")
        if design.mode not in spec.modes:
            raise DesignError(f"{spec.code} needs --mode {' or '.join(spec.modes)}")
        for key, value in spec.changes.items():
            if key == "extra_manifests":
                assert isinstance(value, tuple)
                current = changed.get(key, design.extra_manifests)
                assert isinstance(current, tuple)
                changed[key] = current + tuple(v for v in value if v not in current)
                continue
            if key in changed and changed[key] != value:
                raise DesignError(f"{spec.code} conflicts with another --break (both change {key.replace('_', ' ')})")
            changed[key] = value
    return dataclasses.replace(design, **changed)  # type: ignore[arg-type]


def lab_design(mode: str = "header", breaks: Sequence[str] = (), *, strict: bool = False) -> Design:
    """The design ``stickyctl lab up --mode MODE --break CODE... [--strict]`` runs."""
    if mode not in MODES:
        raise DesignError(f"unknown mode {mode!r} (available: {', '.join(MODES)})")
    if strict and mode == "consistent-hash":
        raise DesignError("--strict applies to stateful sessions (--mode header or cookie)")
    return broken(Design(mode=mode, strict=strict), *breaks)


# --- fixture scenarios: what one Envoy is loaded with to record a dump --------------------------

HEADER: Final = Design()
COOKIE: Final = Design(mode="cookie")


@dataclass(frozen=True)
class Scenario:
    name: str
    design: Design

    @property
    def build(self) -> Builder:
        return self.design.builder()

    @property
    def push(self) -> Builder | None:
        """A second snapshot pushed (atomic file rewrite) after the first one is loaded."""
        return self.design.pushed_builder()

    @property
    def istio_version(self) -> str:
        return self.design.istio_version

    @property
    def expect_rejected(self) -> bool:
        """Envoy is expected to reject (part of) the pushed config; anything else rejected is an error."""
        return self.design.expect_rejected


SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario("header", HEADER),
        Scenario("cookie", COOKIE),
        # 1.21-1.22, flag off: RDS still carries the session config, no filter. Cookie label, because
        # istiod 1.22 sets the override statuses only for the cookie label (header: 1.24+).
        Scenario("filter-missing", broken(Design(mode="cookie", istio_version="1.22.8"), "STK0201")),
        Scenario("flag-off", broken(HEADER, "STK0201", "STK0301")),
        # 1.17-1.20: a gateway with hosts "*" gets no session config at all. Cookie label: istiod 1.20
        # sets the override statuses for it (a header label would leave them unset, and the route to
        # a labelled Service would then also be reported STK0401).
        Scenario("no-route-config", broken(Design(mode="cookie", istio_version="1.20.8"), "STK0301")),
        Scenario("name-mismatch", broken(HEADER, "STK0302")),
        Scenario("mode-mismatch", broken(HEADER, "STK0303")),
        Scenario("disabled", broken(HEADER, "STK0304")),
        Scenario("stale-config", broken(HEADER, "STK0305")),
        Scenario("weighted", broken(HEADER, "STK0306")),
        Scenario("cookie-path", broken(COOKIE, "STK0307")),
        Scenario("cookie-ttl-120s", broken(Design(mode="cookie", istio_version="1.20.8"), "STK0308")),
        Scenario("cookie-no-ttl-1.20", Design(mode="cookie", istio_version="1.20.8")),
        Scenario("consistent-hash", broken(HEADER, "STK0309")),
        Scenario("weighted-mixed", broken(HEADER, "STK0310")),
        Scenario("no-draining", broken(COOKIE, "STK0401")),
        # Cookie label, as fixtures/istiod/subsets-cookie (header: STK0404 instead).
        Scenario("subset", Design(mode="cookie", topology="subset")),
        Scenario("empty-override", broken(HEADER, "STK0402")),
        Scenario("cluster-missing", broken(HEADER, "STK0403")),
        Scenario("filter-after-router", broken(HEADER, "STK0202")),
        Scenario("ecds", broken(HEADER, "STK0203")),
    )
}


# --- fixture cases: a scenario's dump, the manifests it is checked with, the exact findings -----

P: Final = "proxy:istio-ingressgateway-6b7f9c8d5-x7k2p.istio-ingress"
FC: Final = f"{P}/listener:0.0.0.0_8080/filter_chain:#0"
LISTENER: Final = f"{P}/listener:0.0.0.0_8080"
VHOST: Final = f"{P}/route_config:http.8080/virtual_host:*:8080"
ROUTE: Final = f"{VHOST}/route:hello"
CL: Final = f"{P}/cluster:{xds.helloworld_cluster_name()}"
DEFAULT_ARGS: Final = ("-f", "dump.json", "--services", "services.yaml")
DROPPED: Final = ("STK0404", CL)
"""The header label: istiod drops draining pods from EDS (every header case has it)."""


def _dropped(service: str) -> tuple[str, str]:
    return ("STK0404", f"{P}/cluster:outbound|5000||{service}.helloworld.svc.cluster.local")

Derive = Literal["envoy-1.28.8", "legacy-v2alpha"]
"""A scripted edit of the recorded dump (see scripts/record_fixtures.py)."""


@dataclass(frozen=True)
class Case:
    name: str
    scenario: str | None
    findings: Sequence[tuple[str, str]]
    services: Sequence[JSON] | None = None
    """None: the scenario design's own Services."""
    extra_manifests: Mapping[str, Sequence[JSON]] = field(default_factory=dict)
    args: Sequence[str] = DEFAULT_ARGS
    derive: Derive | None = None

    @property
    def manifests(self) -> Sequence[JSON]:
        if self.services is not None:
            return self.services
        return SCENARIOS[self.scenario].design.services() if self.scenario else ()


def _services(design: Design, *codes: str) -> list[JSON]:
    return broken(design, *codes).services()


CASES: Final[tuple[Case, ...]] = (
    Case("pass-helloworld-header", "header", [("STK0601", P), DROPPED]),
    Case("pass-helloworld-header-no-services", "header", [("STK0601", P), DROPPED], services=(),
         args=("-f", "dump.json")),
    Case("pass-helloworld-cookie", "cookie", [("STK0601", P)]),
    Case("STK0201-filter-missing", "filter-missing", [("STK0201", P), ("STK0601", P)]),
    Case("STK0201-STK0301-flag-off", "flag-off", [("STK0201", P), ("STK0301", ROUTE), DROPPED]),
    Case(
        "STK0101-istiod-flag-off",
        "flag-off",
        [("STK0101", "object:Deployment/istio-system/istiod"), ("STK0201", P), ("STK0301", ROUTE), DROPPED],
        extra_manifests=broken(HEADER, "STK0101").extra_files(),
        args=(*DEFAULT_ARGS, "--istiod", "istiod.yaml"),
    ),
    Case("STK0301-no-route-config", "no-route-config", [("STK0301", ROUTE)]),
    Case("STK0302-name-mismatch", "name-mismatch", [("STK0302", ROUTE), ("STK0601", P), DROPPED]),
    Case("STK0303-mode-mismatch", "mode-mismatch", [("STK0303", ROUTE), ("STK0601", P), DROPPED]),
    Case("STK0304-disabled", "disabled", [("STK0304", ROUTE), DROPPED]),
    Case("STK0305-stale-config", "stale-config", [("STK0305", f"{VHOST}/route:other"), ("STK0601", P), DROPPED]),
    Case("STK0306-weighted", "weighted",
         [("STK0306", ROUTE), ("STK0601", P), _dropped("helloworld-v1"), _dropped("helloworld-v2")]),
    Case("STK0307-cookie-path", "cookie-path", [("STK0307", ROUTE), ("STK0601", P)]),
    Case("STK0308-cookie-ttl-120s", "cookie-ttl-120s", [("STK0308", ROUTE), ("STK0601", P)]),
    Case(
        "STK0308-envoy-1.28-ttl-0",
        "cookie-no-ttl-1.20",
        [("STK0308", ROUTE), ("STK0601", P)],
        derive="envoy-1.28.8",
    ),
    Case("STK0309-consistent-hash", "consistent-hash", [("STK0309", ROUTE), ("STK0601", P), DROPPED]),
    Case("STK0310-weighted-mixed", "weighted-mixed", [("STK0310", ROUTE), _dropped("helloworld-v1")]),
    Case("STK0401-no-draining", "no-draining", [("STK0401", CL), ("STK0601", P)]),
    Case(
        "STK0401-subset",
        "subset",
        [("STK0401", f"{P}/cluster:{xds.helloworld_cluster_name(subset='v1')}"), ("STK0601", P)],
    ),
    Case("STK0402-empty-override", "empty-override", [("STK0402", CL), ("STK0601", P), DROPPED]),
    Case("STK0403-cluster-missing", "cluster-missing", [("STK0403", ROUTE), ("STK0601", P)]),
    Case(
        "STK0202-STK0204-filter-after-router",
        "filter-after-router",
        [("STK0204", LISTENER), ("STK0202", FC), ("STK0601", P), DROPPED],
    ),
    Case("STK0203-ecds", "ecds", [("STK0203", FC), ("STK0601", P), DROPPED]),
    Case(
        "STK0102-invalid-label",
        "header",
        [("STK0102", "service:helloworld/cart"), ("STK0601", P), DROPPED],
        _services(HEADER, "STK0102"),
    ),
    Case(
        "STK0103-both-labels",
        "cookie",
        [("STK0103", "service:helloworld/helloworld"), ("STK0601", P)],
        _services(COOKIE, "STK0103"),
    ),
    Case(
        "STK0104-misplaced-label",
        "header",
        [
            ("STK0104", "object:Deployment/helloworld/helloworld-v1"),
            ("STK0104", "object:Service/helloworld/cart"),
            ("STK0601", P),
            DROPPED,
        ],
        _services(HEADER, "STK0104"),
    ),
    Case(
        "STK0105-unrouted-service",
        "header",
        [("STK0105", "service:helloworld/cart"), ("STK0601", P), DROPPED],
        _services(HEADER, "STK0105"),
    ),
    Case(
        "STK0106-gateway-api-session-persistence",
        "header",
        [("STK0106", "object:HTTPRoute/helloworld/helloworld"), ("STK0601", P), DROPPED],
        _services(HEADER, "STK0106"),
    ),
    Case("STK0002-legacy-v2alpha", "header", [("STK0002", "file:dump.json")], derive="legacy-v2alpha"),
    Case("STK0001-missing-file", None, [("STK0001", "file:missing.json")], services=(), args=("-f", "missing.json")),
)
