"""STK0306: a weighted route with a sticky destination (envoyproxy/envoy#24741)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import WeightedRouteSticky
from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding

CODE = "STK0306"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact in ctx.route_facts:
        if not fact.route.weighted or not fact.sticky:
            continue
        if not any(d.effective is not None and d.effective.active for d in fact.sticky):
            continue
        if sum(1 for d in fact.route.destinations if d.weight) < 2:
            # Envoy never picks a weight-0 entry: with one cluster left every request goes to it,
            # so its sessions are honoured (istiod keeps a 100/0 VirtualService split as written;
            # recorded: fixtures/istiod/weighted-zero).
            continue
        split = tuple((d.cluster, d.weight) for d in fact.route.destinations)
        yield Finding.of(WeightedRouteSticky(split), fact.resource)
