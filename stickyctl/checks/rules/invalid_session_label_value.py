"""STK0102: a session label value is not a valid header/cookie name or Kubernetes label value."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import InvalidLabelValue
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._helpers import object_resource
from stickyctl.envoy.enums import SessionMode
from stickyctl.findings import Finding
from stickyctl.istio.manifests import SERVICE_KINDS, label_value_problem

CODE = "STK0102"


def check(ctx: CheckContext) -> Iterator[Finding]:
    keys = ((ctx.keys.cookie, SessionMode.COOKIE), (ctx.keys.header, SessionMode.HEADER))
    for obj in ctx.objects:
        if obj.kind not in SERVICE_KINDS:
            continue
        labels = obj.labels
        for key, mode in keys:
            value = labels.get(key, "")
            problem = label_value_problem(value, mode) if value else None
            if problem:
                message = InvalidLabelValue(obj.kind, f"{obj.namespace}/{obj.name}", key, value, mode, problem)
                yield Finding.of(message, object_resource(obj))
