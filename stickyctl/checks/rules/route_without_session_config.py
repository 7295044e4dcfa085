"""STK0301: a route to a labelled Service has no effective session config."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import RouteWithoutSessionConfig
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import label_expectation, sticky_destinations_with
from stickyctl.envoy.sessions import SessionVerdict
from stickyctl.findings import Finding

CODE = "STK0301"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, d in sticky_destinations_with(ctx, SessionVerdict.MISSING):
        yield Finding.of(RouteWithoutSessionConfig(d.cluster, label_expectation(d)), fact.resource)
