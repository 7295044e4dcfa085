"""STK0601: header/cookie sessions expose pod IP:port to clients and let them pick a backend."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import SessionExposesBackends
from stickyctl.checks.context import CheckContext
from stickyctl.envoy.enums import SessionMode
from stickyctl.findings import Finding, Resource

CODE = "STK0601"

_VALUE_IS_ADDRESS = frozenset({SessionMode.HEADER, SessionMode.COOKIE})
"""Session states whose value a client holds is the pod's IP:port in base64 (ISTIO-NOTES, Envoy side)."""


def check(ctx: CheckContext) -> Iterator[Finding]:
    exposed: dict[str, set[tuple[SessionMode, str]]] = {}
    for fact in ctx.route_facts:
        for _cfg, state in fact.active_sessions:
            if state.mode in _VALUE_IS_ADDRESS:
                exposed.setdefault(fact.proxy.name, set()).add((state.mode, state.name))
    for proxy in ctx.proxies:
        names = exposed.get(proxy.name)
        if names:
            yield Finding.of(SessionExposesBackends(tuple(sorted(names))), Resource(proxy=proxy.name))
