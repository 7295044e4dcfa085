"""STK0107: ambient: a labelled Service behind a waypoint, where its sessions pin the waypoint.

A waypoint never carries the session filter (listener_builder.go: its HCMs are built with the
SidecarInbound class), and ambient pods have no sidecar of their own: requests that go through a
waypoint are not sticky. ``istio.io/use-waypoint`` on the Service (or its Namespace; ``none`` on
the Service opts out) sends mesh traffic through the waypoint. With ``istio.io/ingress-use-waypoint:
"true"`` (Service or Namespace; pilot/pkg/serviceregistry/ambient/services.go
``ingressUseWaypointFromLabels``) the gateway's EDS for the Service holds the waypoint instead of the
pods (pilot/pkg/xds/endpoints/endpoint_builder.go, the ingress-to-waypoint endpoints), so the
gateway's session pins a waypoint replica, not the application pod.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import SessionBehindIngressWaypoint, SessionBehindWaypoint
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._helpers import object_resource
from stickyctl.findings import Finding
from stickyctl.istio.labels import INGRESS_USE_WAYPOINT, USE_WAYPOINT

CODE = "STK0107"


def check(ctx: CheckContext) -> Iterator[Finding]:
    if not ctx.labelled:
        return
    namespaces = {o.name: o.labels for o in ctx.objects if o.kind == "Namespace"}
    for svc in ctx.labelled:
        obj = svc.obj
        ns_labels = namespaces.get(obj.namespace, {})
        waypoint = obj.labels.get(USE_WAYPOINT, ns_labels.get(USE_WAYPOINT, ""))
        if not waypoint or waypoint == "none":
            continue
        ingress = obj.labels.get(INGRESS_USE_WAYPOINT, ns_labels.get(INGRESS_USE_WAYPOINT, ""))
        namespace = None if USE_WAYPOINT in obj.labels else obj.namespace
        kind = SessionBehindIngressWaypoint if ingress.lower() == "true" else SessionBehindWaypoint
        yield Finding.of(kind(obj.kind, svc.id, svc.mode, waypoint, namespace, ingress), object_resource(obj))
