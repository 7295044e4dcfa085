"""STK0305: a route has session config but leads to no labelled Service (stale or misplaced)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding

CODE = "STK0305"


def check(ctx: CheckContext) -> Iterator[Finding]:
    if not ctx.services_given:
        return  # without labels, the dump's own session config defines what is sticky
    for fact in ctx.route_facts:
        if fact.sticky or not fact.active_configs:
            continue
        cfg = fact.active_configs[0]
        assert cfg.state is not None
        targets = ", ".join(sorted({d.host for d in fact.destinations}))
        yield Finding(CODE, f"route has {cfg.state.mode} session config {cfg.state.name!r} (at {cfg.level} level) "
                            f"but leads only to unlabelled {targets}", fact.resource)
