"""STK0204: Envoy rejected a listener update (dynamic_listeners[].error_state)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding, Resource

CODE = "STK0204"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for proxy in ctx.proxies:
        for lst in proxy.listeners:
            if lst.state != "error" or lst.error is None:
                continue
            when = lst.error.last_update_attempt or "unknown time"
            details = " ".join((lst.error.details or "").split()) or "no details"
            running = any(o.name == lst.name and o.state == "active" for o in proxy.listeners)
            keeps = "the previous version keeps serving" if running else "no version of it is serving"
            yield Finding(
                CODE,
                f"Envoy rejected the update of listener {lst.name or '(unnamed)'} at {when} ({keeps}): {details}",
                Resource(proxy=proxy.name, listener=lst.name or "(unnamed)"),
                {"last_update_attempt": when, "details": details},
            )
