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

from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._helpers import object_resource
from stickyctl.findings import Finding

CODE = "STK0107"

USE_WAYPOINT = "istio.io/use-waypoint"
INGRESS_USE_WAYPOINT = "istio.io/ingress-use-waypoint"


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
        via = "its" if USE_WAYPOINT in obj.labels else f"namespace {obj.namespace}'s"
        if ingress.lower() == "true":
            message = (f"{obj.kind} {svc.id} ({svc.mode} sessions) is behind waypoint {waypoint} ({via} "
                       f"{USE_WAYPOINT}) and has {INGRESS_USE_WAYPOINT}=true: gateways send its requests to the "
                       "waypoint, so a session pins a waypoint replica, not a pod of the Service")
        else:
            message = (f"{obj.kind} {svc.id} ({svc.mode} sessions) is behind waypoint {waypoint} ({via} "
                       f"{USE_WAYPOINT}): mesh requests go through the waypoint, which never carries the session "
                       "filter, so only gateway traffic is sticky")
        yield Finding(CODE, message, object_resource(obj), {"waypoint": waypoint, "ingress_use_waypoint": ingress})
