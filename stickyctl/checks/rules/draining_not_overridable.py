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

from stickyctl.catalog import ClusterOrigin, DrainingNotOverridable
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._draining import StickyCluster, drops_draining, sticky_clusters_by_mode
from stickyctl.envoy.sessions import OverrideHostStatus
from stickyctl.findings import Finding, Resource

CODE = "STK0401"


def _origin(sc: StickyCluster) -> ClusterOrigin:
    if not sc.istio_cluster:
        return ClusterOrigin.OTHER
    return ClusterOrigin.SUBSET if sc.subset else ClusterOrigin.DEFAULT


def check(ctx: CheckContext) -> Iterator[Finding]:
    for (proxy_name, name), sc in sticky_clusters_by_mode(ctx).items():
        cluster = ctx.cluster(sc.proxy, name)
        if cluster is None:
            continue  # missing: STK0403
        override = OverrideHostStatus.of(cluster)
        if override.honours_none:
            continue  # set but empty: STK0402
        if drops_draining(sc):
            continue  # EDS never sends these draining pods: STK0404 says why DRAINING cannot help
        if not sc.endpoints_can_drain:
            continue  # a ServiceEntry's endpoints never drain (_draining): nothing for DRAINING to keep
        if override.keeps_draining:
            continue
        message = DrainingNotOverridable(name, override.statuses, override.explicit, _origin(sc), sc.subset)
        yield Finding.of(message, Resource(proxy=proxy_name, cluster=name))
