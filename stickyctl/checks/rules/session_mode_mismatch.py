"""STK0303: cookie config for a header label, or the reverse."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import expectation_text, sticky_destinations_with
from stickyctl.findings import Finding

CODE = "STK0303"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, d in sticky_destinations_with(ctx, "mode"):
        assert d.effective is not None and d.effective.state is not None
        st = d.effective.state
        yield Finding(CODE, f"route to {d.cluster} has {st.mode} session config {st.name!r} (set at "
                            f"{d.effective.level} level) but the {expectation_text(d)}", fact.resource,
                      {"cluster": d.cluster, "configured_mode": st.mode})
