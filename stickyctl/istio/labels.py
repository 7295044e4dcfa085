"""istiod's session label keys (defaults of PILOT_PERSISTENT_SESSION_LABEL / _HEADER_LABEL).

A module of its own, with no imports, so the CLI can name the defaults without loading decoders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COOKIE_LABEL = "istio.io/persistent-session"
HEADER_LABEL = "istio.io/persistent-session-header"


@dataclass(frozen=True)
class LabelKeys:
    cookie: str = COOKIE_LABEL
    header: str = HEADER_LABEL


LOOKALIKE_KEY = re.compile(r"persistent[-_.]?session|sticky[-_.]?session", re.IGNORECASE)
"""Keys seen in blog posts that istiod never reads, e.g. istio.io/persistent-session-cookie (STK0104)."""


def session_related(key: str, keys: LabelKeys) -> bool:
    """A label or annotation key the checks read: one of istiod's keys, or a look-alike of them."""
    return key in (keys.cookie, keys.header) or LOOKALIKE_KEY.search(key) is not None
