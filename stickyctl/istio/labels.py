"""istiod's session label keys (defaults of PILOT_PERSISTENT_SESSION_LABEL / _HEADER_LABEL).

A module of its own, with no imports, so the CLI can name the defaults without loading decoders.
"""

from __future__ import annotations

from dataclasses import dataclass

COOKIE_LABEL = "istio.io/persistent-session"
HEADER_LABEL = "istio.io/persistent-session-header"


@dataclass(frozen=True)
class LabelKeys:
    cookie: str = COOKIE_LABEL
    header: str = HEADER_LABEL
