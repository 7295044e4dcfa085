"""STK0308: cookie TTL pitfalls by Envoy version.

- Envoy >= 1.27 encodes the expiry in the cookie and enforces it without refreshing it for active
  users: Istio 1.17-1.21's hard-coded 120 s TTL ends sessions after two minutes (istio/istio#49000).
- Envoy 1.27-1.29, before envoyproxy/envoy#32093, treated TTL 0 (a session cookie) as expired.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import sticky_cookie_sessions
from stickyctl.findings import Finding

CODE = "STK0308"

SHORT_TTL_SECONDS = 120.0
"""Istio 1.17–1.21's hard-coded cookie TTL: the value that logged users out."""


def envoy_minor(version: str | None) -> tuple[int, int] | None:
    if not version:
        return None
    try:
        major, minor = version.split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def ttl_problem(ttl: float | None, envoy_version: str | None) -> str | None:
    v = envoy_minor(envoy_version)
    if v is not None and (1, 27) <= v < (1, 30) and not ttl:
        return (f"TTL 0 on Envoy {envoy_version}: Envoy 1.27–1.29 treats it as already expired, "
                "so cookies never stick")
    if ttl and 0 < ttl <= SHORT_TTL_SECONDS and (v is None or v >= (1, 27)):
        on = f"Envoy {envoy_version}" if envoy_version else "Envoy >= 1.27 (version unknown)"
        return f"TTL {ttl:g}s on {on}: sessions end {ttl:g}s after they start, even for active users"
    return None


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, state in sticky_cookie_sessions(ctx):
        problem = ttl_problem(state.ttl_seconds, fact.proxy.identity.envoy_version)
        if problem:
            ttl = "unset" if state.ttl_seconds is None else f"{state.ttl_seconds:g}s"
            yield Finding(CODE, f"cookie {state.name!r}: {problem}", fact.resource, {"ttl": ttl})
