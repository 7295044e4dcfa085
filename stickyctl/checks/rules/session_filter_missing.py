"""STK0201: an HTTP connection manager without envoy.filters.http.stateful_session.

istiod adds the filter to every HCM of gateways and sidecar *outbound* listeners when the flag is
on, whether or not a Service is labelled; never to sidecar inbound, ambient waypoints, or the
bootstrap's static listeners (ISTIO-NOTES, "HTTP filter"). TCP-only chains have no HCM.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import ISTIO_BOOTSTRAP_PORTS, CheckContext
from stickyctl.findings import Finding, Resource

CODE = "STK0201"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for proxy in ctx.proxies:
        if proxy.identity.kind == "waypoint":
            continue
        for lst in ctx.checked_listeners(proxy):
            if lst.port in ISTIO_BOOTSTRAP_PORTS:
                continue
            for ch in lst.chains:
                if ch.hcm is None or ch.inbound or ch.hcm.session_filter is not None:
                    continue
                yield Finding(
                    CODE,
                    f"listener {lst.name} filter chain {ch.id}: no {'envoy.filters.http.stateful_session'} "
                    "among the HTTP filters, so no session value is issued or honoured here",
                    Resource(proxy=proxy.name, listener=lst.name, filter_chain=ch.id),
                )
