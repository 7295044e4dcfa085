"""STK0106: Gateway API sessionPersistence on routes or policies Istio serves, which Istio ignores.

Istio does not implement Gateway API session persistence (istio/istio#55839): HTTPRoute and
GRPCRoute ``rules[].sessionPersistence`` is read nowhere in pilot, and since 1.26
``XBackendTrafficPolicy.spec.sessionPersistence`` is reported as unsupported in the policy's status
(pilot/pkg/config/kube/gateway/backend_policies.go). Only Istio's routes are Istio's business:
routes attached to a Gateway whose class is one of Istio's (the built-in ``istio``,
``istio-waypoint``, ``istio-remote``, ``istio-east-west`` — pkg/config/constants — need no
GatewayClass object in the manifests; any other class counts when its GatewayClass names one of
Istio's controllers), routes attached to a Service (mesh routes, which Istio serves too), or routes
whose status says an Istio controller accepted them. Routes of other controllers (Envoy Gateway
implements sessionPersistence) are left alone; a route whose parent cannot be resolved from the
manifests is listed as not checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stickyctl.catalog import IstioParent, PolicySessionPersistence, RouteSessionPersistence
from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding, Resource
from stickyctl.istio.manifests import K8sObject

CODE = "STK0106"

ISTIO_GATEWAY_CLASSES = frozenset({"istio", "istio-waypoint", "istio-remote", "istio-east-west"})
ISTIO_CONTROLLERS = frozenset({"istio.io/gateway-controller", "istio.io/mesh-controller",
                               "istio.io/unmanaged-gateway", "istio.io/eastwest-controller"})
_ROUTE_KINDS = frozenset({"HTTPRoute", "GRPCRoute"})
# Gateway API policies with sessionPersistence: XBackendTrafficPolicy (gateway.networking.x-k8s.io)
# and its predecessor BackendLBPolicy. Envoy Gateway's own BackendTrafficPolicy is not Istio's.
_POLICY_KINDS = {"XBackendTrafficPolicy": "gateway.networking.x-k8s.io", "BackendLBPolicy": "gateway.networking.k8s.io"}


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _status_controllers(obj: K8sObject, key: str) -> set[str]:
    status = obj.raw.get("status")
    entries = status.get(key) if isinstance(status, dict) else None
    return {str(e.get("controllerName")) for e in entries if isinstance(e, dict) and e.get("controllerName")} \
        if isinstance(entries, list) else set()


class _Classes:
    def __init__(self, objects: list[K8sObject]) -> None:
        self.controllers = {o.name: str(o.raw.get("spec", {}).get("controllerName", ""))
                            for o in objects if o.kind == "GatewayClass" and isinstance(o.raw.get("spec"), dict)}
        self.gateways: dict[tuple[str, str], str] = {}
        for o in objects:
            spec = o.raw.get("spec") if o.kind == "Gateway" and _group(o.api_version) == "gateway.networking.k8s.io" \
                else None
            if isinstance(spec, dict) and isinstance(spec.get("gatewayClassName"), str):
                self.gateways[(o.namespace, o.name)] = spec["gatewayClassName"]

    def istio_class(self, name: str) -> bool | None:
        if name in self.controllers:
            return self.controllers[name] in ISTIO_CONTROLLERS
        return True if name in ISTIO_GATEWAY_CLASSES else None


def _parents(obj: K8sObject, spec: dict[str, Any], classes: _Classes) -> tuple[list[IstioParent], list[str]]:
    """(parents Istio serves, parents whose controller is unknown)."""
    istio: list[IstioParent] = []
    unknown: list[str] = []
    refs = spec.get("parentRefs")
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
            continue
        kind = ref.get("kind") or "Gateway"
        ns = ref.get("namespace") or obj.namespace
        if kind == "Service" and (ref.get("group") or "") in ("", "core"):
            istio.append(IstioParent("Service", f"{ns}/{ref['name']}"))
            continue
        if kind != "Gateway":
            continue
        cls = classes.gateways.get((ns, ref["name"]))
        verdict = classes.istio_class(cls) if cls is not None else None
        if verdict and cls is not None:
            istio.append(IstioParent("Gateway", f"{ns}/{ref['name']}", cls))
        elif verdict is None:
            unknown.append(f"Gateway {ns}/{ref['name']}" + ("" if cls is None else f" (class {cls})"))
    if not istio and _status_controllers(obj, "parents") & ISTIO_CONTROLLERS:
        istio.append(IstioParent("status"))
        unknown = []
    return istio, unknown


def check(ctx: CheckContext) -> Iterator[Finding]:
    classes: _Classes | None = None
    for obj in ctx.objects:
        if obj.kind not in _ROUTE_KINDS and obj.kind not in _POLICY_KINDS:
            continue
        spec = obj.raw.get("spec")
        if not isinstance(spec, dict):
            continue
        if obj.kind in _POLICY_KINDS:
            if _group(obj.api_version) != _POLICY_KINDS[obj.kind] or not spec.get("sessionPersistence"):
                continue
            others = _status_controllers(obj, "ancestors")
            if others and not others & ISTIO_CONTROLLERS:
                continue  # only another controller reports on it
            policy = PolicySessionPersistence(obj.kind, f"{obj.namespace}/{obj.name}")
            yield Finding.of(policy, Resource(object=obj.ref))
            continue
        rules = spec.get("rules")
        where = [i for i, rule in enumerate(rules) if isinstance(rule, dict)
                 and rule.get("sessionPersistence")] if isinstance(rules, list) else []
        if not where:
            continue
        classes = classes or _Classes(ctx.objects)
        istio, unknown = _parents(obj, spec, classes)
        if istio:
            message = RouteSessionPersistence(obj.kind, f"{obj.namespace}/{obj.name}", tuple(where), tuple(istio))
            yield Finding.of(message, Resource(object=obj.ref))
        elif unknown:
            ctx.not_checked.append(f"{obj.ref} sets sessionPersistence, but whether Istio serves its parent(s) "
                                   f"{', '.join(unknown)} is not known from the manifests (STK0106 not checked)")
