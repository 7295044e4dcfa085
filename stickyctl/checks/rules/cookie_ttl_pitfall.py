"""STK0308: cookie TTL pitfalls by Envoy version.

- Envoy >= 1.27 encodes the expiry in the cookie and enforces it without refreshing it for active
  users: Istio 1.17-1.21's hard-coded 120 s TTL ends sessions after two minutes (istio/istio#49000).
- Envoy 1.27-1.29, before envoyproxy/envoy#32093, treated TTL 0 (a session cookie) as expired.
- Several gateway replicas validate each other's cookies, so the expiry must be stamped with a
  clock they share. envoyproxy/envoy#44111 (fixed by #44981) reports a per-process (monotonic) clock;
  on the released Envoy builds 1.36.2, 1.37.0, 1.38.3, 1.39.0 and 1.40.0 the cookie's ``expires``
  is Unix time both when issued and when checked [seen: a cookie stamped now+1000 s of the wall clock
  is honoured, uptime+1000 s rejected], so replicas agree. Older versions (1.27-1.35) were not
  run here: with a TTL on several replicas, that is listed as not checked, never as passing.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import CookieTtlShort, CookieTtlZero
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._fleet import replica_groups
from stickyctl.checks.rules._routes import sticky_cookie_sessions
from stickyctl.findings import Finding

CODE = "STK0308"

SHORT_TTL_SECONDS = 120.0
"""Istio 1.17–1.21's hard-coded cookie TTL: the value that logged users out."""

EXPIRY_IN_COOKIE_SINCE = (1, 27)
"""Envoy encodes (and enforces) the expiry in the cookie from 1.27 on."""
TTL_ZERO_FIXED = (1, 30)
"""The first Envoy that no longer treats TTL 0 as expired (envoyproxy/envoy#32093)."""
WALL_CLOCK_EXPIRY_SEEN = ((1, 36), (1, 40))
"""Envoy versions seen to stamp and check the cookie expiry with the wall clock (envoy#44111)."""


def envoy_minor(version: str | None) -> tuple[int, int] | None:
    if not version:
        return None
    try:
        major, minor = version.split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def ttl_problem(ttl: float | None, envoy_version: str | None,
                cookie: str = "") -> CookieTtlZero | CookieTtlShort | None:
    """What is wrong with cookie ``cookie``'s TTL on this Envoy, or None."""
    v = envoy_minor(envoy_version)
    if envoy_version is not None and v is not None and EXPIRY_IN_COOKIE_SINCE <= v < TTL_ZERO_FIXED and not ttl:
        return CookieTtlZero(cookie, ttl, envoy_version)
    if ttl and 0 < ttl <= SHORT_TTL_SECONDS and (v is None or v >= EXPIRY_IN_COOKIE_SINCE):
        return CookieTtlShort(cookie, ttl, envoy_version)
    return None


def check(ctx: CheckContext) -> Iterator[Finding]:
    ttl_proxies: set[int] = set()
    for fact, state in sticky_cookie_sessions(ctx):
        if state.ttl_seconds:
            ttl_proxies.add(id(fact.proxy))
        problem = ttl_problem(state.ttl_seconds, fact.proxy.identity.envoy_version, state.name)
        if problem:
            yield Finding.of(problem, fact.resource)
    for workload, replicas in replica_groups(ctx):
        if not any(id(p) in ttl_proxies for p in replicas):
            continue
        unverified = sorted({p.identity.envoy_version or "unknown" for p in replicas
                             if (v := envoy_minor(p.identity.envoy_version)) is None
                             or EXPIRY_IN_COOKIE_SINCE <= v < WALL_CLOCK_EXPIRY_SEEN[0]
                             or v > WALL_CLOCK_EXPIRY_SEEN[1]})
        if unverified:
            ctx.not_checked.append(
                f"{workload.described}: cookie sessions with a TTL on {len(replicas)} replicas of Envoy "
                f"{', '.join(unverified)}: whether its cookie expiry uses a clock the replicas share "
                "(envoyproxy/envoy#44111) is not known for this version (seen for 1.36–1.40) (STK0308)")
