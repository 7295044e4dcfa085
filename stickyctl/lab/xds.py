"""Istio-shaped xDS resources and an Envoy bootstrap, for a real Envoy fed from files.

Every function here is pure and returns plain JSON-able dicts in the shape istiod sends to an
ingress gateway (Istio 1.24 by default): listener ``0.0.0.0_8080``, route configuration
``http.8080`` with virtual host ``*:8080``, EDS clusters ``outbound|<port>|<subset>|<fqdn>`` with
``istio`` metadata, endpoints with ``istio.workload`` metadata, and a bootstrap modelled on
pilot-agent's (node identity and metadata, static Prometheus and health listeners). The only
differences from a real gateway are deliberate: config sources are ``path_config_source`` files
(an atomic rename is an istiod push) instead of ADS, sockets bind a loopback address of their own
(names keep Istio's ports), and Istio's own extensions (``istio.metadata_exchange``,
``istio.stats``, ``istio.alpn``) are left out because upstream Envoy does not have them.

The session shapes follow ISTIO-NOTES: an *empty* ``StatefulSession`` HTTP filter right before the
router, per-route ``StatefulSessionPerRoute`` config, and
``override_host_status = [HEALTHY, DRAINING, UNKNOWN, DEGRADED]`` on a labelled Service's default
cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

JSON = dict[str, Any]
"""A JSON object as Envoy's proto3 JSON mapping reads it (snake_case field names)."""

XdsKind = Literal["lds", "cds", "rds", "eds", "ecds"]
FilterPlacement = Literal["before_router", "after_router", "absent", "ecds"]
"""Where the gateway HCM gets ``envoy.filters.http.stateful_session``: Istio's place (right before
the router), after the router (Envoy rejects such a listener), not at all (flag off), or by ECDS."""

_TYPE = "type.googleapis.com/"
LISTENER_TYPE: Final = _TYPE + "envoy.config.listener.v3.Listener"
ROUTE_CONFIGURATION_TYPE: Final = _TYPE + "envoy.config.route.v3.RouteConfiguration"
CLUSTER_TYPE: Final = _TYPE + "envoy.config.cluster.v3.Cluster"
CLUSTER_LOAD_ASSIGNMENT_TYPE: Final = _TYPE + "envoy.config.endpoint.v3.ClusterLoadAssignment"
TYPED_EXTENSION_CONFIG_TYPE: Final = _TYPE + "envoy.config.core.v3.TypedExtensionConfig"
HCM_TYPE: Final = _TYPE + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER_TYPE: Final = _TYPE + "envoy.extensions.filters.http.router.v3.Router"
STATEFUL_SESSION_TYPE: Final = _TYPE + "envoy.extensions.filters.http.stateful_session.v3.StatefulSession"
STATEFUL_SESSION_PER_ROUTE_TYPE: Final = (
    _TYPE + "envoy.extensions.filters.http.stateful_session.v3.StatefulSessionPerRoute"
)
HEADER_SESSION_STATE_TYPE: Final = _TYPE + "envoy.extensions.http.stateful_session.header.v3.HeaderBasedSessionState"
COOKIE_SESSION_STATE_TYPE: Final = _TYPE + "envoy.extensions.http.stateful_session.cookie.v3.CookieBasedSessionState"

HCM_FILTER: Final = "envoy.filters.network.http_connection_manager"
ROUTER_FILTER: Final = "envoy.filters.http.router"
STATEFUL_SESSION_FILTER: Final = "envoy.filters.http.stateful_session"
HEADER_SESSION_STATE: Final = "envoy.http.stateful_session.header"
COOKIE_SESSION_STATE: Final = "envoy.http.stateful_session.cookie"

ISTIO_OVERRIDE_HOST_STATUS: Final[tuple[str, ...]] = ("HEALTHY", "DRAINING", "UNKNOWN", "DEGRADED")
"""What istiod sets on a labelled Service's default cluster (cookie label 1.17.3+, header 1.24+)."""

DEFAULT_ISTIO_VERSION: Final = "1.24.0"
LAB_EPOCH: Final = "2024-11-07T00:00:00Z"
"""Fixed timestamp part of the ``version_info`` strings (istiod writes ``<time>/<push>``), so that
recordings differ only where Envoy itself stamps the time."""

GATEWAY_LISTENER: Final = "0.0.0.0_8080"
GATEWAY_ROUTE_CONFIG: Final = "http.8080"
GATEWAY_VIRTUAL_HOST: Final = "*:8080"
HELLOWORLD_NAMESPACE: Final = "helloworld"
HELLOWORLD_PORT: Final = 5000
HEADER_NAME: Final = "x-session-header"
COOKIE_NAME: Final = "sticky"


# --- identity, ports and file layout -------------------------------------------------------------


@dataclass(frozen=True)
class GatewayIdentity:
    """Who the proxy says it is: the ``node`` of an Istio ingress gateway pod."""

    pod_name: str = "istio-ingressgateway-6b7f9c8d5-x7k2p"
    namespace: str = "istio-ingress"
    pod_ip: str = "10.244.0.7"
    workload_name: str = "istio-ingressgateway"
    istio_version: str = DEFAULT_ISTIO_VERSION
    cluster_id: str = "Kubernetes"
    mesh_id: str = "cluster.local"

    @property
    def node_id(self) -> str:
        # router~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local (pilot-agent's format)
        return f"router~{self.pod_ip}~{self.pod_name}.{self.namespace}~{self.namespace}.svc.cluster.local"

    @property
    def service_cluster(self) -> str:
        return f"{self.workload_name}.{self.namespace}"


@dataclass(frozen=True)
class LabPorts:
    """Where one lab Envoy binds: a loopback address and its ports.

    The lab prefers Istio's own ports on an address of its own (127.0.1.N): admin 15000, gateway
    8080, Prometheus 15090, health 15021, so that dumps look like a gateway's and tools that
    recognise Istio's bootstrap listeners by port see them. :data:`ISTIO_PORTS` is that choice.
    """

    admin: int
    gateway: int
    prometheus: int
    health: int
    address: str = "127.0.0.1"
    agent: int = 15020
    """pilot-agent's status port (on 127.0.0.1) the static ``agent`` cluster points at; nothing listens there."""


ISTIO_PORTS: Final = (15000, 8080, 15090, 15021)
"""admin, gateway, prometheus, health as in an Istio ingress gateway pod."""


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


@dataclass(frozen=True)
class XdsLayout:
    """Where Envoy reads each xDS resource from, relative to its working directory.

    LDS and CDS are state-of-the-world files; RDS, EDS and ECDS subscriptions each want exactly one
    resource per file (Envoy 1.40 rejects an EDS file holding two: "Unexpected EDS resource length"),
    so those get one file per resource name. Each file has its own ``watched_directory``: an atomic
    rename into it is one push that only that subscription sees (a shared directory would make
    every subscription re-read its file on every rename, and a push could not be told done).
    """

    directory: str = "xds"

    def watched_directory(self, kind: XdsKind, name: str = "") -> str:
        if kind in ("lds", "cds"):
            return f"{self.directory}/{kind}"
        if not name:
            raise ValueError(f"{kind} files are per resource: a name is required")
        return f"{self.directory}/{kind}/{_slug(name)}"

    def path(self, kind: XdsKind, name: str = "") -> str:
        return f"{self.watched_directory(kind, name)}/{kind}.json"

    def config_source(self, kind: XdsKind, name: str = "") -> JSON:
        # Istio: {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}
        return {
            "path_config_source": {
                "path": "./" + self.path(kind, name),
                "watched_directory": {"path": "./" + self.watched_directory(kind, name)},
            },
            "initial_fetch_timeout": "0s",
            "resource_api_version": "V3",
        }


# --- HTTP filters and listeners -----------------------------------------------------------------


def typed(type_url: str, **fields: Any) -> JSON:
    return {"@type": type_url, **fields}


def http_filter(name: str, type_url: str, **fields: Any) -> JSON:
    return {"name": name, "typed_config": typed(type_url, **fields)}


def router_filter() -> JSON:
    return http_filter(ROUTER_FILTER, ROUTER_TYPE)


def stateful_session_filter(session_state: JSON | None = None, *, disabled: bool = False) -> JSON:
    """The HCM filter. istiod's is empty: the per-route config carries the session state."""
    config = typed(STATEFUL_SESSION_TYPE)
    if session_state is not None:
        config["session_state"] = session_state
    entry: JSON = {"name": STATEFUL_SESSION_FILTER, "typed_config": config}
    if disabled:
        entry["disabled"] = True
    return entry


def ecds_stateful_session_filter(layout: XdsLayout) -> JSON:
    """The filter delivered by ECDS: ``config_discovery`` instead of ``typed_config``."""
    return {
        "name": STATEFUL_SESSION_FILTER,
        "config_discovery": {
            "config_source": layout.config_source("ecds", STATEFUL_SESSION_FILTER),
            "type_urls": [STATEFUL_SESSION_TYPE],
        },
    }


def ecds_stateful_session_config() -> JSON:
    """The ECDS resource answering :func:`ecds_stateful_session_filter` (empty, as istiod's)."""
    return {
        "@type": TYPED_EXTENSION_CONFIG_TYPE,
        "name": STATEFUL_SESSION_FILTER,
        "typed_config": typed(STATEFUL_SESSION_TYPE),
    }


def gateway_http_filters(placement: FilterPlacement = "before_router", layout: XdsLayout | None = None) -> list[JSON]:
    """A gateway HCM's filters in Istio's order, minus Istio-only extensions."""
    filters = [
        http_filter(
            "envoy.filters.http.grpc_stats",
            _TYPE + "envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
            emit_filter_state=True,
            stats_for_all_methods=False,
        ),
        http_filter("envoy.filters.http.fault", _TYPE + "envoy.extensions.filters.http.fault.v3.HTTPFault"),
        http_filter("envoy.filters.http.cors", _TYPE + "envoy.extensions.filters.http.cors.v3.Cors"),
    ]
    if placement == "before_router":
        filters += [stateful_session_filter(), router_filter()]
    elif placement == "after_router":
        filters += [router_filter(), stateful_session_filter()]
    elif placement == "ecds":
        filters += [ecds_stateful_session_filter(layout or XdsLayout()), router_filter()]
    else:
        filters.append(router_filter())
    return filters


def http_connection_manager(*, stat_prefix: str, rds: JSON, http_filters: Sequence[JSON]) -> JSON:
    return typed(
        HCM_TYPE,
        stat_prefix=stat_prefix,
        rds=rds,
        http_filters=list(http_filters),
        http_protocol_options={},
        server_name="istio-envoy",
        use_remote_address=True,
        forward_client_cert_details="SANITIZE_SET",
        upgrade_configs=[{"upgrade_type": "websocket"}],
        stream_idle_timeout="0s",
        normalize_path=True,
        request_id_extension={
            "typed_config": typed(
                _TYPE + "envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig",
                use_request_id_for_trace_sampling=True,
            )
        },
        path_with_escaped_slashes_action="KEEP_UNCHANGED",
    )


def gateway_listener(
    *,
    port: int,
    http_filters: Sequence[JSON],
    layout: XdsLayout,
    name: str = GATEWAY_LISTENER,
    route_config_name: str = GATEWAY_ROUTE_CONFIG,
    bind_address: str = "127.0.0.1",
) -> JSON:
    """Istio's plain-HTTP gateway listener: one unnamed filter chain, HCM with RDS.

    The name keeps Istio's ``0.0.0.0_8080`` while the socket is a loopback address.
    """
    hcm = http_connection_manager(
        stat_prefix=f"outbound_{name}",
        rds={
            "config_source": layout.config_source("rds", route_config_name),
            "route_config_name": route_config_name,
        },
        http_filters=http_filters,
    )
    return {
        "@type": LISTENER_TYPE,
        "name": name,
        "address": {"socket_address": {"address": bind_address, "port_value": port}},
        "filter_chains": [{"filters": [{"name": HCM_FILTER, "typed_config": hcm}]}],
        "listener_filters_timeout": "0s",
        "traffic_direction": "OUTBOUND",
    }


# --- session state and routes -------------------------------------------------------------------


def header_session_state(name: str = HEADER_NAME) -> JSON:
    return {"name": HEADER_SESSION_STATE, "typed_config": typed(HEADER_SESSION_STATE_TYPE, name=name)}


def cookie_session_state(name: str = COOKIE_NAME, *, path: str = "/", ttl: str | None = None) -> JSON:
    """Istio 1.22+ writes no TTL; 1.17–1.21 hard-coded ``ttl: 120s``."""
    cookie: JSON = {"name": name, "path": path}
    if ttl is not None:
        cookie["ttl"] = ttl
    return {"name": COOKIE_SESSION_STATE, "typed_config": typed(COOKIE_SESSION_STATE_TYPE, cookie=cookie)}


def per_route_session(session_state: JSON | None = None, *, disabled: bool = False, strict: bool = False) -> JSON:
    """``typed_per_filter_config`` for the session filter: a session state, or ``disabled``.

    ``strict``: Envoy's ``StatefulSession.strict`` (Istio never sets it): a pinned host that is not
    available answers 503 instead of being re-balanced.
    """
    if disabled:
        return {STATEFUL_SESSION_FILTER: typed(STATEFUL_SESSION_PER_ROUTE_TYPE, disabled=True)}
    if session_state is None:
        raise ValueError("a per-route session config needs a session state or disabled=True")
    stateful: JSON = {"session_state": session_state}
    if strict:
        stateful["strict"] = True
    return {STATEFUL_SESSION_FILTER: typed(STATEFUL_SESSION_PER_ROUTE_TYPE, stateful_session=stateful)}


def exact_path(path: str) -> JSON:
    """A VirtualService ``uri: {exact: ...}`` match."""
    return {"path": path, "case_sensitive": True}


def path_prefix(prefix: str) -> JSON:
    """A VirtualService ``uri: {prefix: ...}`` match."""
    return {"prefix": prefix, "case_sensitive": True}


def service_fqdn(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.cluster.local"


def outbound_cluster_name(port: int, fqdn: str, subset: str = "") -> str:
    return f"outbound|{port}|{subset}|{fqdn}"


def _istio_retry_policy() -> JSON:
    # istiod's default retry policy (2 attempts, previous_hosts predicate).
    return {
        "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        "num_retries": 2,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": typed(_TYPE + "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"),
            }
        ],
        "host_selection_retry_max_attempts": "5",
        "retriable_status_codes": [503],
    }


def route(
    *,
    name: str | None,
    match: JSON,
    cluster: str | None = None,
    weighted_clusters: Sequence[tuple[str, int]] = (),
    per_filter_config: Mapping[str, JSON] | None = None,
    hash_policy: Sequence[JSON] = (),
    virtual_service: tuple[str, str] = (HELLOWORLD_NAMESPACE, "helloworld"),
    operation: str = "",
) -> JSON:
    """One route as istiod translates a VirtualService http route (``name`` from the VS route)."""
    if (cluster is None) == (not weighted_clusters):
        raise ValueError("give exactly one of cluster or weighted_clusters")
    action: JSON = {}
    if cluster is not None:
        action["cluster"] = cluster
    else:
        action["weighted_clusters"] = {"clusters": [{"name": c, "weight": w} for c, w in weighted_clusters]}
    action["timeout"] = "0s"
    action["retry_policy"] = _istio_retry_policy()
    if hash_policy:
        action["hash_policy"] = list(hash_policy)
    action["max_grpc_timeout"] = "0s"
    vs_namespace, vs_name = virtual_service
    entry: JSON = {}
    if name is not None:
        entry["name"] = name
    entry["match"] = match
    entry["route"] = action
    entry["metadata"] = {
        "filter_metadata": {
            "istio": {"config": f"/apis/networking.istio.io/v1/namespaces/{vs_namespace}/virtual-service/{vs_name}"}
        }
    }
    if operation:
        entry["decorator"] = {"operation": operation}
    if per_filter_config:
        entry["typed_per_filter_config"] = dict(per_filter_config)
    return entry


def virtual_host(name: str, routes: Sequence[JSON], domains: Sequence[str] = ("*",)) -> JSON:
    return {
        "name": name,
        "domains": list(domains),
        "routes": list(routes),
        "include_request_attempt_count": True,
    }


def route_configuration(name: str, virtual_hosts: Sequence[JSON]) -> JSON:
    return {
        "@type": ROUTE_CONFIGURATION_TYPE,
        "name": name,
        "virtual_hosts": list(virtual_hosts),
        # istiod never lets Envoy reject a route for a cluster it has not seen (yet).
        "validate_clusters": False,
        "max_direct_response_body_size_bytes": 1048576,
        "ignore_port_in_host_matching": True,
    }


# --- clusters and endpoints ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceRef:
    """A Kubernetes Service as istiod names it in cluster metadata."""

    name: str
    namespace: str

    @property
    def host(self) -> str:
        return service_fqdn(self.name, self.namespace)


def eds_cluster(
    *,
    service: ServiceRef,
    port: int,
    layout: XdsLayout,
    subset: str = "",
    override_host_status: Sequence[str] | None = ISTIO_OVERRIDE_HOST_STATUS,
    destination_rule: str = "",
    ring_hash: bool = False,
) -> JSON:
    """An ``outbound|port|subset|fqdn`` EDS cluster.

    ``override_host_status``: a sequence of statuses (istiod's list for labelled Services), ``None``
    to leave it unset (Envoy's default ``[UNKNOWN, HEALTHY, DEGRADED]``), or an empty sequence for a
    set-but-empty field (Envoy then honours no override).

    ``ring_hash``: what istiod makes of a DestinationRule ``loadBalancer.consistentHash`` without
    ``ringHash``/``maglev``: ``lb_policy: RING_HASH`` with ``minimum_ring_size`` 1024 (Envoy's default).
    """
    name = outbound_cluster_name(port, service.host, subset)
    istio_md: JSON = {
        "default_original_port": port,
        "services": [{"host": service.host, "name": service.name, "namespace": service.namespace}],
    }
    if destination_rule:
        istio_md["config"] = (
            f"/apis/networking.istio.io/v1/namespaces/{service.namespace}/destination-rule/{destination_rule}"
        )
    if subset:
        istio_md["subset"] = subset
    common_lb: JSON = {"locality_weighted_lb_config": {}}
    if override_host_status is not None:
        statuses = list(override_host_status)
        common_lb["override_host_status"] = {"statuses": statuses} if statuses else {}
    return {
        "@type": CLUSTER_TYPE,
        "name": name,
        "type": "EDS",
        "eds_cluster_config": {"eds_config": layout.config_source("eds", name), "service_name": name},
        "connect_timeout": "10s",
        "lb_policy": "RING_HASH" if ring_hash else "LEAST_REQUEST",
        **({"ring_hash_lb_config": {"minimum_ring_size": "1024"}} if ring_hash else {}),
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": 4294967295,
                    "max_pending_requests": 4294967295,
                    "max_requests": 4294967295,
                    "max_retries": 4294967295,
                    "track_remaining": True,
                }
            ]
        },
        "metadata": {"filter_metadata": {"istio": istio_md}},
        "common_lb_config": common_lb,
    }


def blackhole_cluster() -> JSON:
    """istiod's ``BlackHoleCluster`` (present in every gateway's CDS)."""
    return {"@type": CLUSTER_TYPE, "name": "BlackHoleCluster", "type": "STATIC", "connect_timeout": "10s"}


@dataclass(frozen=True)
class Endpoint:
    """One pod behind a Service: its address and the workload it belongs to."""

    address: str
    port: int
    workload: str
    namespace: str
    canonical_name: str
    revision: str
    cluster_id: str = "Kubernetes"
    health_status: str = "HEALTHY"

    @property
    def istio_workload(self) -> str:
        # workload;namespace;canonical-name;revision;cluster — the workload name, never the pod's
        return f"{self.workload};{self.namespace};{self.canonical_name};{self.revision};{self.cluster_id}"


def helloworld_endpoints(
    *,
    count: int = 6,
    first_host: int = 11,
    port: int = HELLOWORLD_PORT,
    versions: Sequence[str] = ("v1", "v2"),
) -> tuple[Endpoint, ...]:
    """The seed's replicas: 127.0.0.11 .. on ``port``, alternating ``versions``."""
    out = []
    for i in range(count):
        version = versions[i % len(versions)]
        out.append(
            Endpoint(
                address=f"127.0.0.{first_host + i}",
                port=port,
                workload=f"helloworld-{version}",
                namespace=HELLOWORLD_NAMESPACE,
                canonical_name="helloworld",
                revision=version,
            )
        )
    return tuple(out)


def load_assignment(cluster_name: str, endpoints: Iterable[Endpoint]) -> JSON:
    lb_endpoints = [
        {
            "endpoint": {"address": {"socket_address": {"address": e.address, "port_value": e.port}}},
            "health_status": e.health_status,
            "metadata": {"filter_metadata": {"istio": {"workload": e.istio_workload}}},
            "load_balancing_weight": 1,
        }
        for e in endpoints
    ]
    return {
        "@type": CLUSTER_LOAD_ASSIGNMENT_TYPE,
        "cluster_name": cluster_name,
        "endpoints": [{"locality": {}, "lb_endpoints": lb_endpoints, "load_balancing_weight": len(lb_endpoints)}],
    }


# --- a snapshot of everything one proxy gets ----------------------------------------------------


@dataclass(frozen=True)
class XdsSnapshot:
    """The dynamic resources of one proxy, as istiod would push them."""

    listeners: tuple[JSON, ...] = ()
    route_configs: tuple[JSON, ...] = ()
    clusters: tuple[JSON, ...] = ()
    load_assignments: tuple[JSON, ...] = ()
    extension_configs: tuple[JSON, ...] = ()


@dataclass(frozen=True)
class XdsFile:
    """One file Envoy reads: its path (relative to Envoy's directory), kind and resource names."""

    path: str
    kind: XdsKind
    names: tuple[str, ...]
    resources: tuple[JSON, ...] = field(repr=False)

    def discovery_response(self, version_info: str) -> JSON:
        return {"version_info": version_info, "resources": list(self.resources)}


def xds_files(snapshot: XdsSnapshot, layout: XdsLayout) -> list[XdsFile]:
    """The files a snapshot is written to: ordered as istiod pushes (CDS, EDS, LDS, RDS, ECDS)."""
    files = [
        XdsFile(layout.path("cds"), "cds", tuple(c["name"] for c in snapshot.clusters), snapshot.clusters),
    ]
    files += [
        XdsFile(layout.path("eds", cla["cluster_name"]), "eds", (cla["cluster_name"],), (cla,))
        for cla in snapshot.load_assignments
    ]
    files.append(XdsFile(layout.path("lds"), "lds", tuple(x["name"] for x in snapshot.listeners), snapshot.listeners))
    files += [XdsFile(layout.path("rds", rc["name"]), "rds", (rc["name"],), (rc,)) for rc in snapshot.route_configs]
    files += [
        XdsFile(layout.path("ecds", ec["name"]), "ecds", (ec["name"],), (ec,)) for ec in snapshot.extension_configs
    ]
    return files


def version_info(push: int) -> str:
    """istiod-style ``version_info`` (``<time>/<push>``) with a fixed time."""
    return f"{LAB_EPOCH}/{push}"


# --- bootstrap ----------------------------------------------------------------------------------


def gateway_node(identity: GatewayIdentity, ports: LabPorts) -> JSON:
    """The bootstrap ``node`` pilot-agent writes for an ingress gateway pod (a representative subset)."""
    ns = identity.namespace
    return {
        "id": identity.node_id,
        "cluster": identity.service_cluster,
        "metadata": {
            "ANNOTATIONS": {
                "istio.io/rev": "default",
                "kubernetes.io/config.source": "api",
                "prometheus.io/path": "/stats/prometheus",
                "prometheus.io/port": "15020",
                "prometheus.io/scrape": "true",
                "sidecar.istio.io/inject": "false",
            },
            "CLUSTER_ID": identity.cluster_id,
            "ENVOY_PROMETHEUS_PORT": ports.prometheus,
            "ENVOY_STATUS_PORT": ports.health,
            "INSTANCE_IPS": identity.pod_ip,
            "ISTIO_PROXY_SHA": _fake_sha(identity.istio_version),
            "ISTIO_VERSION": identity.istio_version,
            "LABELS": {
                "app": identity.workload_name,
                "istio": "ingressgateway",
                "service.istio.io/canonical-name": identity.workload_name,
                "service.istio.io/canonical-revision": "latest",
                "sidecar.istio.io/inject": "false",
            },
            "MESH_ID": identity.mesh_id,
            "NAME": identity.pod_name,
            "NAMESPACE": ns,
            "NODE_NAME": "kind-control-plane",
            "OWNER": f"kubernetes://apis/apps/v1/namespaces/{ns}/deployments/{identity.workload_name}",
            "PILOT_SAN": ["istiod.istio-system.svc"],
            "PROXY_CONFIG": {
                "binaryPath": "/usr/local/bin/envoy",
                "configPath": "./etc/istio/proxy",
                "controlPlaneAuthPolicy": "MUTUAL_TLS",
                "discoveryAddress": "istiod.istio-system.svc:15012",
                "drainDuration": "45s",
                "proxyAdminPort": 15000,
                "serviceCluster": "istio-proxy",
                "statNameLength": 189,
                "statusPort": 15020,
                "terminationDrainDuration": "5s",
            },
            "SERVICE_ACCOUNT": f"{identity.workload_name}-service-account",
            "UNPRIVILEGED_POD": "true",
            "WORKLOAD_NAME": identity.workload_name,
        },
    }


def _fake_sha(seed: str) -> str:
    return hashlib.sha1(f"istio-proxy {seed}".encode()).hexdigest()


def _static_http_listener(*, address: str, port: int, stat_prefix: str, prefix: str, cluster: str) -> JSON:
    # Istio's bootstrap listeners have no name; istiod never touches them.
    hcm = typed(
        HCM_TYPE,
        stat_prefix=stat_prefix,
        route_config={
            "virtual_hosts": [
                {
                    "name": "backend",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": prefix}, "route": {"cluster": cluster}}],
                }
            ]
        },
        http_filters=[router_filter()],
    )
    return {
        "address": {"socket_address": {"address": address, "port_value": port}},
        "filter_chains": [{"filters": [{"name": HCM_FILTER, "typed_config": hcm}]}],
    }


def _static_cluster(name: str, address: str, port: int) -> JSON:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.250s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}}}
                    ]
                }
            ],
        },
    }


def bootstrap(*, identity: GatewayIdentity, ports: LabPorts, layout: XdsLayout) -> JSON:
    """pilot-agent's bootstrap, cut down: node, static stats/health listeners, LDS/CDS from files."""
    return {
        "node": gateway_node(identity, ports),
        "static_resources": {
            "listeners": [
                _static_http_listener(
                    address=ports.address,
                    port=ports.prometheus,
                    stat_prefix="stats",
                    prefix="/stats/prometheus",
                    cluster="prometheus_stats",
                ),
                _static_http_listener(
                    address=ports.address,
                    port=ports.health,
                    stat_prefix="agent",
                    prefix="/healthz/ready",
                    cluster="agent",
                ),
            ],
            "clusters": [
                _static_cluster("prometheus_stats", ports.address, ports.admin),
                _static_cluster("agent", "127.0.0.1", ports.agent),
            ],
        },
        "dynamic_resources": {
            "lds_config": layout.config_source("lds"),
            "cds_config": layout.config_source("cds"),
        },
        "admin": {
            "access_log": [
                {
                    "name": "envoy.access_loggers.file",
                    "typed_config": typed(
                        _TYPE + "envoy.extensions.access_loggers.file.v3.FileAccessLog", path="/dev/null"
                    ),
                }
            ],
            "address": {"socket_address": {"address": ports.address, "port_value": ports.admin}},
        },
        "layered_runtime": {
            "layers": [
                {
                    "name": "global config",
                    "static_layer": {"overload.global_downstream_max_connections": "2147483647"},
                },
                {"name": "admin", "admin_layer": {}},
            ]
        },
    }


# --- the seed: Istio's helloworld sample behind the ingress gateway -----------------------------

HELLOWORLD = ServiceRef("helloworld", HELLOWORLD_NAMESPACE)


def helloworld_cluster_name(service: ServiceRef = HELLOWORLD, subset: str = "") -> str:
    return outbound_cluster_name(HELLOWORLD_PORT, service.host, subset)


def gateway_snapshot(
    *,
    ports: LabPorts,
    layout: XdsLayout,
    routes: Sequence[JSON],
    clusters: Sequence[JSON],
    load_assignments: Sequence[JSON],
    filter_placement: FilterPlacement = "before_router",
) -> XdsSnapshot:
    """An ingress gateway with one plain-HTTP server on port 8080 and hosts ``*``: listener
    ``0.0.0.0_8080``, route configuration ``http.8080`` with the one virtual host ``*:8080`` holding
    ``routes``, and ``BlackHoleCluster`` next to ``clusters``."""
    return XdsSnapshot(
        listeners=(
            gateway_listener(
                port=ports.gateway,
                bind_address=ports.address,
                http_filters=gateway_http_filters(filter_placement, layout),
                layout=layout,
            ),
        ),
        route_configs=(route_configuration(GATEWAY_ROUTE_CONFIG, [virtual_host(GATEWAY_VIRTUAL_HOST, routes)]),),
        clusters=(blackhole_cluster(), *clusters),
        load_assignments=tuple(load_assignments),
        extension_configs=(ecds_stateful_session_config(),) if filter_placement == "ecds" else (),
    )


def helloworld_gateway(
    *,
    ports: LabPorts,
    layout: XdsLayout,
    session: Mapping[str, JSON] | None = None,
    filter_placement: FilterPlacement = "before_router",
    override_host_status: Sequence[str] | None = ISTIO_OVERRIDE_HOST_STATUS,
    hash_policy: Sequence[JSON] = (),
    endpoints: Sequence[Endpoint] | None = None,
    ring_hash: bool = False,
    destination_rule: str = "",
) -> XdsSnapshot:
    """The seed: VirtualService ``helloworld`` (route ``hello``, ``uri: exact: /hello``) to Service
    ``helloworld:5000`` with 6 replicas, behind an ingress gateway with hosts ``*``.

    ``session`` is the route's ``typed_per_filter_config`` (see :func:`per_route_session`); ``None``
    gives a route without one. The defaults of the other knobs are what Istio 1.24 with
    ``PILOT_ENABLE_PERSISTENT_SESSION_FILTER=true`` generates for a labelled Service. ``endpoints``
    defaults to the seed's 6 replicas (:func:`helloworld_endpoints`); ``ring_hash`` and
    ``destination_rule`` give the cluster a DestinationRule's consistent-hash load balancer.
    """
    cluster = helloworld_cluster_name()
    hello = route(
        name="hello",
        match=exact_path("/hello"),
        cluster=cluster,
        per_filter_config=session,
        hash_policy=hash_policy,
        operation=f"{HELLOWORLD.host}:{HELLOWORLD_PORT}/hello",
    )
    return gateway_snapshot(
        ports=ports,
        layout=layout,
        routes=[hello],
        clusters=[
            eds_cluster(
                service=HELLOWORLD,
                port=HELLOWORLD_PORT,
                layout=layout,
                override_host_status=override_host_status,
                ring_hash=ring_hash,
                destination_rule=destination_rule,
            )
        ],
        load_assignments=[load_assignment(cluster, helloworld_endpoints() if endpoints is None else endpoints)],
        filter_placement=filter_placement,
    )
