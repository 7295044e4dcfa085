"""STK0502: ``strict`` session config on a gateway that runs several replicas."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._fleet import replica_groups
from stickyctl.findings import Finding

CODE = "STK0502"
SHOWN = 3


def check(ctx: CheckContext) -> Iterator[Finding]:
    order = {id(p): i for i, p in enumerate(ctx.proxies)}  # route_facts' order: proxy by proxy
    for workload, replicas in replica_groups(ctx):
        routes: dict[str, None] = {}
        for fact in (f for p in sorted(replicas, key=lambda p: order[id(p)]) for f in ctx.facts_of(p)):
            if any(c.strict for c in fact.active_configs):
                routes[f"{fact.route_config.name}/{fact.virtual_host.name}/{fact.route.id}"] = None
        if not routes:
            continue
        names = list(routes)
        shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
        yield Finding(
            CODE,
            f"strict sessions on route{'s' if len(names) > 1 else ''} {shown} of {workload.described}, which runs "
            f"{len(replicas)} replicas: while they converge after an endpoint change, a request pinned to a "
            "host one replica does not know yet is answered 503 instead of being re-balanced",
            workload.resource,
            {"routes": ", ".join(names), "replicas": str(len(replicas))},
        )
