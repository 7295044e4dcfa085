"""STK0304: the session filter is disabled on a route to a labelled Service."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import expectation_text, sticky_destinations_with
from stickyctl.findings import Finding

CODE = "STK0304"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, d in sticky_destinations_with(ctx, "disabled"):
        assert d.effective is not None
        where = ("the HCM's filter is disabled and nothing enables it" if d.effective.level == "listener"
                 else f"disabled at {d.effective.level} level")
        yield Finding(CODE, f"route to {d.cluster}: stateful_session is {where} ({expectation_text(d)})",
                      fact.resource, {"cluster": d.cluster, "level": d.effective.level})
