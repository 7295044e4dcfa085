"""One HTTP request as the gateway sees it: the connection (scheme, address, port) and the headers.

Built from ``stickyctl why --url URL [--header NAME:VALUE]... [--cookie NAME=VALUE]... [-X METHOD]``.
``--header Host:…`` replaces ``:authority`` the way ``curl -H 'Host: …'`` does; cookies are sent in
one ``cookie`` header, as a client sends them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from stickyctl.sanitize import redact_url
from stickyctl.urls import UrlError, parse_http_url

DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_METHOD = re.compile(r"[A-Z]+")


class RequestError(ValueError):
    """The request cannot be built from the given URL, headers or cookies (a usage error)."""


@dataclass(frozen=True)
class Request:
    method: str
    scheme: str
    host: str
    """The URL's host: what the client connects to (an IP or a name)."""
    port: int
    """The port the client connects to (the URL's, else 80/443)."""
    port_given: bool
    authority: str
    """``:authority`` (the Host header): the URL's host[:port], or a ``Host`` header given."""
    path: str
    """``:path`` as sent: path and query, no fragment."""
    headers: tuple[tuple[str, str], ...]
    """Other request headers, names lower-cased, in order."""

    def header_values(self, name: str) -> list[str]:
        """Every value of a header (pseudo-headers included), as Envoy's header map holds them."""
        name = name.lower()
        pseudo = {":method": self.method, ":authority": self.authority, ":path": self.path,
                  ":scheme": self.scheme}
        if name in pseudo:
            return [pseudo[name]]
        if name == "host":
            return [self.authority]
        return [v for n, v in self.headers if n == name]

    def cookies(self) -> list[tuple[str, str]]:
        """(name, value) of every cookie in the ``cookie`` headers, in order."""
        out = []
        for header in self.header_values("cookie"):
            for pair in header.split(";"):
                name, sep, value = pair.strip().partition("=")
                if sep and name:
                    out.append((name.strip(), value.strip()))
        return out

    @property
    def host_is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
            return True
        except ValueError:
            return False


def build_request(url: str, headers: Sequence[str] = (), cookies: Sequence[str] = (), method: str = "GET") -> Request:
    """Raises :class:`RequestError` with a one-line reason for anything a client could not send."""
    if not _METHOD.fullmatch(method.upper()):
        raise RequestError(f"-X {method!r}: not an HTTP method")
    try:
        parsed = parse_http_url(url, add_scheme=True, purpose=" go through a gateway")
    except UrlError as exc:
        raise RequestError(f"--url {redact_url(url)!r}: {exc}") from None
    parts, host, port = parsed.parts, parsed.host, parsed.port
    scheme = parts.scheme
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    shown_host = f"[{host}]" if ":" in host else host
    authority = shown_host if port is None else f"{shown_host}:{port}"
    out: list[tuple[str, str]] = []
    for text in headers:
        name, sep, value = text.partition(":")
        name = name.strip()
        if not sep or not _TOKEN.fullmatch(name):
            raise RequestError(f"--header {text!r}: expected NAME:VALUE")
        if "\n" in value or "\r" in value:
            raise RequestError(f"--header {text!r}: a header value cannot hold a line break")
        if name.lower() == "host":
            authority = value.strip()
            if not authority:
                raise RequestError(f"--header {text!r}: an empty Host")
            continue
        out.append((name.lower(), value.strip()))
    pairs = []
    for text in cookies:
        name, sep, value = text.partition("=")
        if not sep or not _TOKEN.fullmatch(name.strip()):
            raise RequestError(f"--cookie {text!r}: expected NAME=VALUE")
        if ";" in value or "\n" in value or "\r" in value:
            raise RequestError(f"--cookie {text!r}: a cookie value cannot hold ';' or a line break")
        pairs.append(f"{name.strip()}={value.strip()}")
    if pairs:
        out.append(("cookie", "; ".join(pairs)))
    return Request(method.upper(), scheme, host, port if port is not None else DEFAULT_PORTS[scheme], port is not None,
                   authority, path, tuple(out))
