"""Which request paths a cookie session's ``cookie.path`` applies to, as Envoy decides it.

Envoy's cookie session state (source/extensions/http/stateful_session/cookie) reads and sets the
cookie only for request paths under ``cookie.path``: an empty path or "/" matches everything; a
path ending in "/" is a plain prefix; otherwise the path itself, or the path followed by "/",
"?" or "#". Both the checks (STK0307, STK0311) and `why` ask it, so it lives here, with Envoy's
other semantics, not in either of them.
"""

from __future__ import annotations


def cookie_path_matches(cookie_path: str, request_path: str) -> bool:
    if not cookie_path or cookie_path == "/":
        return True
    if cookie_path.endswith("/"):
        return request_path.startswith(cookie_path)
    if not request_path.startswith(cookie_path):
        return False
    return len(request_path) == len(cookie_path) or request_path[len(cookie_path)] in "/?#"
