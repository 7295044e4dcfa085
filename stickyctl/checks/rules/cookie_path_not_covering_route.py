"""STK0307: the cookie path does not cover the route's match, so the cookie is never used there.

Envoy's cookie session state only applies to request paths under ``cookie.path``
(stickyctl.envoy.cookie_path says which).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from stickyctl.catalog import CookiePathNotCoveringRoute
from stickyctl.checks.context import CheckContext
from stickyctl.checks.rules._routes import sticky_cookie_sessions
from stickyctl.envoy.cookie_path import cookie_path_matches
from stickyctl.envoy.model import RouteMatcher
from stickyctl.findings import Finding

CODE = "STK0307"


def _covers_prefix(cookie_path: str, prefix: str) -> bool:
    # Every path under the route prefix must match; a prefix equal to the cookie path counts as
    # covered (users mean "/api" and "/api/...").
    if not cookie_path or cookie_path == "/":
        return True
    return prefix == cookie_path or cookie_path_matches(cookie_path, prefix)


_REGEX_LITERAL = re.compile(r"^\^?((?:[^\\.^$|?*+()\[\]{}]|\\[/.\-])*)")


_Miss = tuple[Literal["path", "prefix", "path_separated_prefix", "safe_regex"], str]


def not_covered(cookie_path: str, match: RouteMatcher) -> _Miss | None:
    """The route match the cookie path misses (field, value), or None when covered or not decidable."""
    if match.path is not None:
        return None if cookie_path_matches(cookie_path, match.path) else ("path", match.path)
    if match.prefix is not None:
        return None if _covers_prefix(cookie_path, match.prefix) else ("prefix", match.prefix)
    if match.path_separated_prefix is not None:
        prefix = match.path_separated_prefix
        return None if _covers_prefix(cookie_path, prefix) else ("path_separated_prefix", prefix)
    regex = match.safe_regex
    if regex is not None and "|" not in regex:
        m = _REGEX_LITERAL.match(regex)
        literal = m.group(1).replace("\\", "") if m else ""
        # Only a literal start that already diverges from the cookie path proves a miss.
        if literal.startswith("/") and not literal.startswith(cookie_path[: len(literal)]):
            return ("safe_regex", regex)
    return None


def check(ctx: CheckContext) -> Iterator[Finding]:
    for fact, state in sticky_cookie_sessions(ctx):
        path = state.cookie_path or "/"
        miss = not_covered(path, fact.route.matcher)
        if miss:
            yield Finding.of(CookiePathNotCoveringRoute(state.name, path, *miss), fact.resource)
