"""STK0202: the stateful_session filter comes after the router.

Envoy requires the router to be the terminal filter and rejects the listener; so this is usually
found in a rejected config (error_state, see STK0204) or in config that never reached Envoy.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import SessionFilterAfterRouter
from stickyctl.checks.context import CHECKED_LISTENER_STATES, CheckContext
from stickyctl.envoy.enums import ListenerState
from stickyctl.findings import Finding, Resource

CODE = "STK0202"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for proxy in ctx.proxies:
        for lst in proxy.listeners:
            if lst.state not in CHECKED_LISTENER_STATES and lst.state != ListenerState.ERROR:
                continue
            for ch in lst.chains:
                if ch.hcm is None:
                    continue
                session, router = ch.hcm.session_filter_index(), ch.hcm.router_index()
                if session is not None and router is not None and session > router:
                    rejected = lst.state == ListenerState.ERROR
                    yield Finding.of(SessionFilterAfterRouter(lst.name, ch.id, rejected, session, router),
                                     Resource(proxy=proxy.name, listener=lst.name, filter_chain=ch.id))
