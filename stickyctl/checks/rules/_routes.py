"""Iteration shared by the per-route session rules (STK0301–STK0304)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import (
    CheckContext,
    DestinationFact,
    RouteFact,
)
from stickyctl.envoy.model import SessionState


def sticky_destinations_with(ctx: CheckContext, verdict: str) -> Iterator[tuple[RouteFact, DestinationFact]]:
    """Each (route, sticky destination) whose effective session config has the given verdict."""
    yield from ctx.by_verdict.get(verdict, ())


def expectation_text(d: DestinationFact) -> str:
    exp = d.expectation
    assert exp is not None
    origin = f"labelled {exp.kind} {exp.service_id}" if exp.source == "label" else f"sticky host {exp.service_id}"
    return f"{origin} expects {exp.mode} {exp.name!r}"


def sticky_cookie_sessions(ctx: CheckContext) -> Iterator[tuple[RouteFact, SessionState]]:
    """Each (route, cookie session state) under which a sticky destination's sessions are active."""
    for fact in ctx.route_facts:
        for d in fact.sticky:
            eff = d.effective
            if eff is not None and eff.active and eff.state is not None and eff.state.mode == "cookie":
                yield fact, eff.state
