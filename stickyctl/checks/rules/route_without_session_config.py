"""STK0301: a route to a labelled Service has no effective session config."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import expectation_text, sticky_destinations_with
from stickyctl.findings import Finding

CODE = "STK0301"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, d in sticky_destinations_with(ctx, "missing"):
        yield Finding(CODE, f"route to {d.cluster} has no stateful_session config at any level "
                            f"({expectation_text(d)}): every request is re-balanced", fact.resource,
                      {"cluster": d.cluster})
