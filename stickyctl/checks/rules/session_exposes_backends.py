"""STK0601: header/cookie sessions expose pod IP:port to clients and let them pick a backend."""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding, Resource

CODE = "STK0601"


def check(ctx: CheckContext) -> Iterator[Finding]:
    exposed: dict[str, set[str]] = {}
    for fact in ctx.route_facts:
        for cfg in fact.active_configs:
            if cfg.state is not None and cfg.state.mode in ("header", "cookie"):
                exposed.setdefault(fact.proxy.name, set()).add(f"{cfg.state.mode} {cfg.state.name}")
    for proxy in ctx.proxies:
        names = exposed.get(proxy.name)
        if names:
            yield Finding(CODE, f"sessions ({', '.join(sorted(names))}) carry base64 pod IP:port values clients "
                                "can read and forge", Resource(proxy=proxy.name))
