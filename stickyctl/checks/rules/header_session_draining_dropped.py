"""STK0404: header sessions move on every rollout and scale-down: istiod drops the draining pods.

istiod's EDS keeps a terminating (serving, not ready) endpoint, as DRAINING, only for a Service
with the cookie label: pilot/pkg/xds/endpoints/endpoint_builder.go ``filterIstioEndpoint`` reads
``features.PersistentSessionLabel`` alone (istio/istio PR 52305 taught ``SupportsDrainingEndpoints``
the header label for CDS in 1.24, not this EDS filter). Recorded from istiod's own code:
fixtures/istiod/terminating-header has the terminating pod absent from EDS, terminating-cookie keeps
it DRAINING. A pod Envoy no longer knows cannot be honoured: the session is re-balanced and a new
header value issued, whatever ``override_host_status`` says. The versions this holds for are one
data point, ``stickyctl.istio.versions.HEADER_DRAINING_DROPPED``. Kubernetes Services only: a
ServiceEntry's endpoints never drain, so there is nothing to drop (rules/_draining.py; recorded:
fixtures/istiod/serviceentry-header, serviceentry-dns-header).
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import HeaderSessionDrainingDropped
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._draining import header_drop_applies, sticky_clusters_by_mode
from stickyctl.envoy.enums import SessionMode
from stickyctl.findings import Finding, Resource
from stickyctl.istio import versions

CODE = "STK0404"


def check(ctx: CheckContext) -> Iterator[Finding]:
    unknown_versions: dict[str, str] = {}
    for (proxy_name, name), sc in sorted(sticky_clusters_by_mode(ctx).items()):
        if not sc.istio_cluster or sc.modes != {SessionMode.HEADER}:
            continue
        if not sc.endpoints_can_drain:
            continue  # a ServiceEntry: no endpoint of it ever drains, whatever the label (_draining)
        if sc.proxy.clusters is not None and name not in sc.proxy.clusters:
            continue  # not in CDS: STK0403
        applies = header_drop_applies(sc.proxy)
        if applies is None:
            unknown_versions[proxy_name] = sc.proxy.identity.istio_version or "?"
            continue
        if not applies:
            continue  # an Istio without the header label: STK0201 says so
        message = HeaderSessionDrainingDropped(name, tuple(sorted(sc.services)), sc.proxy.identity.istio_version)
        yield Finding.of(message, Resource(proxy=proxy_name, cluster=name))
    for proxy_name, version in sorted(unknown_versions.items()):
        ctx.not_checked.append(
            f"{proxy_name}: Istio {version} is newer than {versions.HEADER_DRAINING_DROPPED.last_shown}, the last "
            "version known to drop header-labelled Services' draining endpoints from EDS: STK0404 not checked")
