"""STK0311: two sticky Services share one session header or cookie name under overlapping hosts.

A client keeps one value per header or cookie name and host (and cookie path): when two Services
reached under the same host use the same name, a value issued for Service A (A's pod IP:port) is
sent on requests to B. B's cluster has no such host: Envoy re-balances and issues B's value, which
the next request to A re-balances again — sessions ping-pong between the two and stick to neither
(Envoy writes a new value whenever the chosen host differs from the one asked for; ISTIO-NOTES
"Header value"). Typical cause: the same label value copied onto every Service
(``istio.io/persistent-session: sticky``), served by one gateway on hosts ``*``.

Hosts overlap when two routes are in one virtual host, or in virtual hosts whose Istio names
(``<host>:<port>``) overlap: equal, ``*``, or a ``*.suffix`` covering the other. Cookies also need
overlapping paths (one cookie path covers the other's, Envoy's cookie path rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from stickyctl.catalog import SessionNameShared, SharedName
from stickyctl.checks.context import CheckContext, RouteFact
from stickyctl.envoy.cookie_path import cookie_path_matches
from stickyctl.envoy.enums import SessionMode
from stickyctl.envoy.sessions import name_key
from stickyctl.findings import Finding, Resource

CODE = "STK0311"

_NAMED_MODES = frozenset({SessionMode.HEADER, SessionMode.COOKIE})


@dataclass(frozen=True)
class _Use:
    fact: RouteFact
    host: str
    """The Service host the session is issued for."""
    path: str
    """Cookie path ("/" for headers)."""


def _vhost_host(name: str) -> str:
    host, sep, port = name.rpartition(":")
    return host if sep and port.isdigit() else name


def _hosts_overlap(a: str, b: str) -> bool:
    if a == b or a == "*" or b == "*":
        return True
    return any(wild.startswith("*.") and other.endswith(wild[1:]) for wild, other in ((a, b), (b, a)))


def _paths_overlap(a: str, b: str) -> bool:
    return cookie_path_matches(a, b) or cookie_path_matches(b, a)


# virtual host -> cookie path -> Service host -> ids of the route facts using the name there
_Buckets = dict[str, dict[str, dict[str, set[int]]]]


def _clashing(found: list[_Use], *, cookie: bool) -> Iterator[_Use]:
    """The uses of one session name that another Service's use can collide with: under an
    overlapping virtual host (and, for cookies, an overlapping path), for another Service host, on
    another route (the destinations of one weighted route are STK0306's, envoy#24741).

    Uses are filed by virtual host and path, so a gateway with thousands of hosts costs one look per
    use at its own bucket and at the few wildcard ones (``*``, ``*.suffix``), not a look at every pair."""
    buckets: _Buckets = {}
    for u in found:
        vh = _vhost_host(u.fact.virtual_host.name)
        buckets.setdefault(vh, {}).setdefault(u.path, {}).setdefault(u.host, set()).add(id(u.fact))
    wild = [w for w in buckets if w == "*" or w.startswith("*.")]
    if not wild:
        # Without wildcard hosts only a virtual host used by two Services or more can clash.
        crowded = {b for b, by_path in buckets.items() if len({h for hs in by_path.values() for h in hs}) > 1}
        found = [u for u in found if _vhost_host(u.fact.virtual_host.name) in crowded]
    for u in found:
        vh = _vhost_host(u.fact.virtual_host.name)
        near = [vh, *(w for w in wild if w != vh and _hosts_overlap(w, vh))]
        if vh in wild:  # a wildcard covers other hosts too (a lazy walk: stops at the first clash)
            near_all: Iterator[str] = iter([*near, *(b for b in buckets if b not in near and _hosts_overlap(vh, b))])
        else:
            near_all = iter(near)
        if any(_collides(u, buckets[b], cookie) for b in near_all):
            yield u


def _collides(u: _Use, by_path: dict[str, dict[str, set[int]]], cookie: bool) -> bool:
    for path, by_host in by_path.items():
        if cookie and not _paths_overlap(u.path, path):
            continue
        for host, facts in by_host.items():
            if host != u.host and (len(facts) > 1 or id(u.fact) not in facts):
                return True
    return False


def check(ctx: CheckContext) -> Iterator[Finding]:
    # (proxy, route configuration, mode, name) -> each sticky use of that session name
    uses: dict[tuple[str, str, SessionMode, str], list[_Use]] = {}
    cookie = SessionMode.COOKIE  # read once, not per destination (see stickyctl.envoy.enums)
    for fact in ctx.route_facts:
        for d in fact.sticky:
            eff = d.effective
            if eff is None or not eff.active or eff.state is None or eff.state.mode not in _NAMED_MODES:
                continue
            st = eff.state
            key = (fact.proxy.name, fact.route_config.name, st.mode, name_key(st.mode, st.name))
            path = st.cookie_path or "/" if st.mode == cookie else "/"
            uses.setdefault(key, []).append(_Use(fact, d.host, path))
    shared: dict[tuple[str, str], list[SharedName]] = {}
    for (proxy, route_config, mode, name), found in sorted(uses.items()):
        hosts: dict[str, set[str]] = {}
        for use in _clashing(found, cookie=mode == cookie):
            hosts.setdefault(use.host, set()).add(use.fact.route.id)
        if hosts:
            users = tuple((h, tuple(sorted(r))) for h, r in sorted(hosts.items()))
            shared.setdefault((proxy, route_config), []).append(SharedName(mode, name, users))
    for (proxy, route_config), clashes in sorted(shared.items()):
        yield Finding.of(SessionNameShared(tuple(clashes)), Resource(proxy=proxy, route_config=route_config))
