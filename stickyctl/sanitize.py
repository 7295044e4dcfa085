"""Text that reaches a terminal or a CI log: one line, no control characters, no credentials.

Names and messages come from inputs stickyctl does not trust (config dumps fetched from a cluster,
kubeconfigs, URLs typed on a command line). Three guarantees, applied where text leaves the tool:

- :func:`printable`: control characters (ANSI escape sequences, BEL, CR, LF …) and bidi overrides
  are shown escaped (``\\x1b``, ``\\n``, ``\\u202e``), so a listener named ``"\\x1b]0;…"`` cannot
  retitle a terminal, clear a CI log, or split one error into two lines.
- :func:`redact_url`: userinfo (``user:password@``) never appears in a message.
- :func:`scrub`: the credentials of the kubeconfig in use (tokens, passwords, exec plugin env
  values, auth-provider secrets), registered by :func:`register_secret` when it is loaded, are
  replaced by ``***`` in every message, whatever library produced it.
"""

from __future__ import annotations

import re
import threading
import urllib.parse

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control characters and bidi overrides escaped (never a line break)."""
    if text.isprintable():
        return text
    return _CONTROL.sub(_escape, text)


def redact_url(url: str) -> str:
    """``url`` without its userinfo: ``http://user:pw@host:1/x`` → ``http://***@host:1/x``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@]*@", "//***@", url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))


_URL_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]*@")
"""``scheme://anything@`` inside a longer message (an error that quotes a URL)."""

MIN_SECRET_LENGTH = 6
"""Shorter values are not scrubbed: replacing "1" or "true" everywhere would garble messages."""

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: object) -> None:
    """Never show ``value`` in a message from now on (a token, a password, an env value of an exec
    credential plugin)."""
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets.add(value)
        # "Bearer <token>" and the base64 forms a library might echo are covered by the raw value.


def forget_secrets() -> None:
    """Tests: start from no registered secrets."""
    with _lock:
        _secrets.clear()


def scrub(text: str) -> str:
    """``text`` with registered secrets replaced by ``***`` and URL userinfo removed."""
    if "@" in text:
        text = _URL_USERINFO.sub(r"\1***@", text)
    if not _secrets:
        return text
    with _lock:
        found = [s for s in _secrets if s in text]
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def message(text: str) -> str:
    """What an error or warning line may show: scrubbed and printable (one line)."""
    return printable(scrub(text))
