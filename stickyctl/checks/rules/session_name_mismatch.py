"""STK0302: the session header/cookie name differs from the label's value."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import SessionNameMismatch
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import label_expectation, mismatched, weighted_pick
from stickyctl.envoy.sessions import SessionVerdict
from stickyctl.findings import Finding

CODE = "STK0302"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, d, eff, st in mismatched(ctx, SessionVerdict.NAME):
        message = SessionNameMismatch(d.cluster, st.mode, st.name, eff.level, label_expectation(d),
                                      weighted_pick(fact, d, eff))
        yield Finding.of(message, fact.resource)
