"""STK0402: override_host_status is set but empty: Envoy honours no session override at all."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import OverrideHostStatusEmpty
from stickyctl.checks.context import CheckContext
from stickyctl.envoy.sessions import OverrideHostStatus
from stickyctl.findings import Finding, Resource

CODE = "STK0402"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for (proxy_name, name), proxy in ctx.sticky_clusters.items():
        cluster = ctx.cluster(proxy, name)
        if cluster is not None and OverrideHostStatus.of(cluster).honours_none:
            yield Finding.of(OverrideHostStatusEmpty(name), Resource(proxy=proxy_name, cluster=name))
