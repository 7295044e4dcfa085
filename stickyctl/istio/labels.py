"""istiod's session label keys (defaults of PILOT_PERSISTENT_SESSION_LABEL / _HEADER_LABEL).

A module of its own, with no imports, so the CLI can name the defaults without loading decoders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

COOKIE_LABEL = "istio.io/persistent-session"
HEADER_LABEL = "istio.io/persistent-session-header"


@dataclass(frozen=True)
class LabelKeys:
    cookie: str = COOKIE_LABEL
    header: str = HEADER_LABEL


USE_WAYPOINT = "istio.io/use-waypoint"
"""On a Service or its Namespace: mesh traffic to it goes through this waypoint (``none`` opts out)."""
INGRESS_USE_WAYPOINT = "istio.io/ingress-use-waypoint"
""""true" on a Service or its Namespace: gateways send its requests to its waypoint too (Istio 1.23+)."""

LOOKALIKE_KEY = re.compile(r"persistent[-_.]?session|sticky[-_.]?session", re.IGNORECASE)
"""Keys seen in blog posts that istiod never reads, e.g. istio.io/persistent-session-cookie (STK0104)."""


def session_related(key: str, keys: LabelKeys) -> bool:
    """A label or annotation key the checks read: one of istiod's keys, or a look-alike of them."""
    return key in (keys.cookie, keys.header) or LOOKALIKE_KEY.search(key) is not None


class LabelValueProblem(Enum):
    """Why a session label value cannot work (STK0102; the catalog words it)."""

    LABEL_VALUE = "label-value"
    """Not a Kubernetes label value: the API server rejects the manifest."""
    PATH_FORM = "path-form"
    """Not a label value because it is istiod's documented ``name:path`` cookie form, which holds ``:`` or ``/``."""
    TOKEN = "token"
    """A label value, but not an RFC 9110 token: not a header or cookie name a client can send."""
