"""How Envoy's stateful_session decides, once: which config applies, whether it is the one a sticky
destination expects, and which pinned hosts a cluster honours.

``stickyctl.checks`` (what is wrong across a config) and ``stickyctl.why`` (what happens to one
request) both read these answers here; neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from stickyctl.envoy.enums import HostStatus, SessionMode, StrEnum

if TYPE_CHECKING:
    from stickyctl.envoy.model import (
        Cluster,
        HttpConnectionManager,
        Route,
        RouteConfig,
        SessionConfig,
        VirtualHost,
    )


# --- which config applies ---------------------------------------------------------------------------


def effective_session(dest_session: SessionConfig | None, route: Route, vhost: VirtualHost, rc: RouteConfig,
                      hcm: HttpConnectionManager | None) -> SessionConfig | None:
    """The stateful_session config Envoy applies to one destination of a route: the most specific
    ``typed_per_filter_config`` (weighted-cluster entry > route > virtual host > route configuration),
    else the HTTP filter's own config. Envoy honours every one of these levels [seen on 1.40]
    (ISTIO-NOTES "Most specific wins"); istiod itself only writes the virtual host (1.17+) and the
    route (1.21+), EnvoyFilters the others."""
    for cfg in (dest_session, route.session, vhost.session, rc.session):
        if cfg is not None:
            return cfg
    if hcm is not None and hcm.session_filter is not None:
        return hcm.session_filter.session
    return None


# --- whether it is the expected one -------------------------------------------------------------------


class SessionVerdict(StrEnum):
    """A sticky destination's effective session config against the header or cookie it should use."""

    OK = "ok"
    MISSING = "missing"
    """No config at any level, or one without a session state: every request is re-balanced (STK0301)."""
    DISABLED = "disabled"
    """``disabled: true`` wins at the most specific level (STK0304)."""
    MODE = "mode"
    """A header where a cookie is expected, or the other way round (STK0303)."""
    NAME = "name"
    """Another header or cookie name (STK0302)."""


# Read once per sticky route: module constants, not class reads (see stickyctl.envoy.enums).
_HEADER = SessionMode.HEADER


def name_key(mode: SessionMode, name: str) -> str:
    """A session name in the form under which the names a client treats as one are equal: HTTP
    header names are case-insensitive (RFC 9110 5.1), cookie names are not (RFC 6265 5.3)."""
    return name.lower() if mode == _HEADER else name


def names_equal(mode: SessionMode, a: str, b: str) -> bool:
    """``name_key(mode, a) == name_key(mode, b)``, written out: asked once per sticky route."""
    return a.lower() == b.lower() if mode == _HEADER else a == b


def session_verdict(mode: SessionMode, name: str, eff: SessionConfig | None) -> SessionVerdict:
    """``eff`` (see ``effective_session``) against the expected ``mode`` and ``name``."""
    if eff is None:
        return _MISSING
    if eff.disabled:
        return _DISABLED
    if eff.state is None:
        return _MISSING
    if eff.state.mode != mode:
        return _MODE
    if not names_equal(mode, eff.state.name, name):
        return _NAME
    return _OK


# Returned once per sticky destination: module constants, not class reads (see stickyctl.envoy.enums).
_OK, _MISSING, _DISABLED, _MODE, _NAME = (SessionVerdict.OK, SessionVerdict.MISSING, SessionVerdict.DISABLED,
                                          SessionVerdict.MODE, SessionVerdict.NAME)


# --- which pinned hosts a cluster honours --------------------------------------------------------------

DEFAULT_OVERRIDE_STATUSES: tuple[str, ...] = (HostStatus.UNKNOWN, HostStatus.HEALTHY, HostStatus.DEGRADED)
"""What Envoy honours when ``override_host_status`` is unset (ISTIO-NOTES, Envoy side) [seen on 1.40]."""


class OverrideHostStatus(NamedTuple):
    """A cluster's ``common_lb_config.override_host_status`` as Envoy applies it to a session's pinned
    host: the host is used only when its health status is in the set. Unset: Envoy's default
    (``DEFAULT_OVERRIDE_STATUSES``, without DRAINING, so a session to a terminating pod moves);
    set but empty: no pinned host is ever honoured [seen on 1.40]."""

    statuses: tuple[str, ...]
    """The statuses honoured (Envoy's default when the cluster does not set them)."""
    explicit: bool
    """The cluster sets the field (False: Envoy's default applies)."""
    honours_none: bool
    """Set but empty: every session value is ignored (STK0402)."""
    keeps_draining: bool
    """A session pinned to a DRAINING host (a terminating pod still serving) keeps it (STK0401)."""

    @classmethod
    def of(cls, cluster: Cluster) -> OverrideHostStatus:
        # Clusters share their status tuples (the model parses each distinct set once): one
        # answer per set, looked up per cluster (tens of thousands on a large gateway).
        configured = cluster.override_statuses
        found = _OVERRIDES.get(configured)
        if found is None:
            statuses = DEFAULT_OVERRIDE_STATUSES if configured is None else configured
            found = _OVERRIDES[configured] = cls(statuses, configured is not None, not statuses,
                                                 HostStatus.DRAINING in statuses)
        return found

    def honours(self, status: str) -> bool:
        """A session pinned to a host with this health status keeps it."""
        return status in self.statuses

    @property
    def listed(self) -> str:
        """``[HEALTHY, DRAINING, UNKNOWN, DEGRADED]``."""
        return "[" + ", ".join(self.statuses) + "]"


_OVERRIDES: dict[tuple[str, ...] | None, OverrideHostStatus] = {}
