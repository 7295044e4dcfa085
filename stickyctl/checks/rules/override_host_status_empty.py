"""STK0402: override_host_status is set but empty: Envoy honours no session override at all."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding, Resource

CODE = "STK0402"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for (proxy_name, name), proxy in ctx.sticky_clusters.items():
        cluster = ctx.cluster(proxy, name)
        if cluster is not None and cluster.override_statuses == ():
            yield Finding(CODE, f"cluster {name}: override_host_status is set with no statuses, so every "
                                "session value is ignored", Resource(proxy=proxy_name, cluster=name))
