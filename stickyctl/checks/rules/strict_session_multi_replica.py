"""STK0502: ``strict`` session config on a gateway that runs several replicas."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import StrictSessionMultiReplica
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._fleet import replica_groups
from stickyctl.findings import Finding

CODE = "STK0502"


def check(ctx: CheckContext) -> Iterator[Finding]:
    order = {id(p): i for i, p in enumerate(ctx.proxies)}  # route_facts' order: proxy by proxy
    for workload, replicas in replica_groups(ctx):
        routes: dict[str, None] = {}
        for fact in (f for p in sorted(replicas, key=lambda p: order[id(p)]) for f in ctx.facts_of(p)):
            if any(cfg.strict for cfg, _state in fact.active_sessions):
                routes[f"{fact.route_config.name}/{fact.virtual_host.name}/{fact.route.id}"] = None
        if not routes:
            continue
        message = StrictSessionMultiReplica(tuple(routes), workload.described, len(replicas))
        yield Finding.of(message, workload.resource)
