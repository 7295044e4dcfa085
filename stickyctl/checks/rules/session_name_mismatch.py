"""STK0302: the session header/cookie name differs from the label's value."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import mismatch_message, sticky_destinations_with
from stickyctl.findings import Finding

CODE = "STK0302"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, d in sticky_destinations_with(ctx, "name"):
        assert d.effective is not None and d.effective.state is not None
        head = f"route to {d.cluster} uses {d.effective.state.mode} {d.effective.state.name!r}"
        message = mismatch_message(fact, d, head)
        yield Finding(CODE, message, fact.resource, {"cluster": d.cluster, "configured": d.effective.state.name})
