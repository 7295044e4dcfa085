"""STK0403: a sticky route points at a cluster missing from the dump (Envoy answers 503)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import StickyRouteClusterMissing
from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding

CODE = "STK0403"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact in ctx.route_facts:
        if fact.proxy.clusters is None:
            continue  # no clusters in the input: reported as not checked
        for d in fact.sticky:
            if d.cluster not in fact.proxy.clusters:
                yield Finding.of(StickyRouteClusterMissing(d.host, d.cluster), fact.resource)
