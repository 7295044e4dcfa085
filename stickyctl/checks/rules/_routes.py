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


def _weighted_pick(fact: RouteFact, d: DestinationFact) -> DestinationFact | None:
    """The labelled destination whose session config istiod gave this whole weighted route, when
    ``d`` is another labelled destination that asked for a different one.

    pilot/pkg/networking/core/route/route.go ``TranslateRoute`` (1.21+, PR 47376) builds one
    config per route from its destinations in order: the first labelled one wins and istiod logs
    "More than one stateful config for the same route … Picking the first one". Not an EnvoyFilter
    nor a stale push: the fix is to give the split's Services one session label value."""
    if not fact.route.weighted or d.effective is None or d.effective.level != "route":
        return None
    for other in fact.sticky:
        if other is not d and other.expectation is not None and other.expectation.source == "label" \
                and other.verdict == "ok":
            return other
    return None


def _weighted_pick_text(d: DestinationFact, picked: DestinationFact) -> str:
    assert d.expectation is not None and picked.expectation is not None
    return (f"weighted route: istiod gives a route one session config, from its first labelled destination "
            f"({picked.expectation.service_id}, {picked.expectation.mode} {picked.expectation.name!r}), so "
            f"{d.expectation.service_id}'s label ({d.expectation.mode} {d.expectation.name!r}) is not used here; "
            "give the Services of the split one session label value")


def mismatch_message(fact: RouteFact, d: DestinationFact, head: str) -> str:
    """STK0302/STK0303's message after ``head``: istiod's pick on a weighted route, or where the
    config was set and what the label expects."""
    picked = _weighted_pick(fact, d)
    if picked is not None:
        return f"{head}: {_weighted_pick_text(d, picked)}"
    assert d.effective is not None
    return f"{head} (set at {d.effective.level} level) but the {expectation_text(d)}"
