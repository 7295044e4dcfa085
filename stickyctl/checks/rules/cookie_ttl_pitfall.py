"""STK0308: cookie TTL pitfalls by Envoy version.

- Envoy >= 1.27 encodes the expiry in the cookie and enforces it without refreshing it for active
  users: Istio 1.17-1.21's hard-coded 120 s TTL ends sessions after two minutes (istio/istio#49000).
- Envoy 1.27-1.29, before envoyproxy/envoy#32093, treated TTL 0 as expired.
- Several gateway replicas validate each other's cookies, so the expiry must be stamped with a
  clock they share. Envoy 1.27-1.38 use ``monotonicTime()`` (envoyproxy/envoy#44111): seconds since
  the *node* booted (steady_clock; every process on one node agrees, nodes do not). Fixed in 1.39 by
  PR 44981 (Unix time). [seen] with real Envoys (tests/test_cookie_expiry_clock.py): 1.36.2 .. 1.38.3
  issue ``expires`` = uptime + TTL and honour a cookie stamped that way, while 1.39.0, 1.39.3 and
  1.40.0 issue Unix time + TTL and judge an uptime-stamped cookie expired. The range is one data
  point, ``stickyctl.istio.versions.COOKIE_EXPIRY_HOST_CLOCK``.

  So with a TTL, on several replicas of an affected Envoy, a session moves as soon as a request
  reaches a replica whose node has been up longer than the issuing one's by more than the TTL; and
  while replicas of both kinds run (an upgrade to 1.39+), the new ones reject every cookie the old
  ones issued (an uptime is decades in the Unix past), while the old ones never expire the new ones'.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import CookieExpiryHostClock, CookieTtlShort, CookieTtlZero
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._fleet import replica_groups
from stickyctl.checks.rules._routes import sticky_cookie_sessions
from stickyctl.envoy.model import Proxy
from stickyctl.findings import Finding
from stickyctl.istio import versions

CODE = "STK0308"

SHORT_TTL_SECONDS = 120.0
"""Istio 1.17–1.21's hard-coded cookie TTL: the value that logged users out."""


def ttl_problem(ttl: float | None, envoy_version: str | None,
                cookie: str = "") -> CookieTtlZero | CookieTtlShort | None:
    """What is wrong with cookie ``cookie``'s TTL on this Envoy, or None."""
    v = versions.parse_envoy_version(envoy_version)
    if envoy_version is not None and v is not None and versions.COOKIE_TTL_ZERO_EXPIRED.holds(v) and not ttl:
        return CookieTtlZero(cookie, ttl, envoy_version)
    if ttl and 0 < ttl <= SHORT_TTL_SECONDS and (v is None or versions.COOKIE_EXPIRY_IN_COOKIE.holds(v)):
        return CookieTtlShort(cookie, ttl, envoy_version)
    return None


def host_clock(proxy: Proxy) -> bool | None:
    """Whether this Envoy stamps cookie expiry with the node's uptime clock (None: version unknown)."""
    v = versions.parse_envoy_version(proxy.identity.envoy_version)
    return None if v is None else versions.COOKIE_EXPIRY_HOST_CLOCK.holds(v)


def check(ctx: CheckContext) -> Iterator[Finding]:
    ttl_proxies: set[int] = set()
    # Thousands of routes share a few (TTL, Envoy, cookie) triples: each is judged once.
    problems: dict[tuple[float | None, str | None, str], CookieTtlZero | CookieTtlShort | None] = {}
    for fact, state in sticky_cookie_sessions(ctx):
        if state.ttl_seconds:
            ttl_proxies.add(id(fact.proxy))
        key = (state.ttl_seconds, fact.proxy.identity.envoy_version, state.name)
        if key not in problems:
            problems[key] = ttl_problem(*key)
        problem = problems[key]
        if problem:
            yield Finding.of(problem, fact.resource)
    for workload, replicas in replica_groups(ctx):
        if not any(id(p) in ttl_proxies for p in replicas):
            continue
        kinds = {p.identity.envoy_version or "unknown": host_clock(p) for p in replicas}
        affected = sorted(v for v, uptime in kinds.items() if uptime)
        unknown = sorted(v for v, uptime in kinds.items() if uptime is None)
        if affected:
            message = CookieExpiryHostClock(len(replicas), workload.described, tuple(sorted(kinds)), tuple(affected),
                                            mixed=any(uptime is False for uptime in kinds.values()))
            yield Finding.of(message, workload.resource)
        elif unknown:
            ctx.not_checked.append(
                f"{workload.described}: cookie sessions with a TTL on {len(replicas)} replicas of an Envoy whose "
                f"version the dumps do not say: whether it stamps the cookie expiry with the node's uptime clock "
                f"(Envoy {versions.COOKIE_EXPIRY_HOST_CLOCK.shown}, envoyproxy/envoy#44111) is not known (STK0308)")
