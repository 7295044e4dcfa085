"""STK0107: ambient: a labelled Service behind a waypoint, where its sessions pin the waypoint.

A waypoint never carries the session filter (listener_builder.go: its HCMs are built with the
SidecarInbound class), and ambient pods have no sidecar of their own: requests that go through a
waypoint are not sticky. ``istio.io/use-waypoint`` on the Service (or its Namespace; ``none`` on
the Service opts out) sends mesh traffic through the waypoint. With ``istio.io/ingress-use-waypoint:
"true"`` (Service, else Namespace; pilot/pkg/serviceregistry/ambient/services.go
``ingressUseWaypointFromLabels``) and ambient on, istiod sends a gateway the waypoint as the
Service's only endpoints, an HBONE tunnel to ``connect_originate``
(pilot/pkg/xds/endpoints/endpoint_builder.go ``BuildClusterLoadAssignment`` ->
``findServiceWaypoint``; recorded from istiod's own code with PILOT_ENABLE_AMBIENT=true:
fixtures/istiod/header-behind-waypoint), so the gateway's session pins a waypoint pod, which then
balances the Service's pods itself. Without ingress-use-waypoint the gateway keeps the pods
(fixtures/istiod/header-use-waypoint-mesh-only).

Two ways to see it: the manifests (the labels, one finding per Service) and the dump itself (a
sticky cluster whose endpoints are waypoint tunnels, one finding per proxy and cluster, unless the
manifests already named that Service).
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import SessionBehindIngressWaypoint, SessionBehindWaypoint, SessionClusterIsWaypoint
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._helpers import object_resource
from stickyctl.envoy.model import Proxy
from stickyctl.findings import Finding, Resource
from stickyctl.istio.labels import INGRESS_USE_WAYPOINT, USE_WAYPOINT
from stickyctl.istio.names import destination_host

CODE = "STK0107"


def _service_of(ctx: CheckContext, cluster: str) -> str | None:
    """The labelled Service (namespace/name) a cluster is for, when --services said so."""
    exp = ctx.expectations.get(destination_host(cluster))
    return exp.service_id if exp is not None and exp.source == "label" else None


def _seen_in_dumps(ctx: CheckContext, service_id: str) -> list[tuple[Proxy, str]]:
    """(proxy, cluster) of the dumps where a sticky cluster of the Service tunnels to a waypoint."""
    return [(proxy, cluster) for (_name, cluster), proxy in sorted(ctx.sticky_clusters.items())
            if proxy.waypoints.get(cluster) and _service_of(ctx, cluster) == service_id]


def _waypoints(proxy: Proxy, cluster: str) -> str:
    tunnels = proxy.waypoints[cluster]
    shown = sorted({f"{t.workload_name} ({t.waypoint})" if t.workload_name else t.waypoint for t in tunnels})
    return ", ".join(shown)


def check(ctx: CheckContext) -> Iterator[Finding]:
    reported: set[str] = set()
    namespaces = {o.name: o.labels for o in ctx.objects if o.kind == "Namespace"}
    for svc in ctx.labelled:
        obj = svc.obj
        ns_labels = namespaces.get(obj.namespace, {})
        waypoint = obj.labels.get(USE_WAYPOINT, ns_labels.get(USE_WAYPOINT, ""))
        if not waypoint or waypoint == "none":
            continue
        ingress = obj.labels.get(INGRESS_USE_WAYPOINT, ns_labels.get(INGRESS_USE_WAYPOINT, ""))
        namespace = None if USE_WAYPOINT in obj.labels else obj.namespace
        found = _seen_in_dumps(ctx, svc.id)
        seen = f"{found[0][0].name} sends {found[0][1]} to {_waypoints(*found[0])}" if found else ""
        if ingress.lower() == "true":
            reported.add(svc.id)
            kind: type[SessionBehindWaypoint | SessionBehindIngressWaypoint] = SessionBehindIngressWaypoint
        else:
            kind = SessionBehindWaypoint
        yield Finding.of(kind(obj.kind, svc.id, svc.mode, waypoint, namespace, ingress, seen), object_resource(obj))
    # The dump alone (without --services, or a Service the manifests do not label for ingress).
    if not any(p.waypoints for p in ctx.proxies):
        return  # no endpoint tunnels to a waypoint: the common case, without sorting every sticky cluster
    for (proxy_name, cluster), proxy in sorted(ctx.sticky_clusters.items()):
        if not proxy.waypoints.get(cluster) or _service_of(ctx, cluster) in reported:
            continue
        names = tuple(sorted({t.waypoint for t in proxy.waypoints[cluster]}))
        yield Finding.of(SessionClusterIsWaypoint(cluster, _waypoints(proxy, cluster), names),
                         Resource(proxy=proxy_name, cluster=cluster))
