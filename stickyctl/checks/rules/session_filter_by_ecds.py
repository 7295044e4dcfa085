"""STK0203: the session filter is delivered by ECDS; its config is not in the dump."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import SessionFilterByEcds
from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding, Resource

CODE = "STK0203"


def check(ctx: CheckContext) -> Iterator[Finding]:
    for proxy in ctx.proxies:
        for lst in ctx.checked_listeners(proxy):
            for ch in lst.chains:
                f = ch.hcm.session_filter if ch.hcm else None
                if f is not None and f.by_ecds:
                    yield Finding.of(SessionFilterByEcds(lst.name, ch.id),
                                     Resource(proxy=proxy.name, listener=lst.name, filter_chain=ch.id))
