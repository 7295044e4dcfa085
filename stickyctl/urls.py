"""The one check of the http(s) URLs stickyctl is given: `--admin-url`, `why --url`, `probe URL`.

Each caller puts its option and the URL (credentials redacted) in front of the reason this module
gives, and then checks what only it cares about (an admin URL is a base URL: no query).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


class UrlError(ValueError):
    """Why a URL cannot be used, in words that name neither the option nor the URL."""


@dataclass(frozen=True)
class HttpUrl:
    text: str
    """The URL as split: ``http://`` in front where it had no scheme and the caller allows that."""
    parts: urllib.parse.SplitResult
    """Scheme (``http`` or ``https``, lower-case), path, query, fragment as ``urlsplit`` gives them."""
    host: str
    """The host, lower-case; an IPv6 address without its brackets."""
    port: int | None
    """The port written in the URL, if any (1–65535)."""


def parse_http_url(url: str, *, add_scheme: bool, purpose: str) -> HttpUrl:
    """``url`` split, or a :class:`UrlError`: http/https only, a host, a valid port, and no spaces or
    control characters (which would otherwise end up in a request line or a log).

    ``add_scheme``: ``gw:8080/x`` means ``http://gw:8080/x`` (as curl reads it). ``purpose`` ends
    the scheme message: "only http:// and https:// URLs{purpose}"."""
    if not url:
        raise UrlError("empty URL")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise UrlError("a URL cannot contain spaces or control characters")
    text = "http://" + url if add_scheme and "://" not in url else url
    try:
        parts = urllib.parse.urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port out of range, a bracket not closed
        raise UrlError(f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UrlError(f"only http:// and https:// URLs{purpose} (scheme: {parts.scheme or 'none'})")
    if not host:
        raise UrlError("no host in the URL")
    if port == 0:
        raise UrlError("port 0 is not a TCP port")
    return HttpUrl(text, parts, host, port)
