"""STK0312: without labels to go by, routes to one cluster carry different session configs.

Without --services the dump's own session config is all that says what is sticky. When the routes
to one cluster disagree (another header or cookie name, another mode, none, or disabled), no
single one of them is "the expected" one — Envoy Gateway, for one, configures sessions per route by
design (upstream-dumps/envoy-gateway) — so this is one warning naming each config and its routes,
never errors against a name inferred from the majority. What it costs is real either way: a session
value issued on one route is not honoured on the others. With --services, the label decides and a
route that differs from it is STK0302/STK0303/STK0301/STK0304.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import Carrier, SessionConfigDiffersByRoute
from stickyctl.checks.context import CheckContext, ExpectationSource
from stickyctl.envoy.model import SessionConfig
from stickyctl.findings import Finding, Resource

CODE = "STK0312"

_NONE = Carrier(None)
_DISABLED = Carrier(None, disabled=True)


def _carrier(cfg: SessionConfig | None) -> Carrier:
    """What a client's session value must match: mode and name (cookie path and TTL aside)."""
    if cfg is None:
        return _NONE
    if cfg.disabled:
        return _DISABLED
    return _NONE if cfg.state is None else Carrier(cfg.state.mode, cfg.state.name)


def check(ctx: CheckContext) -> Iterator[Finding]:
    groups: dict[tuple[str, str], dict[Carrier, list[str]]] = {}
    label = ExpectationSource.LABEL  # read once, not per destination (see stickyctl.envoy.enums)
    for fact in ctx.route_facts:
        for d in fact.sticky:
            if d.expectation.source == label:
                continue
            route = f"{fact.route_config.name}/{fact.virtual_host.name}/{fact.route.id}"
            by_config = groups.setdefault((fact.proxy.name, d.cluster), {})
            by_config.setdefault(_carrier(d.effective), []).append(route)
    for (proxy, cluster), by_config in sorted(groups.items()):
        if len(by_config) < 2:
            continue
        message = SessionConfigDiffersByRoute(cluster, tuple((c, tuple(r)) for c, r in by_config.items()))
        yield Finding.of(message, Resource(proxy=proxy, cluster=cluster))
