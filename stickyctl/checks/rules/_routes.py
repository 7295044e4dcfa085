"""Iteration shared by the per-route session rules (STK0301–STK0304)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import (
    CheckContext,
    DestinationFact,
    RouteFact,
    lost_to_weighted_mix,
    session_verdict,
)


def sticky_destinations_with(ctx: CheckContext, verdict: str) -> Iterator[tuple[RouteFact, DestinationFact]]:
    """Each (route, sticky destination) whose effective session config has the given verdict."""
    for fact in ctx.route_facts:
        if lost_to_weighted_mix(fact):
            continue  # STK0310 names this case precisely
        for d in fact.sticky:
            if session_verdict(d) == verdict:
                yield fact, d


def expectation_text(d: DestinationFact) -> str:
    exp = d.expectation
    assert exp is not None
    origin = f"labelled {exp.kind} {exp.service_id}" if exp.source == "label" else f"sticky host {exp.service_id}"
    return f"{origin} expects {exp.mode} {exp.name!r}"
