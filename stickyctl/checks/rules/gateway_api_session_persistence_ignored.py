"""STK0106: Gateway API sessionPersistence in the manifests, which Istio ignores (istio/istio#55839)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding, Resource

CODE = "STK0106"

_ROUTE_KINDS = frozenset({"HTTPRoute", "GRPCRoute"})
_POLICY_KINDS = frozenset({"BackendLBPolicy", "BackendTrafficPolicy"})


def check(ctx: CheckContext) -> Iterator[Finding]:
    for obj in ctx.objects:
        if obj.kind not in _ROUTE_KINDS and obj.kind not in _POLICY_KINDS:
            continue
        spec = obj.raw.get("spec")
        if not isinstance(spec, dict):
            continue
        where: list[str] = []
        if obj.kind in _ROUTE_KINDS and isinstance(spec.get("rules"), list):
            where = [f"rules[{i}]" for i, rule in enumerate(spec["rules"])
                     if isinstance(rule, dict) and rule.get("sessionPersistence")]
        elif obj.kind in _POLICY_KINDS and spec.get("sessionPersistence"):
            where = ["spec"]
        if where:
            yield Finding(CODE, f"{obj.kind} {obj.namespace}/{obj.name} sets sessionPersistence "
                                f"({', '.join(where)}): Istio ignores it, sessions are not sticky",
                          Resource(object=obj.ref))
