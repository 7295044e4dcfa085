"""msgspec Structs: typed *partial* views of the Envoy admin config dump.

Only the fields the checks read are declared; msgspec skips everything else while decoding
without building Python objects for it, which is where a plain ``json.load`` of a 100+ MB gateway
dump spends its time and memory. Polymorphic payloads (``typed_config`` of filters, entries of
``typed_per_filter_config``) stay ``msgspec.Raw`` — a view into the input bytes — and only the
session filter's and the HTTP connection manager's are decoded.

Envoy's admin API prints snake_case; ``istioctl proxy-config -o json`` prints protojson
lowerCamelCase. Every Struct here has a camelCase twin built by :func:`camel_variant`, with the
same attribute names, so the model code reads both the same way.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from typing import Any, TypeVar

import msgspec
from msgspec import Raw, Struct, field

ADMIN = "type.googleapis.com/envoy.admin.v3."
NO_RAW = Raw()
"""An absent polymorphic field (msgspec does not allow ``Raw | None``): test with ``len(raw) == 0``."""


class _S(Struct, gc=False):
    """Base: no GC tracking (these views hold no cycles), unknown fields skipped."""


class Head(_S):
    type: str = field(name="@type", default="")


class SocketAddress(_S):
    address: str = ""
    port_value: int | None = None


class Address(_S):
    socket_address: SocketAddress | None = None


# --- HTTP filters and the session filter's configs ------------------------------------------


class ConfigDiscovery(_S):
    type_urls: tuple[str, ...] = ()


class HttpFilter(_S):
    name: str = ""
    typed_config: Raw = NO_RAW
    config_discovery: ConfigDiscovery | None = None
    disabled: bool = False


class Cookie(_S):
    name: str = ""
    path: str = ""
    ttl: str | None = None


class HeaderName(_S):
    name: str = ""


class SessionStateConfig(_S):
    type: str = field(name="@type", default="")
    name: str = ""
    """HeaderBasedSessionState.name"""
    cookie: Cookie | None = None
    """CookieBasedSessionState.cookie"""
    header: HeaderName | None = None
    """EnvelopeSessionState.header"""


class SessionStateExtension(_S):
    name: str = ""
    typed_config: SessionStateConfig | None = None


class StatefulSession(_S):
    type: str = field(name="@type", default="")
    session_state: SessionStateExtension | None = None
    strict: bool = False


class SessionPerRoute(_S):
    """StatefulSessionPerRoute, or envoy.config.route.v3.FilterConfig wrapping one."""

    type: str = field(name="@type", default="")
    disabled: bool = False
    stateful_session: StatefulSession | None = None
    config: Raw = NO_RAW


# --- Routes -------------------------------------------------------------------------------


class PerFilterConfigs(_S):
    """A ``typed_per_filter_config`` map, of which only the session filter's entry is read (the
    other filters' entries are skipped unread; no dict per route). Map keys are filter names, not
    field names: protojson (camelCase) leaves them as they are, and so does the camel twin."""

    stateful_session: Raw = field(name="envoy.filters.http.stateful_session", default=NO_RAW)


class SafeRegex(_S):
    regex: str = ""


class StringMatcher(_S):
    """envoy.type.matcher.v3.StringMatcher (header and query parameter values)."""

    exact: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    contains: str | None = None
    safe_regex: SafeRegex | None = None
    ignore_case: bool = False


class Int64Range(_S):
    """envoy.type.v3.Int64Range; protojson writes int64 as strings."""

    start: int | str = 0
    end: int | str = 0


class HeaderMatcher(_S):
    """envoy.config.route.v3.HeaderMatcher (read by ``stickyctl why``)."""

    name: str = ""
    exact_match: str | None = None
    safe_regex_match: SafeRegex | None = None
    range_match: Int64Range | None = None
    present_match: bool | None = None
    prefix_match: str | None = None
    suffix_match: str | None = None
    contains_match: str | None = None
    string_match: StringMatcher | None = None
    invert_match: bool = False
    treat_missing_header_as_empty: bool = False


class QueryParameterMatcher(_S):
    """envoy.config.route.v3.QueryParameterMatcher."""

    name: str = ""
    string_match: StringMatcher | None = None
    present_match: bool | None = None


class RouteMatch(_S):
    prefix: str | None = None
    path: str | None = None
    safe_regex: SafeRegex | None = None
    path_separated_prefix: str | None = None
    path_match_policy: Raw = NO_RAW
    connect_matcher: Raw = NO_RAW
    case_sensitive: bool | None = None
    headers: tuple[Raw, ...] = ()
    query_parameters: tuple[Raw, ...] = ()
    # Only their presence is read (``stickyctl why`` cannot evaluate them from a request alone).
    runtime_fraction: Raw = NO_RAW
    grpc: Raw = NO_RAW
    tls_context: Raw = NO_RAW
    dynamic_metadata: tuple[Raw, ...] = ()
    filter_state: tuple[Raw, ...] = ()


class WeightedCluster(_S):
    name: str = ""
    weight: int | None = None
    typed_per_filter_config: PerFilterConfigs | None = None
    cluster_header: str | None = None


class WeightedClusters(_S):
    clusters: tuple[WeightedCluster, ...] = ()
    total_weight: int | None = None
    header_name: str | None = None


class RouteAction(_S):
    cluster: str | None = None
    weighted_clusters: WeightedClusters | None = None
    cluster_header: str | None = None
    hash_policy: tuple[Raw, ...] = ()
    cluster_not_found_response_code: str | int | None = None
    cluster_specifier_plugin: Raw = NO_RAW
    inline_cluster_specifier_plugin: Raw = NO_RAW


class RedirectAction(_S):
    """Only the status a redirect answers with (``response_code``, default MOVED_PERMANENTLY)."""

    response_code: str | int | None = None


class DirectResponseAction(_S):
    status: int | None = None


class Route(_S):
    name: str = ""
    match: RouteMatch = field(default_factory=RouteMatch)
    route: RouteAction | None = None
    redirect: Raw = NO_RAW
    direct_response: Raw = NO_RAW
    typed_per_filter_config: PerFilterConfigs | None = None


class VirtualHost(_S):
    name: str = ""
    domains: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    typed_per_filter_config: PerFilterConfigs | None = None


class RouteConfiguration(_S):
    name: str = ""
    virtual_hosts: tuple[VirtualHost, ...] = ()
    typed_per_filter_config: PerFilterConfigs | None = None
    ignore_port_in_host_matching: bool = False


# --- Listeners ------------------------------------------------------------------------------


class Rds(_S):
    route_config_name: str = ""


class HttpConnectionManager(_S):
    type: str = field(name="@type", default="")
    http_filters: tuple[HttpFilter, ...] = ()
    rds: Rds | None = None
    route_config: RouteConfiguration | None = None
    scoped_routes: Raw = NO_RAW
    # How the request's :authority and :path are rewritten before routing (``stickyctl why``).
    strip_matching_host_port: bool = False
    strip_any_host_port: bool = False
    normalize_path: bool | None = None
    merge_slashes: bool = False


class NetworkFilter(_S):
    name: str = ""
    typed_config: Raw = NO_RAW


class CidrRange(_S):
    address_prefix: str = ""
    prefix_len: int | None = None


class FilterChainMatch(_S):
    """envoy.config.listener.v3.FilterChainMatch: what a connection must look like for this chain."""

    destination_port: int | None = None
    prefix_ranges: tuple[CidrRange, ...] = ()
    direct_source_prefix_ranges: tuple[CidrRange, ...] = ()
    source_type: str | int | None = None
    source_prefix_ranges: tuple[CidrRange, ...] = ()
    source_ports: tuple[int, ...] = ()
    server_names: tuple[str, ...] = ()
    transport_protocol: str = ""
    application_protocols: tuple[str, ...] = ()


class FilterChain(_S):
    name: str = ""
    filters: tuple[NetworkFilter, ...] = ()
    filter_chain_match: FilterChainMatch | None = None


class ListenerFilter(_S):
    name: str = ""


class Listener(_S):
    type: str = field(name="@type", default="")
    name: str = ""
    address: Address | None = None
    filter_chains: tuple[FilterChain, ...] = ()
    default_filter_chain: FilterChain | None = None
    traffic_direction: str = "UNSPECIFIED"
    listener_filters: tuple[ListenerFilter, ...] = ()


# --- Clusters and endpoints -----------------------------------------------------------------


class HealthStatusSet(_S):
    statuses: tuple[str, ...] = ()


class CommonLbConfig(_S):
    # Decoded by the model once per distinct value (a few distinct sets on 40k clusters), not as a
    # tuple of strings per cluster.
    override_host_status: Raw = NO_RAW


class Cluster(_S):
    name: str = ""
    lb_policy: str = "ROUND_ROBIN"
    common_lb_config: CommonLbConfig | None = None


class Metadata(_S):
    filter_metadata: dict[str, Raw] | None = None


class IstioEndpointMetadata(_S):
    workload: str | None = None


class InternalAddress(_S):
    """envoy.config.core.v3.EnvoyInternalAddress: an endpoint reached through an internal listener."""

    server_listener_name: str = ""
    endpoint_id: str = ""


class EndpointAddress(_S):
    socket_address: SocketAddress | None = None
    envoy_internal_address: InternalAddress | None = None


class OriginalDstMetadata(_S):
    """``filter_metadata["envoy.filters.listener.original_dst"]`` of an endpoint istiod tunnels over
    HBONE (pilot/pkg/networking/util BuildTunnelMetadataStruct): ``local`` is the address the tunnel
    asks for, ``waypoint`` the waypoint it goes through (set only for a Service's waypoint)."""

    local: str | None = None
    waypoint: str | None = None


class EndpointBody(_S):
    address: EndpointAddress | None = None


class LbEndpoint(_S):
    endpoint: EndpointBody | None = None
    health_status: str = "UNKNOWN"
    metadata: Metadata | None = None


class LocalityEndpoints(_S):
    lb_endpoints: tuple[LbEndpoint, ...] = ()


class ClusterLoadAssignment(_S):
    type: str = field(name="@type", default="")
    cluster_name: str = ""
    endpoints: tuple[LocalityEndpoints, ...] = ()


# --- Admin config dump entries (dispatched by @type) ----------------------------------------


class Bootstrap(_S):
    node: dict[str, Any] | None = None


class BootstrapConfigDump(_S, tag_field="@type", tag=ADMIN + "BootstrapConfigDump"):
    bootstrap: Bootstrap | None = None


class StaticListener(_S, tag_field="@type", tag=ADMIN + "ListenersConfigDump.StaticListener"):
    listener: Listener | None = None


class ListenerState(_S):
    listener: Listener | None = None


class ListenerErrorState(_S):
    failed_configuration: Listener | None = None
    last_update_attempt: str | None = None
    details: str | None = None


class DynamicListener(_S, tag_field="@type", tag=ADMIN + "ListenersConfigDump.DynamicListener"):
    name: str = ""
    active_state: ListenerState | None = None
    warming_state: ListenerState | None = None
    draining_state: ListenerState | None = None
    error_state: ListenerErrorState | None = None


class ListenersConfigDump(_S, tag_field="@type", tag=ADMIN + "ListenersConfigDump"):
    static_listeners: tuple[StaticListener, ...] = ()
    dynamic_listeners: tuple[DynamicListener, ...] = ()


class StaticCluster(_S, tag_field="@type", tag=ADMIN + "ClustersConfigDump.StaticCluster"):
    cluster: Cluster | None = None


class DynamicCluster(_S, tag_field="@type", tag=ADMIN + "ClustersConfigDump.DynamicCluster"):
    cluster: Cluster | None = None


class ClustersConfigDump(_S, tag_field="@type", tag=ADMIN + "ClustersConfigDump"):
    static_clusters: tuple[StaticCluster, ...] = ()
    dynamic_active_clusters: tuple[DynamicCluster, ...] = ()
    dynamic_warming_clusters: tuple[DynamicCluster, ...] = ()


class StaticRouteConfig(_S, tag_field="@type", tag=ADMIN + "RoutesConfigDump.StaticRouteConfig"):
    route_config: RouteConfiguration | None = None


class DynamicRouteConfig(_S, tag_field="@type", tag=ADMIN + "RoutesConfigDump.DynamicRouteConfig"):
    route_config: RouteConfiguration | None = None


class RoutesConfigDump(_S, tag_field="@type", tag=ADMIN + "RoutesConfigDump"):
    static_route_configs: tuple[StaticRouteConfig, ...] = ()
    dynamic_route_configs: tuple[DynamicRouteConfig, ...] = ()


class ScopedRoutesConfigDump(_S, tag_field="@type", tag=ADMIN + "ScopedRoutesConfigDump"):
    inline_scoped_route_configs: tuple[Raw, ...] = ()
    dynamic_scoped_route_configs: tuple[Raw, ...] = ()


class StaticEndpointConfig(_S, tag_field="@type", tag=ADMIN + "EndpointsConfigDump.StaticEndpointConfig"):
    endpoint_config: ClusterLoadAssignment | None = None


class DynamicEndpointConfig(_S, tag_field="@type", tag=ADMIN + "EndpointsConfigDump.DynamicEndpointConfig"):
    endpoint_config: ClusterLoadAssignment | None = None


class EndpointsConfigDump(_S, tag_field="@type", tag=ADMIN + "EndpointsConfigDump"):
    static_endpoint_configs: tuple[StaticEndpointConfig, ...] = ()
    dynamic_endpoint_configs: tuple[DynamicEndpointConfig, ...] = ()


class SecretsConfigDump(_S, tag_field="@type", tag=ADMIN + "SecretsConfigDump"):
    """Declared with no fields so that its content is skipped unread: stickyctl never keeps secrets."""


AdminEntry = (
    BootstrapConfigDump | ListenersConfigDump | ClustersConfigDump | RoutesConfigDump | ScopedRoutesConfigDump
    | EndpointsConfigDump | SecretsConfigDump | StaticListener | DynamicListener | StaticCluster | DynamicCluster
    | StaticRouteConfig | DynamicRouteConfig | StaticEndpointConfig | DynamicEndpointConfig
)


class EcdsConfigDump(_S, tag_field="@type", tag=ADMIN + "EcdsConfigDump"):
    """Extension configs delivered by ECDS: their content is not read (see STK0203)."""


class EcdsFilterConfig(_S, tag_field="@type", tag=ADMIN + "EcdsConfigDump.EcdsFilterConfig"):
    pass


class AdminDump(_S):
    configs: list[Raw] | None = None


# One-pass decoding of a whole admin dump whose entries are all of known types (the usual case);
# anything else falls back to AdminDump and per-entry decoding.
_KNOWN_EXTRA = EcdsConfigDump | EcdsFilterConfig


KnownEntry = AdminEntry | _KNOWN_EXTRA
"""A configs[] entry of a type stickyctl knows (decoded one at a time by ``loader.load_sections``)."""


class FullDump(_S):
    configs: list[KnownEntry] = []


class Probe(_S):
    """Enough of a bare resource (istioctl proxy-config lists) to tell what it is."""

    type: str = field(name="@type", default="")
    name: Raw = NO_RAW
    filter_chains: Raw = NO_RAW
    default_filter_chain: Raw = NO_RAW
    listener_filters: Raw = NO_RAW
    virtual_hosts: Raw = NO_RAW
    cluster_name: Raw = NO_RAW
    endpoints: Raw = NO_RAW
    connect_timeout: Raw = NO_RAW
    lb_policy: Raw = NO_RAW
    eds_cluster_config: Raw = NO_RAW
    load_assignment: Raw = NO_RAW
    common_lb_config: Raw = NO_RAW
    kind: Raw = NO_RAW
    api_version: Raw = field(name="apiVersion", default=NO_RAW)
    configs: Raw = NO_RAW


# --- Variants: camelCase twins, and what `check` skips ---------------------------------------

# Measured (ablate.py check-skips, 40k Services with EDS): 1.10x-1.33x wall.
CHECK_SKIPS = frozenset({
    # EDS: `check` reads no endpoint, and they are a third of a large dump. Each load assignment is
    # kept as the bytes it is (``:raw``, no Struct built): the model looks into the few that tunnel
    # to a waypoint (STK0107) and decodes only those.
    "StaticEndpointConfig.endpoint_config:raw",
    "DynamicEndpointConfig.endpoint_config:raw",
    # Read only by `stickyctl why` (which virtual host a request's :authority selects): a tuple of
    # strings per virtual host, the largest part of a route table no check reads.
    "VirtualHost.domains",
})
"""``Class.field`` names that the decoders of ``check`` skip unread: in those variants the attribute
keeps its default (empty) and its key is never matched, so msgspec skips the value without building
it. ``Class.field:raw``: the value is kept undecoded, as ``msgspec.Raw`` (a view of the input bytes)."""

T = TypeVar("T")
_Skips = frozenset[str]


def _map_type(tp: Any, camel: bool, skip: _Skips) -> Any:
    if isinstance(tp, type) and issubclass(tp, Struct):
        return _variant(tp, camel, skip)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(operator.or_, [_map_type(a, camel, skip) for a in args])
    if origin is list:
        return list.__class_getitem__(_map_type(args[0], camel, skip))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return tuple.__class_getitem__((_map_type(args[0], camel, skip), ...))
    if origin is dict:
        return dict.__class_getitem__((args[0], _map_type(args[1], camel, skip)))
    return tp


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _structs_in(tp: Any) -> list[type]:
    if isinstance(tp, type) and issubclass(tp, Struct):
        return [tp]
    return [s for a in typing.get_args(tp) for s in _structs_in(a)]


@functools.cache
def _reaches(cls: type, owners: frozenset[str]) -> bool:
    """Whether a skipped field sits in ``cls`` or in a Struct it contains (no recursive schemas)."""
    return cls.__name__ in owners or any(_reaches(t, owners) for hint in _hints(cls).values()
                                         for t in _structs_in(hint))


@functools.cache
def _variant(cls: type, camel: bool, skip: _Skips) -> type:
    if not camel and not _reaches(cls, frozenset(name.split(".")[0] for name in skip)):
        return cls  # the snake_case Struct itself
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    fields: list[tuple[str, Any, Any]] = []
    hints = _hints(cls)
    for f in info.fields:
        if f"{cls.__name__}.{f.name}:raw" in skip:
            wire = f.encode_name if f.encode_name != f.name else None
            fields.append((f.name, Raw, field(default=NO_RAW, name=wire) if wire else NO_RAW))
            continue
        if f"{cls.__name__}.{f.name}" in skip:
            # A key no dump has: the value under the real key is skipped, the default kept (an input
            # that did use this key would only fill the field; nothing relies on it being empty).
            explicit: str | None = "stickyctl/skipped/" + f.encode_name
        else:
            # A name given explicitly is the wire name in both styles ("@type", "apiVersion", map keys).
            explicit = f.encode_name if f.encode_name != f.name else None
        default: Any
        if f.default_factory is not msgspec.NODEFAULT:
            default = field(default_factory=f.default_factory, name=explicit)
        elif f.default is not msgspec.NODEFAULT:
            default = field(default=f.default, name=explicit) if explicit else f.default
        else:
            default = field(name=explicit) if explicit else msgspec.NODEFAULT
        if default is msgspec.NODEFAULT:
            fields.append((f.name, _map_type(hints[f.name], camel, skip)))  # type: ignore[arg-type]
        else:
            fields.append((f.name, _map_type(hints[f.name], camel, skip), default))
    config: Any = cls.__struct_config__  # type: ignore[attr-defined]
    tag_field, tag = config.tag_field, config.tag
    # Same class name (plus "Camel"): the loader dispatches entries by it.
    return msgspec.defstruct(cls.__name__ + ("Camel" if camel else ""), fields, rename="camel" if camel else None,
                             tag_field=tag_field, tag=tag if tag_field else None, gc=False, module=__name__)


def variant(tp: Any, *, camel: bool, skip: _Skips = frozenset()) -> Any:
    """``tp`` (a Struct, or a union/container of Structs) for camelCase keys and/or with the fields
    in ``skip`` left unread; the same attribute names as the Struct itself."""
    return _map_type(tp, camel, skip)


def camel_variant(cls: type[T]) -> type[T]:
    """The camelCase-keyed twin of a Struct (same attribute names, protojson field names)."""
    return typing.cast("type[T]", variant(cls, camel=True))
