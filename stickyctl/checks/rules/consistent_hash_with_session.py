"""STK0309: a consistent-hash policy is also set on a sticky route or the cluster it reaches."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import ConsistentHashWithSession
from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding

CODE = "STK0309"

_HASH_LB = frozenset({"RING_HASH", "MAGLEV"})


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact in ctx.route_facts:
        active = [d for d in fact.sticky if d.effective is not None and d.effective.active]
        if not active:
            continue
        hashing: list[tuple[str, str]] = []
        for d in active:
            cluster = ctx.cluster(fact.proxy, d.cluster)
            if cluster is not None and cluster.lb_policy in _HASH_LB:
                hashing.append((d.cluster, cluster.lb_policy))
        if fact.route.hash_policy or hashing:
            yield Finding.of(ConsistentHashWithSession(fact.route.hash_policy, tuple(hashing)), fact.resource)
