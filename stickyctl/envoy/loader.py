"""Reading config dumps in every shape users have, into one neutral ``DumpParts``.

Accepted (see ISTIO-NOTES "Config dumps"):
- Envoy admin ``/config_dump`` (snake_case ``configs[]``), with or without ``?include_eds``, as
  JSON or YAML; ``istioctl proxy-config all -o json`` is the same document.
- The flat ``configs[]`` of ``config_dump?resource=…`` (DynamicListener, DynamicRouteConfig,
  DynamicCluster … entries instead of whole *ConfigDump messages).
- ``istioctl proxy-config listener|route|cluster|endpoint -o json|yaml``: camelCase bare lists of
  Listener / RouteConfiguration / Cluster / ClusterLoadAssignment objects.

Emits STK0001 (cannot read) and STK0002 (not a supported dump) as ``InputError``.
``SecretsConfigDump`` entries are skipped unread: stickyctl never needs or keeps secrets.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stickyctl.errors import InputError

ADMIN_V3 = "type.googleapis.com/envoy.admin.v3."
ADMIN_V2 = "type.googleapis.com/envoy.admin.v2alpha."

Json = Any
"""A decoded JSON/YAML value."""


@dataclass
class ListenerEntry:
    name: str
    state: str
    """active | warming | draining | error | static"""
    listener: dict[str, Any] | None
    """The Listener for active/warming/draining/static; the failed config for error."""
    error: dict[str, Any] | None = None
    """``error_state`` as Envoy reports it (failed_configuration, last_update_attempt, details)."""


@dataclass
class RouteConfigEntry:
    name: str
    route_config: dict[str, Any]
    static: bool


@dataclass
class ClusterEntry:
    name: str
    cluster: dict[str, Any]
    static: bool
    warming: bool = False


@dataclass
class DumpParts:
    """What one input file contributes. Presence flags say which kinds the input carried at all."""

    source: str
    node: dict[str, Any] | None = None
    listeners: list[ListenerEntry] = field(default_factory=list)
    route_configs: list[RouteConfigEntry] = field(default_factory=list)
    clusters: list[ClusterEntry] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    has_listeners: bool = False
    has_routes: bool = False
    has_clusters: bool = False
    has_endpoints: bool = False
    has_scoped_routes: bool = False


# ---------------------------------------------------------------------------------------------
# Reading bytes and decoding JSON / YAML

STDIN = "-"


def read_source(path: str) -> bytes:
    """Read a file, `-` (stdin), a pipe or a process substitution; STK0001 when that fails."""
    if path == STDIN:
        return sys.stdin.buffer.read()
    if os.path.isdir(path):
        raise InputError(path, "is a directory, not a config dump file", code="STK0001")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise InputError(path, "no such file", code="STK0001") from None
    except PermissionError:
        raise InputError(path, "permission denied", code="STK0001") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}", code="STK0001") from None


def decode_document(data: bytes, source: str) -> Json:
    """JSON (fast path) or YAML; one clear error naming the byte or line where it broke."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4096]:
        raise InputError(source, "not UTF-8 text (UTF-16 or binary data); re-save the dump as UTF-8")
    stripped = data.lstrip()
    if not stripped:
        raise InputError(source, "empty input, expected an Envoy config dump")
    if stripped[:1] in (b"{", b"["):
        import msgspec

        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise InputError(source, f"invalid JSON: {_clean_msgspec_error(str(exc))}") from None
    return _decode_yaml(data, source)


def _clean_msgspec_error(message: str) -> str:
    # msgspec says "JSON is malformed: invalid character (byte 12)" or "Input data was truncated".
    message = message.replace("Input data was truncated", "truncated (the file ends mid-document)")
    return message[0].lower() + message[1:] if message else message


def _decode_yaml(data: bytes, source: str) -> Json:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(source, f"not UTF-8 text (byte {exc.start})") from None
    try:
        docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(source, f"invalid YAML{where}: {problem}") from None
    if not docs:
        raise InputError(source, "empty input, expected an Envoy config dump")
    if len(docs) == 1:
        return docs[0]
    # Several YAML documents (e.g. `istioctl pc listener -o yaml` of a few proxies concatenated):
    # take them as one bare list of resources.
    out: list[Json] = []
    for d in docs:
        out.extend(d if isinstance(d, list) else [d])
    return out


# ---------------------------------------------------------------------------------------------
# camelCase (istioctl proxy-config, protojson) to snake_case (Envoy admin)

_CAMEL = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+$")
_CAMEL_SPLIT = re.compile(r"(?<=[a-z0-9])([A-Z])")
# Maps whose keys are data, not proto field names: never rename inside their keys.
_OPAQUE_MAPS = frozenset({"filter_metadata", "typed_filter_metadata", "labels", "annotations", "LABELS"})


def _snake(key: str) -> str:
    if _CAMEL.match(key):
        return _CAMEL_SPLIT.sub(lambda m: "_" + m.group(1).lower(), key)
    return key


def to_snake_case(value: Json, *, opaque: bool = False) -> Json:
    if isinstance(value, dict):
        out: dict[str, Json] = {}
        for k, v in value.items():
            nk = k if opaque or not isinstance(k, str) else _snake(k)
            out[nk] = to_snake_case(v, opaque=nk in _OPAQUE_MAPS)
        return out
    if isinstance(value, list):
        return [to_snake_case(v) for v in value]
    return value


_CAMEL_MARKERS = ("typedConfig", "filterChains", "virtualHosts", "dynamicListeners", "dynamicActiveClusters",
                  "dynamicRouteConfigs", "routeConfig", "activeState", "typedPerFilterConfig", "clusterName",
                  "lbEndpoints", "connectTimeout", "httpFilters", "routeConfigName")


def _looks_camel(value: Json, budget: list[int]) -> bool:
    """Find a protojson camelCase field name within the first few hundred keys."""
    if budget[0] <= 0:
        return False
    if isinstance(value, dict):
        for k, v in value.items():
            budget[0] -= 1
            if k in _CAMEL_MARKERS:
                return True
            if _looks_camel(v, budget):
                return True
    elif isinstance(value, list):
        for v in value[:20]:
            if _looks_camel(v, budget):
                return True
    return False


# ---------------------------------------------------------------------------------------------
# Classifying the document


def load_file(path: str) -> DumpParts:
    data = read_source(path)
    source = "stdin" if path == STDIN else path
    return parse_document(decode_document(data, source), source)


def parse_document(doc: Json, source: str) -> DumpParts:
    if _looks_camel(doc, [400]):
        doc = to_snake_case(doc)
    parts = DumpParts(source=source)
    if isinstance(doc, dict) and "configs" in doc:
        configs = doc["configs"]
        if not isinstance(configs, list):
            raise InputError(source, f"'configs' is {_kind(configs)}, expected a list of config dump entries")
        _parse_configs(configs, parts)
    elif isinstance(doc, list):
        _parse_bare_list(doc, parts)
    elif isinstance(doc, dict) and _resource_kind(doc) is not None:
        _parse_bare_list([doc], parts)
    elif isinstance(doc, dict) and isinstance(doc.get("kind"), str) and isinstance(doc.get("apiVersion"), str):
        raise InputError(source, f"is a Kubernetes {doc['kind']} manifest, not an Envoy config dump "
                                 "(pass Services with --services)")
    else:
        raise InputError(source, f"is {_kind(doc)} without 'configs': not an Envoy config dump")
    if not (parts.node or parts.has_listeners or parts.has_routes or parts.has_clusters or parts.has_endpoints):
        raise InputError(source, "holds no bootstrap, listeners, routes, clusters or endpoints to check")
    return parts


def _kind(value: Json) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _as_dict(value: Json, where: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(source, f"{where} is {_kind(value)}, expected an object")
    return value


def _as_list(value: Json, where: str, source: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(source, f"{where} is {_kind(value)}, expected a list")
    return value


def _str(value: Json, where: str, source: str) -> str:
    if not isinstance(value, str):
        raise InputError(source, f"{where} is {_kind(value)}, expected a string")
    return value


def _parse_configs(configs: list[Json], parts: DumpParts) -> None:
    src = parts.source
    known = 0
    for i, entry in enumerate(configs):
        where = f"configs[{i}]"
        entry = _as_dict(entry, where, src)
        type_url = entry.get("@type")
        if not isinstance(type_url, str):
            raise InputError(src, f"{where} has no '@type': not an Envoy admin config dump")
        if type_url.startswith(ADMIN_V2):
            raise InputError(
                src,
                f"legacy v2alpha config dump ({type_url.rsplit('/', 1)[-1]}); record it from an Envoy "
                "with the v3 admin API (Istio 1.6+)",
            )
        if not type_url.startswith(ADMIN_V3):
            continue
        kind = type_url[len(ADMIN_V3):]
        handler = _CONFIG_HANDLERS.get(kind)
        if handler is None:
            continue  # SecretsConfigDump and any type we never read
        known += 1
        handler(entry, where, parts)
    if known == 0:
        raise InputError(src, "no Envoy v3 admin config dump entries in 'configs'")


def _bootstrap(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
    boot = _as_dict(entry.get("bootstrap", {}), f"{where}.bootstrap", parts.source)
    node = boot.get("node")
    if node is not None:
        parts.node = _as_dict(node, f"{where}.bootstrap.node", parts.source)


def _listener_dump(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
    parts.has_listeners = True
    src = parts.source
    for j, s in enumerate(_as_list(entry.get("static_listeners"), f"{where}.static_listeners", src)):
        s = _as_dict(s, f"{where}.static_listeners[{j}]", src)
        _static_listener(s, f"{where}.static_listeners[{j}]", parts)
    for j, d in enumerate(_as_list(entry.get("dynamic_listeners"), f"{where}.dynamic_listeners", src)):
        _dynamic_listener(_as_dict(d, f"{where}.dynamic_listeners[{j}]", src), f"{where}.dynamic_listeners[{j}]", parts)


def _static_listener(s: dict[str, Any], where: str, parts: DumpParts) -> None:
    listener = _as_dict(s.get("listener", {}), f"{where}.listener", parts.source)
    parts.has_listeners = True
    parts.listeners.append(ListenerEntry(name=_listener_name(listener), state="static", listener=listener))


_STATES = (("active_state", "active"), ("warming_state", "warming"), ("draining_state", "draining"))


def _dynamic_listener(d: dict[str, Any], where: str, parts: DumpParts) -> None:
    src = parts.source
    parts.has_listeners = True
    name = d.get("name")
    for key, state in _STATES:
        st = d.get(key)
        if st is None:
            continue
        st = _as_dict(st, f"{where}.{key}", src)
        listener = _as_dict(st.get("listener", {}), f"{where}.{key}.listener", src)
        lname = name if isinstance(name, str) and name else _listener_name(listener)
        parts.listeners.append(ListenerEntry(name=lname, state=state, listener=listener))
    err = d.get("error_state")
    if err is not None:
        err = _as_dict(err, f"{where}.error_state", src)
        failed = err.get("failed_configuration")
        failed = _as_dict(failed, f"{where}.error_state.failed_configuration", src) if failed is not None else None
        # Envoy 1.40 also lists a second entry with no name, only error_state: take the name from the
        # failed configuration and let the model de-duplicate (ISTIO-NOTES, [seen]).
        lname = name if isinstance(name, str) and name else (_listener_name(failed) if failed else "")
        parts.listeners.append(ListenerEntry(name=lname, state="error", listener=failed, error=err))


def _listener_name(listener: dict[str, Any] | None) -> str:
    if not listener:
        return ""
    name = listener.get("name")
    if isinstance(name, str) and name:
        return name
    # Istio's bootstrap listeners (15090 stats, 15021 health) have no name: use the address.
    sa = (listener.get("address") or {}).get("socket_address") or {}
    if isinstance(sa, dict) and "port_value" in sa:
        return f"{sa.get('address', '')}_{sa.get('port_value')}"
    return ""


def _cluster_dump(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
    src = parts.source
    parts.has_clusters = True
    for key, static, warming in (("static_clusters", True, False), ("dynamic_active_clusters", False, False),
                                 ("dynamic_warming_clusters", False, True)):
        for j, c in enumerate(_as_list(entry.get(key), f"{where}.{key}", src)):
            c = _as_dict(c, f"{where}.{key}[{j}]", src)
            _cluster_wrapper(c, f"{where}.{key}[{j}]", parts, static=static, warming=warming)


def _cluster_wrapper(c: dict[str, Any], where: str, parts: DumpParts, *, static: bool, warming: bool) -> None:
    parts.has_clusters = True
    cluster = _as_dict(c.get("cluster", {}), f"{where}.cluster", parts.source)
    name = cluster.get("name")
    if not isinstance(name, str):
        raise InputError(parts.source, f"{where}.cluster has no name")
    parts.clusters.append(ClusterEntry(name=name, cluster=cluster, static=static, warming=warming))


def _route_dump(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
    src = parts.source
    parts.has_routes = True
    for key, static in (("static_route_configs", True), ("dynamic_route_configs", False)):
        for j, r in enumerate(_as_list(entry.get(key), f"{where}.{key}", src)):
            _route_wrapper(_as_dict(r, f"{where}.{key}[{j}]", src), f"{where}.{key}[{j}]", parts, static=static)


def _route_wrapper(r: dict[str, Any], where: str, parts: DumpParts, *, static: bool) -> None:
    parts.has_routes = True
    rc = _as_dict(r.get("route_config", {}), f"{where}.route_config", parts.source)
    name = rc.get("name", "")
    parts.route_configs.append(RouteConfigEntry(name=_str(name, f"{where}.route_config.name", parts.source),
                                                route_config=rc, static=static))


def _scoped_routes(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
    if entry.get("dynamic_scoped_route_configs") or entry.get("inline_scoped_route_configs"):
        parts.has_scoped_routes = True


def _endpoint_dump(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
    src = parts.source
    parts.has_endpoints = True
    for key in ("static_endpoint_configs", "dynamic_endpoint_configs"):
        for j, e in enumerate(_as_list(entry.get(key), f"{where}.{key}", src)):
            _endpoint_wrapper(_as_dict(e, f"{where}.{key}[{j}]", src), f"{where}.{key}[{j}]", parts)


def _endpoint_wrapper(e: dict[str, Any], where: str, parts: DumpParts) -> None:
    parts.has_endpoints = True
    cla = _as_dict(e.get("endpoint_config", {}), f"{where}.endpoint_config", parts.source)
    parts.endpoints.append(cla)


def _flat_dynamic_listener(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
    _dynamic_listener(entry, where, parts)


def _flat_static_listener(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
    _static_listener(entry, where, parts)


def _flat_cluster(static: bool) -> Any:
    def handler(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
        _cluster_wrapper(entry, where, parts, static=static, warming=False)

    return handler


def _flat_route(static: bool) -> Any:
    def handler(entry: dict[str, Any], where: str, parts: DumpParts) -> None:
        _route_wrapper(entry, where, parts, static=static)

    return handler


_CONFIG_HANDLERS: dict[str, Any] = {
    "BootstrapConfigDump": _bootstrap,
    "ListenersConfigDump": _listener_dump,
    "ClustersConfigDump": _cluster_dump,
    "RoutesConfigDump": _route_dump,
    "ScopedRoutesConfigDump": _scoped_routes,
    "EndpointsConfigDump": _endpoint_dump,
    # `config_dump?resource=…` answers with these flat entries (ISTIO-NOTES, [seen]).
    "ListenersConfigDump.DynamicListener": _flat_dynamic_listener,
    "ListenersConfigDump.StaticListener": _flat_static_listener,
    "ClustersConfigDump.DynamicCluster": _flat_cluster(False),
    "ClustersConfigDump.StaticCluster": _flat_cluster(True),
    "RoutesConfigDump.DynamicRouteConfig": _flat_route(False),
    "RoutesConfigDump.StaticRouteConfig": _flat_route(True),
    "EndpointsConfigDump.DynamicEndpointConfig": _endpoint_wrapper,
    "EndpointsConfigDump.StaticEndpointConfig": _endpoint_wrapper,
}


def _resource_kind(obj: dict[str, Any]) -> str | None:
    """Which xDS resource a bare object is (istioctl proxy-config prints them without @type)."""
    t = obj.get("@type")
    if isinstance(t, str):
        for suffix, kind in (("Listener", "listener"), ("RouteConfiguration", "route"), ("Cluster", "cluster"),
                             ("ClusterLoadAssignment", "endpoints")):
            if t.endswith("." + suffix):
                return kind
    if "filter_chains" in obj or "default_filter_chain" in obj or ("address" in obj and "name" in obj
                                                                   and "listener_filters" in obj):
        return "listener"
    if "virtual_hosts" in obj:
        return "route"
    if "cluster_name" in obj and "endpoints" in obj:
        return "endpoints"
    if "name" in obj and any(k in obj for k in ("connect_timeout", "type", "eds_cluster_config", "lb_policy",
                                                 "load_assignment", "cluster_type", "common_lb_config")):
        return "cluster"
    return None


def _parse_bare_list(items: list[Json], parts: DumpParts) -> None:
    src = parts.source
    for i, item in enumerate(items):
        where = f"item [{i}]"
        item = _as_dict(item, where, src)
        kind = _resource_kind(item)
        if kind == "listener":
            parts.has_listeners = True
            # LDS resources are always named; an unnamed listener in a bare list is a bootstrap
            # static one (Istio's 15090 stats and 15021 health listeners have no name).
            named = isinstance(item.get("name"), str) and bool(item.get("name"))
            parts.listeners.append(ListenerEntry(name=_listener_name(item), state="active" if named else "static",
                                                 listener=item))
        elif kind == "route":
            parts.has_routes = True
            name = item.get("name", "")
            parts.route_configs.append(RouteConfigEntry(name=_str(name, f"{where}.name", src), route_config=item,
                                                        static=False))
        elif kind == "cluster":
            parts.has_clusters = True
            parts.clusters.append(ClusterEntry(name=_str(item["name"], f"{where}.name", src), cluster=item,
                                               static=False))
        elif kind == "endpoints":
            parts.has_endpoints = True
            parts.endpoints.append(item)
        elif isinstance(item.get("kind"), str) and "apiVersion" in item:
            raise InputError(src, f"{where} is a Kubernetes {item['kind']}, not an Envoy resource "
                                  "(pass Services with --services)")
        else:
            raise InputError(src, f"{where} is not an Envoy listener, route configuration, cluster or endpoints")


def iter_dicts(value: Json) -> Iterator[dict[str, Any]]:
    """Every dict inside a value, depth first (for small sub-documents only)."""
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from iter_dicts(v)
    elif isinstance(value, list):
        for v in value:
            yield from iter_dicts(v)
