"""STK0401: a cluster a sticky route reaches lacks DRAINING in override_host_status.

Unset means Envoy's default [UNKNOWN, HEALTHY, DEGRADED]: a session pinned to a DRAINING host (a
terminating pod during a rollout) is re-balanced ([seen] on Envoy 1.40). This matters only for
endpoints EDS still sends as DRAINING: istiod sends them for the cookie label only
(endpoint_builder.go ``filterIstioEndpoint``), so for header-labelled Services on Istio this is not
the fix and STK0404 is reported instead (stickyctl.checks.rules._draining).

istiod sets DRAINING on a labelled Service's *default* cluster (cluster.go ``buildOutboundClusters``:
cookie label since 1.17.3, header label since 1.24, PR 52305, flag or not), never on subset clusters
(cluster_builder.go ``buildSubsetCluster``).
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._draining import StickyCluster, drops_draining, sticky_clusters_by_mode
from stickyctl.findings import Finding, Resource

CODE = "STK0401"


def _cause(sc: StickyCluster) -> str:
    if not sc.istio_cluster:
        return "add DRAINING to the cluster's override_host_status"
    if sc.subset:
        return (f"istiod never sets it on subset clusters (subset {sc.subset}); route to the Service's default "
                "cluster, or add DRAINING with an EnvoyFilter on this cluster")
    return ("istiod sets it on a cookie-labelled Service's default cluster (Istio 1.17.3+): an older istiod, a "
            "stale push, or an EnvoyFilter that replaced it")


def check(ctx: CheckContext) -> Iterator[Finding]:
    for (proxy_name, name), sc in sticky_clusters_by_mode(ctx).items():
        cluster = ctx.cluster(sc.proxy, name)
        if cluster is None or cluster.override_statuses == ():
            continue  # missing: STK0403; set but empty: STK0402
        if drops_draining(sc):
            continue  # EDS never sends these draining pods: STK0404 says why DRAINING cannot help
        if not sc.endpoints_can_drain:
            continue  # a ServiceEntry's endpoints never drain (_draining): nothing for DRAINING to keep
        statuses = cluster.effective_override_statuses
        if "DRAINING" in statuses:
            continue
        listed = "[" + ", ".join(statuses) + "]"
        shown = f"unset (Envoy default {listed})" if cluster.override_statuses is None else listed
        yield Finding(CODE, f"cluster {name}: override_host_status is {shown}, without DRAINING: sessions to "
                            f"terminating pods move during rollouts; {_cause(sc)}",
                      Resource(proxy=proxy_name, cluster=name))
