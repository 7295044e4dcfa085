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

from stickyctl.checks.context import CheckContext, RouteFact
from stickyctl.checks.rules.cookie_path_not_covering_route import cookie_path_matches
from stickyctl.findings import Finding, Resource

CODE = "STK0311"


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


def check(ctx: CheckContext) -> Iterator[Finding]:
    # (proxy, route configuration, mode, name) -> each sticky use of that session name
    uses: dict[tuple[str, str, str, str], list[_Use]] = {}
    for fact in ctx.route_facts:
        for d in fact.sticky:
            eff = d.effective
            if eff is None or not eff.active or eff.state is None or eff.state.mode not in ("header", "cookie"):
                continue
            st = eff.state
            name = st.name.lower() if st.mode == "header" else st.name
            key = (fact.proxy.name, fact.route_config.name, st.mode, name)
            uses.setdefault(key, []).append(_Use(fact, d.host, st.cookie_path or "/" if st.mode == "cookie" else "/"))
    shared: dict[tuple[str, str], list[str]] = {}
    for (proxy, route_config, mode, name), found in sorted(uses.items()):
        hosts: dict[str, set[str]] = {}
        for i, a in enumerate(found):
            for b in found[i + 1:]:
                if a.host == b.host or a.fact is b.fact:
                    continue  # one Service; or one weighted route (STK0306, envoy#24741)
                same_vhost = a.fact.virtual_host is b.fact.virtual_host
                if not same_vhost and not _hosts_overlap(_vhost_host(a.fact.virtual_host.name),
                                                         _vhost_host(b.fact.virtual_host.name)):
                    continue
                if mode == "cookie" and not _paths_overlap(a.path, b.path):
                    continue
                for use in (a, b):
                    hosts.setdefault(use.host, set()).add(use.fact.route.id)
        if hosts:
            listed = ", ".join(f"{h} (route {', '.join(sorted(r))})" for h, r in sorted(hosts.items()))
            shared.setdefault((proxy, route_config), []).append(f"{mode} {name!r} by {listed}")
    for (proxy, route_config), clashes in sorted(shared.items()):
        yield Finding(
            CODE,
            f"one session name for several Services under overlapping hosts: {'; '.join(clashes)}: each one's value "
            "sends the others' requests to a host they do not have, so sessions ping-pong between them; give each "
            "Service its own name",
            Resource(proxy=proxy, route_config=route_config),
            {"shared": "; ".join(clashes)},
        )
