"""STK0205: the session filter on a sidecar's inbound listener, where it does nothing.

istiod never puts it there (listener_builder.go ``buildHTTPConnectionManager`` skips
``ListenerClassSidecarInbound``): it comes from an EnvoyFilter with ``context: SIDECAR_INBOUND``
(recorded from istiod's own code: fixtures/istiod/envoyfilter-sidecar-inbound). An inbound route
leads to the pod's own ``inbound|<port>||`` cluster, whose one endpoint is the application
beside the sidecar: there is no other host to pin, so no session is ever kept, while clients
(or the EnvoyFilter's author) believe it is — envoyproxy/envoy#21584, #19776. Sessions stick only
where a proxy chooses among the pods: the gateway's or the calling sidecar's *outbound* listener.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import SessionFilterOnInbound
from stickyctl.checks.context import CheckContext
from stickyctl.envoy.enums import ProxyKind
from stickyctl.findings import Finding, Resource

CODE = "STK0205"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for proxy in ctx.proxies:
        if proxy.identity.kind == ProxyKind.WAYPOINT:
            continue  # a waypoint's HCMs are inbound-class but choose among pods
        chains: dict[str, None] = {}
        for lst in ctx.checked_listeners(proxy):
            for ch in lst.chains:
                if ch.inbound and ch.hcm is not None and ch.hcm.session_filter is not None:
                    chains[f"{lst.name} {ch.id}"] = None
        if not chains:
            continue
        yield Finding.of(SessionFilterOnInbound(tuple(chains)), Resource(proxy=proxy.name))
