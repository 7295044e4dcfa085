"""STK0303: cookie config for a header label, or the reverse."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import mismatch_message, sticky_destinations_with
from stickyctl.findings import Finding

CODE = "STK0303"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, d in sticky_destinations_with(ctx, "mode"):
        assert d.effective is not None and d.effective.state is not None
        st = d.effective.state
        head = f"route to {d.cluster} has {st.mode} session config {st.name!r}"
        message = mismatch_message(fact, d, head)
        yield Finding(CODE, message, fact.resource, {"cluster": d.cluster, "configured_mode": st.mode})
