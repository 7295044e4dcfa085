"""STK0204: Envoy rejected a listener update (dynamic_listeners[].error_state)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import ListenerRejected
from stickyctl.checks.context import CheckContext
from stickyctl.envoy.enums import ListenerState
from stickyctl.findings import Finding, Resource

CODE = "STK0204"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for proxy in ctx.proxies:
        for lst in proxy.listeners:
            if lst.state != ListenerState.ERROR or lst.error is None:
                continue
            when = lst.error.last_update_attempt or "unknown time"
            details = " ".join((lst.error.details or "").split()) or "no details"
            running = any(o.name == lst.name and o.state == ListenerState.ACTIVE for o in proxy.listeners)
            name = lst.name or "(unnamed)"
            yield Finding.of(ListenerRejected(name, when, running, details), Resource(proxy=proxy.name, listener=name))
