"""STK0401: a cluster a sticky route reaches lacks DRAINING in override_host_status.

Unset means Envoy's default [UNKNOWN, HEALTHY, DEGRADED]: a session pinned to a DRAINING host (a
terminating pod during a rollout) is re-balanced ([seen] on Envoy 1.40). istiod sets DRAINING only
on a labelled Service's default cluster (cookie since 1.17.3, header since 1.24), never on subsets.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext, sticky_clusters
from stickyctl.findings import Finding, Resource

CODE = "STK0401"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for (proxy_name, name), proxy in sticky_clusters(ctx).items():
        cluster = ctx.cluster(proxy, name)
        if cluster is None or cluster.override_statuses == ():
            continue  # missing: STK0403; set but empty: STK0402
        statuses = cluster.effective_override_statuses
        if "DRAINING" in statuses:
            continue
        listed = "[" + ", ".join(statuses) + "]"
        shown = f"unset (Envoy default {listed})" if cluster.override_statuses is None else listed
        yield Finding(CODE, f"cluster {name}: override_host_status is {shown}, without DRAINING: sessions to "
                            "terminating pods move during rollouts", Resource(proxy=proxy_name, cluster=name))
