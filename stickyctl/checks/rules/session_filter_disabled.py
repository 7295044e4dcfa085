"""STK0304: the session filter is disabled on a route to a labelled Service."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import SessionFilterDisabled
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import configured_with, label_expectation
from stickyctl.envoy.sessions import SessionVerdict
from stickyctl.findings import Finding

CODE = "STK0304"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, d, eff in configured_with(ctx, SessionVerdict.DISABLED):
        yield Finding.of(SessionFilterDisabled(d.cluster, eff.level, label_expectation(d)), fact.resource)
