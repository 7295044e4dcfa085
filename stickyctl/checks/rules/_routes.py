"""Iteration shared by the per-route session rules (STK0301–STK0304, STK0307, STK0308)."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import LabelExpectation
from stickyctl.checks.context import CheckContext, ExpectationSource, RouteFact, StickyDestination
from stickyctl.envoy.enums import ConfigLevel, SessionMode
from stickyctl.envoy.model import SessionConfig, SessionState
from stickyctl.envoy.sessions import SessionVerdict


def sticky_destinations_with(ctx: CheckContext, verdict: SessionVerdict) -> Iterator[tuple[RouteFact,
                                                                                          StickyDestination]]:
    """Each (route, sticky destination) whose effective session config has the given verdict (only
    destinations of labelled Services: without labels, STK0312 compares the routes instead)."""
    yield from ctx.by_verdict.get(verdict, ())


def configured_with(ctx: CheckContext, verdict: SessionVerdict) -> Iterator[tuple[RouteFact, StickyDestination,
                                                                                 SessionConfig]]:
    """``sticky_destinations_with`` for the verdicts about a config that is there (disabled, another
    mode or name), with that config."""
    for fact, d in ctx.by_verdict.get(verdict, ()):
        if d.effective is not None:  # always so for DISABLED, MODE and NAME (session_verdict)
            yield fact, d, d.effective


def mismatched(ctx: CheckContext, verdict: SessionVerdict) -> Iterator[tuple[RouteFact, StickyDestination,
                                                                            SessionConfig, SessionState]]:
    """``configured_with`` for SessionVerdict.MODE and NAME, with the session state that differs."""
    for fact, d in ctx.by_verdict.get(verdict, ()):
        eff = d.effective
        if eff is not None and eff.state is not None:  # always so for MODE and NAME (session_verdict)
            yield fact, d, eff, eff.state


def label_expectation(d: StickyDestination) -> LabelExpectation:
    exp = d.expectation
    return LabelExpectation(exp.kind, exp.service_id, exp.mode, exp.name)


def sticky_cookie_sessions(ctx: CheckContext) -> Iterator[tuple[RouteFact, SessionState]]:
    """Each (route, cookie session state) under which a sticky destination's sessions are active."""
    cookie = SessionMode.COOKIE  # read once, not per destination (see stickyctl.envoy.enums)
    for fact in ctx.route_facts:
        for d in fact.sticky:
            eff = d.effective
            if eff is not None and eff.active and eff.state is not None and eff.state.mode == cookie:
                yield fact, eff.state


def weighted_pick(fact: RouteFact, d: StickyDestination, eff: SessionConfig) -> LabelExpectation | None:
    """The labelled destination whose session config istiod gave this whole weighted route, when
    ``d`` is another labelled destination that asked for a different one.

    pilot/pkg/networking/core/route/route.go ``TranslateRoute`` (1.21+, PR 47376) builds one
    config per route from its destinations in order: the first labelled one wins and istiod logs
    "More than one stateful config for the same route … Picking the first one". Not an EnvoyFilter
    nor a stale push: the fix is to give the split's Services one session label value."""
    if not fact.route.weighted or eff.level != ConfigLevel.ROUTE:
        return None
    for other in fact.sticky:
        if other is not d and other.expectation.source == ExpectationSource.LABEL \
                and other.verdict == SessionVerdict.OK:
            return label_expectation(other)
    return None
