"""What happens to a sticky cluster's terminating pods, shared by STK0401 and STK0404.

istiod decides it twice (ISTIO-NOTES "Verified in istiod's source", confirmed by the recorder:
fixtures/istiod/terminating-header and terminating-cookie):

- EDS (pilot/pkg/xds/endpoints/endpoint_builder.go ``filterIstioEndpoint``): a terminating but
  serving endpoint is sent, as DRAINING, only when the Service has the *cookie* label; for the header
  label (and unlabelled Services) it is dropped, so Envoy never sees it and a session pinned to it
  moves. ``versions.HEADER_DRAINING_DROPPED`` holds the versions this is known for.
- CDS (cluster.go ``buildOutboundClusters``): DRAINING in ``override_host_status`` of a labelled
  Service's default cluster, which only matters for endpoints EDS still sends.

Only a Kubernetes Service's endpoints ever drain: istiod marks an endpoint Draining from an
EndpointSlice's conditions alone (``endpointslice.go endpointHealthStatus``). A ServiceEntry's
endpoints never do, whatever its location or resolution: inline endpoints and WorkloadEntries carry
no health status (``serviceentry/conversion.go convertWorkloadEntryToWorkloadInstance``), a
WorkloadEntry failing its health check is removed (``serviceentry/controller.go`` ``isHealthy``),
Pods selected by ``workloadSelector`` come from the Pod cache, which removes a Pod once it is
terminating or not ready (``kube/controller/pod.go`` ``shouldPodBeInEndpoints``/``IsPodReady``) and
sends the others as Healthy; and with DNS resolution Envoy resolves the host itself (a STRICT_DNS
cluster, no EDS: fixtures/istiod/serviceentry-dns-header). So STK0401/STK0404 do not apply there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from stickyctl.checks.context import CheckContext, ExpectationSource
from stickyctl.envoy.enums import SessionMode
from stickyctl.envoy.model import Proxy
from stickyctl.istio import versions
from stickyctl.istio.names import parse_cluster_name


@dataclass
class StickyCluster:
    proxy: Proxy
    name: str
    modes: set[SessionMode] = field(default_factory=set)
    """Session modes of the sticky destinations reaching it: the label's when Services were given,
    else the mode of the session config on the routes (inferred from the dump)."""
    services: set[str] = field(default_factory=set)
    """Labelled Services (namespace/name) behind it; empty when inferred from the dump."""
    kinds: set[str] = field(default_factory=set)
    """Kinds of the labelled objects behind it (Service, ServiceEntry); empty when inferred."""

    @property
    def endpoints_can_drain(self) -> bool:
        """Whether istiod can send this cluster a draining endpoint at all: only a Kubernetes
        Service's (see the module's docstring). From the labels when given, else from the host:
        a Service's is ``<name>.<namespace>.svc.<domain>``; a non-Istio cluster is not judged."""
        if self.kinds:
            return "Service" in self.kinds
        parsed = parse_cluster_name(self.name)
        if parsed is None:
            return True
        labels = parsed.host.split(".")
        return len(labels) >= 4 and labels[2] == "svc"

    @property
    def istio_cluster(self) -> bool:
        """Named as istiod names clusters (``outbound|port|subset|host``): its EDS is istiod's."""
        return parse_cluster_name(self.name) is not None

    @property
    def subset(self) -> str:
        parsed = parse_cluster_name(self.name)
        return parsed.subset if parsed else ""


def sticky_clusters_by_mode(ctx: CheckContext) -> dict[tuple[str, str], StickyCluster]:
    # STK0401 and STK0404 both ask: walked once per check run (tens of thousands of routes).
    cached: dict[tuple[str, str], StickyCluster] | None = getattr(ctx, "_sticky_clusters", None)
    if cached is None:
        cached = _sticky_clusters_by_mode(ctx)
        setattr(ctx, "_sticky_clusters", cached)  # noqa: B010 - a per-run cache on the context
    return cached


def _sticky_clusters_by_mode(ctx: CheckContext) -> dict[tuple[str, str], StickyCluster]:
    out: dict[tuple[str, str], StickyCluster] = {}
    label = ExpectationSource.LABEL  # read once, not per destination (see stickyctl.envoy.enums)
    for fact in ctx.route_facts:
        for d in fact.sticky:
            exp = d.expectation
            entry = out.setdefault((fact.proxy.name, d.cluster), StickyCluster(fact.proxy, d.cluster))
            if exp.source == label:
                entry.modes.add(exp.mode)
                entry.services.add(exp.service_id)
                entry.kinds.add(exp.kind)
            elif d.effective is not None and d.effective.active and d.effective.state is not None:
                entry.modes.add(d.effective.state.mode)
            else:
                entry.modes.add(exp.mode)
    return out


def header_drop_applies(proxy: Proxy) -> bool | None:
    """True: this proxy's istiod drops header-labelled Services' draining endpoints (a known
    version, or an unknown one: every release so far does); None: a version newer than the ones
    known, so not checked; False: an Istio older than the header label itself."""
    return _header_drop_applies(proxy.identity.istio_version)


@functools.lru_cache(maxsize=64)
def _header_drop_applies(istio_version: str | None) -> bool | None:
    version = versions.parse_istio_version(istio_version)
    if version is None:
        return True
    if versions.session_support(SessionMode.HEADER, version) is not None:
        return False
    return True if versions.HEADER_DRAINING_DROPPED.known(version) else None


def drops_draining(sc: StickyCluster) -> bool:
    """Every sticky destination of this Istio cluster is header-mode on an Istio that drops them."""
    return (sc.istio_cluster and sc.endpoints_can_drain and sc.modes == {SessionMode.HEADER}
            and header_drop_applies(sc.proxy) is True)
