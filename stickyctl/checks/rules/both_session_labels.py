"""STK0103: a Service carries both the cookie and the header label (the cookie wins)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import BothLabels
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._helpers import object_resource
from stickyctl.findings import Finding
from stickyctl.istio.manifests import SERVICE_KINDS

CODE = "STK0103"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for obj in ctx.objects:
        labels = obj.labels
        if obj.kind in SERVICE_KINDS and labels.get(ctx.keys.cookie) and labels.get(ctx.keys.header):
            message = BothLabels(obj.kind, f"{obj.namespace}/{obj.name}", ctx.keys.cookie, labels[ctx.keys.cookie],
                                 ctx.keys.header, labels[ctx.keys.header])
            yield Finding.of(message, object_resource(obj))
