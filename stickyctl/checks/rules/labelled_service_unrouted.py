"""STK0105: a labelled Service that no route in the checked proxies leads to."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import LabelledServiceUnrouted
from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding, Resource

CODE = "STK0105"


def check(ctx: CheckContext) -> Iterator[Finding]:
    if not ctx.services_given or not any(p.has_routes for p in ctx.proxies):
        return
    reached = {d.expectation.service_id for f in ctx.route_facts for d in f.sticky}
    for svc in ctx.labelled:
        if svc.id not in reached:
            message = LabelledServiceUnrouted(svc.obj.kind, svc.id, svc.mode, svc.name)
            yield Finding.of(message, Resource(service=svc.id))
