"""Which hosts a cluster has, and the health status Envoy judges an override host by.

Envoy honours a pinned host when it is in the cluster's host map and its ``healthStatus()`` is in
``override_host_status`` (HostUtility::selectOverrideHost). ``healthStatus()`` (HostImplBase) is:
UNHEALTHY when active health checking or outlier detection failed it; else the EDS status when that
is UNHEALTHY, DRAINING or TIMEOUT; else DEGRADED when active health checking degraded it; else the
EDS status (UNKNOWN, HEALTHY or DEGRADED).

Two sources, not equally good ([seen] on Envoy 1.40):

- ``GET /clusters?format=json`` (with ``--admin-url``): the runtime view. It has the EDS status as
  sent (``eds_health_status: DRAINING``) and the runtime flags (``failed_outlier_check``,
  ``failed_active_health_check`` …) that config dumps lack.
- EDS in a config dump (``config_dump?include_eds``, ``-f DUMP``): a DRAINING endpoint shows as
  UNHEALTHY and an UNKNOWN one as HEALTHY, and no runtime state: draining cannot be told apart
  from unhealthy there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from stickyctl.envoy.model import Endpoint, Proxy
from stickyctl.envoy.session_values import envoy_upstream, internal_upstream

EDS_FLAGS_UNHEALTHY = ("failed_active_health_check", "failed_outlier_check")
DEGRADED_FLAG = "failed_active_degraded_check"
REPORTED_FLAGS = (*EDS_FLAGS_UNHEALTHY, DEGRADED_FLAG, "pending_dynamic_removal", "pending_active_hc",
                  "excluded_via_immediate_hc_fail", "active_hc_timeout")


# --- /clusters?format=json (admin.v3.Clusters), partial ------------------------------------------


class _SocketAddress(msgspec.Struct, gc=False):
    address: str = ""
    port_value: int | None = None


class _InternalAddress(msgspec.Struct, gc=False):
    server_listener_name: str = ""
    endpoint_id: str = ""


class _Address(msgspec.Struct, gc=False):
    socket_address: _SocketAddress | None = None
    envoy_internal_address: _InternalAddress | None = None


class _HostHealthStatus(msgspec.Struct, gc=False):
    eds_health_status: str = "UNKNOWN"
    failed_active_health_check: bool = False
    failed_outlier_check: bool = False
    failed_active_degraded_check: bool = False
    pending_dynamic_removal: bool = False
    pending_active_hc: bool = False
    excluded_via_immediate_hc_fail: bool = False
    active_hc_timeout: bool = False


class _Stat(msgspec.Struct, gc=False):
    name: str = ""
    value: int | str = 0


class _HostStatus(msgspec.Struct, gc=False):
    address: _Address | None = None
    health_status: _HostHealthStatus = msgspec.field(default_factory=_HostHealthStatus)
    stats: tuple[_Stat, ...] = ()


class _ClusterStatus(msgspec.Struct, gc=False):
    name: str = ""
    host_statuses: tuple[_HostStatus, ...] = ()


class _Clusters(msgspec.Struct, gc=False):
    cluster_statuses: tuple[_ClusterStatus, ...] = ()


@dataclass(frozen=True)
class HostState:
    upstream: str
    """The host as Envoy's ``address()->asString()`` spells it (what session values carry): ``IP:port``,
    or ``envoy://<listener>/<endpoint id>`` for an internal address."""
    status: str
    """The status Envoy compares with override_host_status."""
    eds_status: str
    flags: tuple[str, ...] = ()
    workload: str | None = None
    connect_failures: int = 0
    """``cx_connect_fail`` of the host (runtime source only): connections Envoy could not open."""


@dataclass
class HostIndex:
    """Hosts per cluster from one source; ``None`` for a cluster means "no data about it"."""

    source: str
    """runtime | eds"""
    clusters: dict[str, dict[str, HostState]]
    complete: bool
    """Every cluster of the proxy is listed (a cluster missing here has no hosts)."""

    def hosts(self, cluster: str) -> dict[str, HostState] | None:
        found = self.clusters.get(cluster)
        if found is None and self.complete:
            return {}
        return found

    @property
    def source_text(self) -> str:
        return "/clusters (runtime)" if self.source == "runtime" else "EDS in the dump"


def effective_status(eds: str, flags: tuple[str, ...]) -> str:
    if any(f in flags for f in EDS_FLAGS_UNHEALTHY):
        return "UNHEALTHY"
    if eds in ("UNHEALTHY", "DRAINING", "TIMEOUT"):
        return eds
    if DEGRADED_FLAG in flags:
        return "DEGRADED"
    return eds


def _upstream(address: str, port: int) -> str:
    try:
        return envoy_upstream(address, port)
    except ValueError:
        return f"{address}:{port}"


def _endpoint_upstream(ep: Endpoint) -> str:
    if ep.internal is not None:
        return internal_upstream(ep.internal.listener, ep.internal.endpoint_id)
    return _upstream(ep.address, ep.port)


def _admin_upstream(address: _Address | None) -> str | None:
    if address is None:
        return None
    sa, ia = address.socket_address, address.envoy_internal_address
    if sa is not None and sa.port_value is not None:
        return _upstream(sa.address, sa.port_value)
    if ia is not None and ia.server_listener_name:
        return internal_upstream(ia.server_listener_name, ia.endpoint_id)
    return None


def _workloads(proxy: Proxy) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for cluster, endpoints in (proxy.endpoints or {}).items():
        for ep in endpoints:
            if ep.workload_name:
                out[(cluster, _endpoint_upstream(ep))] = ep.workload_name
    return out


def from_admin_clusters(document: bytes, proxy: Proxy) -> HostIndex:
    """From the body of ``GET /clusters?format=json``; raises ValueError when it is not that."""
    try:
        parsed = msgspec.json.decode(document, type=_Clusters)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(f"not the JSON of /clusters?format=json ({exc})") from None
    workloads = _workloads(proxy)
    clusters: dict[str, dict[str, HostState]] = {}
    for cs in parsed.cluster_statuses:
        hosts = clusters.setdefault(cs.name, {})
        for hs in cs.host_statuses:
            upstream = _admin_upstream(hs.address)
            if upstream is None:
                continue
            h = hs.health_status
            flags = tuple(f for f in REPORTED_FLAGS if getattr(h, f))
            failures = next((_count(st.value) for st in hs.stats if st.name == "cx_connect_fail"), 0)
            hosts[upstream] = HostState(upstream, effective_status(h.eds_health_status, flags), h.eds_health_status,
                                        flags, workloads.get((cs.name, upstream)), failures)
    return HostIndex("runtime", clusters, complete=True)


def _count(value: int | str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def from_dump(proxy: Proxy) -> HostIndex | None:
    """From EDS in the dump; None when the dump has no endpoints at all."""
    if proxy.endpoints is None:
        return None
    clusters: dict[str, dict[str, HostState]] = {}
    for cluster, endpoints in proxy.endpoints.items():
        hosts = clusters.setdefault(cluster, {})
        for ep in endpoints:
            upstream = _endpoint_upstream(ep)
            hosts[upstream] = HostState(upstream, ep.health_status, ep.health_status, (), ep.workload_name)
    # Static clusters' endpoints are listed too; a cluster with no entry has none.
    return HostIndex("eds", clusters, complete=True)


def describe(host: HostState) -> str:
    text = host.status
    if host.eds_status != host.status:
        text += f" (EDS {host.eds_status})"
    extra = [f for f in host.flags if f not in ("pending_active_hc",)]
    if extra:
        text += " [" + ", ".join(extra) + "]"
    return text


def as_json(host: HostState) -> dict[str, Any]:
    return {"address": host.upstream, "status": host.status, "eds_status": host.eds_status, "flags": list(host.flags),
            "workload": host.workload, "connect_failures": host.connect_failures}
