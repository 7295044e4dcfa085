"""STK0201: the session filter is missing where sessions are expected to stick.

Where istiod puts the filter — pilot/pkg/networking/core/listener_builder.go
``buildHTTPConnectionManager``: ``features.EnablePersistentSessionFilter && class !=
ListenerClassSidecarInbound``, the same condition in every tag 1.17 .. master — every HTTP
connection manager of gateways and of sidecar *outbound* listeners, labelled Services or not.
Never sidecar inbound, never waypoints (listener_waypoint.go builds their HCMs with the
SidecarInbound class, the ``main_internal`` listener included), never the ambient
``connect_terminate`` listener (``buildHCMConnectTerminateChain``), never the bootstrap's static
listeners (15090, 15021). So a missing filter alone only says the flag is off, which is its
default: that is a finding only where sessions are expected on the proxy — a route of it leads to a
labelled Service (--services), or carries session config (the dump says so). Then it is one finding
per proxy (the flag is istiod's, not a listener's), naming the listeners that serve those routes.

Istio before 1.17 has no session label at all, 1.17 no header label (stickyctl.istio.versions):
there the message says so instead of asking for the flag.
"""

from __future__ import annotations

from collections.abc import Iterator

from stickyctl.catalog import (
    LeadsToLabelled,
    RoutesCarrySessions,
    RoutesNotInInput,
    SessionFilterMissing,
    SessionsExpected,
    SessionsNotInIstio,
)
from stickyctl.checks.context import ISTIO_BOOTSTRAP_PORTS, CheckContext, ExpectationSource, RouteFact
from stickyctl.envoy.enums import ProxyKind, SessionMode
from stickyctl.envoy.model import Listener, Proxy
from stickyctl.findings import Finding, Resource
from stickyctl.istio import versions

CODE = "STK0201"

NOT_ISTIOD_HCM_LISTENERS = frozenset({"connect_terminate", "main_internal"})
"""Ambient listeners istiod builds without the filter: HBONE termination, and the waypoint's own."""


def _eligible(lst: Listener) -> bool:
    return lst.port not in ISTIO_BOOTSTRAP_PORTS and lst.name not in NOT_ISTIOD_HCM_LISTENERS


def _lacking(ctx: CheckContext, proxy: Proxy) -> dict[str, set[str]]:
    """Listener name -> route configuration names of its HCMs that lack the filter."""
    out: dict[str, set[str]] = {}
    for lst in ctx.checked_listeners(proxy):
        if not _eligible(lst):
            continue
        for ch in lst.chains:
            if ch.hcm is None or ch.inbound or ch.hcm.session_filter is not None:
                continue
            names = out.setdefault(lst.name, set())
            if ch.hcm.rds_name:
                names.add(ch.hcm.rds_name)
            if ch.hcm.inline_route_config is not None:
                names.add(ch.hcm.inline_route_config.name or f"inline:{lst.name}/{ch.id}")
    return out


def _sticky_facts(ctx: CheckContext, proxy: Proxy) -> list[RouteFact]:
    return [f for f in ctx.route_facts if f.proxy is proxy and (f.sticky or f.active_sessions)]


def _why_expected(facts: list[RouteFact]) -> SessionsExpected:
    label = ExpectationSource.LABEL  # read once, not per destination (see stickyctl.envoy.enums)
    labelled = sorted({d.expectation.service_id for f in facts for d in f.sticky if d.expectation.source == label})
    if labelled:
        return LeadsToLabelled(tuple(labelled))
    return RoutesCarrySessions(len(facts))


_LABEL_MODES = frozenset({SessionMode.HEADER, SessionMode.COOKIE})


def _modes(facts: list[RouteFact]) -> set[SessionMode]:
    modes = {d.expectation.mode for f in facts for d in f.sticky}
    modes.update(state.mode for f in facts for _cfg, state in f.active_sessions)
    return modes & _LABEL_MODES


def check(ctx: CheckContext) -> Iterator[Finding]:
    for proxy in ctx.proxies:
        if proxy.identity.kind == ProxyKind.WAYPOINT:
            continue  # not_checked says so
        lacking = _lacking(ctx, proxy)
        if not lacking:
            continue
        facts = _sticky_facts(ctx, proxy)
        why: SessionsExpected
        if facts:
            served = {id(f.route_config) for f in facts}
            sticky_configs = {key for key, rc in proxy.route_configs.items() if id(rc) in served}
            affected = sorted(name for name, rcs in lacking.items() if rcs & sticky_configs)
            why = _why_expected(facts)
            modes = _modes(facts)
        elif ctx.services_given and ctx.labelled and (unseen := sorted(
                name for name, rcs in lacking.items() if rcs and not rcs & set(proxy.route_configs))):
            # Listeners whose routes are not in the input (a listener dump alone): the flag is
            # istiod's, so a missing filter holds for the labelled Services too, whichever route
            # leads to them.
            affected = unseen
            why = RoutesNotInInput(len(ctx.labelled))
            modes = {s.mode for s in ctx.labelled}
        else:
            continue  # nothing is expected to stick here: a missing filter is the flag's default
        if not affected:
            continue  # the listeners serving the sticky routes carry the filter
        version = versions.parse_istio_version(proxy.identity.istio_version)
        too_old = sorted({s.version for s in (versions.session_support(m, version) for m in modes) if s}
                         ) if version else []
        listeners = tuple(affected)
        if version is not None and too_old and proxy.identity.istio_version is not None:
            message: SessionFilterMissing | SessionsNotInIstio = SessionsNotInIstio(
                listeners, why, proxy.identity.istio_version, tuple(sorted(modes)), versions.shown(too_old[-1]))
        else:
            message = SessionFilterMissing(listeners, why)
        yield Finding.of(message, Resource(proxy=proxy.name))
