"""STK0310: a weighted route to labelled and unlabelled destinations left with no session config.

istiod keeps one session config per route, from its last destination (ISTIO-NOTES "Weighted routes").
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import WeightedRouteLostSessionConfig
from stickyctl.checks.context import CheckContext, lost_to_weighted_mix
from stickyctl.findings import Finding

CODE = "STK0310"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact in ctx.route_facts:
        if lost_to_weighted_mix(fact):
            sticky = tuple(d.cluster for d in fact.sticky)
            unlabelled = tuple(d.cluster for d in fact.destinations if d.expectation is None)
            yield Finding.of(WeightedRouteLostSessionConfig(sticky, unlabelled), fact.resource)
