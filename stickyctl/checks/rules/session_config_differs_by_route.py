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

from stickyctl.checks.context import CheckContext
from stickyctl.envoy.model import SessionConfig
from stickyctl.findings import Finding, Resource

CODE = "STK0312"
SHOWN = 2


def _carrier(cfg: SessionConfig | None) -> str:
    """What a client's session value must match: mode and name (cookie path and TTL aside)."""
    if cfg is None or (not cfg.disabled and cfg.state is None):
        return "no session config"
    if cfg.disabled:
        return "the session filter disabled"
    assert cfg.state is not None
    return f"{cfg.state.mode} {cfg.state.name!r}" if cfg.state.name else cfg.state.mode


def check(ctx: CheckContext) -> Iterator[Finding]:
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    for fact in ctx.route_facts:
        for d in fact.sticky:
            if d.expectation is None or d.expectation.source == "label":
                continue
            route = f"{fact.route_config.name}/{fact.virtual_host.name}/{fact.route.id}"
            by_config = groups.setdefault((fact.proxy.name, d.cluster), {})
            by_config.setdefault(_carrier(d.effective), []).append(route)
    for (proxy, cluster), by_config in sorted(groups.items()):
        if len(by_config) < 2:
            continue
        parts = []
        for carrier, routes in sorted(by_config.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            shown = ", ".join(routes[:SHOWN]) + (f" and {len(routes) - SHOWN} more" if len(routes) > SHOWN else "")
            parts.append(f"{carrier} on {shown}")
        yield Finding(
            CODE,
            f"routes to cluster {cluster} carry different session configs: {'; '.join(parts)}: a session value "
            "issued on one route is not honoured on the others",
            Resource(proxy=proxy, cluster=cluster),
            {c: ", ".join(r) for c, r in by_config.items()},
        )
