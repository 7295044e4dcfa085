"""Session values as Envoy's ``stateful_session`` extensions write and read them.

What Envoy 1.40 does (ISTIO-NOTES "Header value" / "Cookie value", and the Envoy sources under
``source/extensions/http/stateful_session/``):

- header state: the value is ``Base64::encode(host->address()->asString())``, e.g. base64 of
  ``10.244.1.4:5000`` or ``[fd00::1]:8080``. Envoy's decoder is strict: unpadded values, values
  with trailing junk and non-canonical encodings decode to nothing and the request is re-balanced.
- cookie state (Envoy >= 1.27): base64 of the protobuf ``envoy.Cookie{string address = 1; uint64
  expires = 2}``; ``expires`` is omitted when the cookie has no TTL. Envoy parses the protobuf
  first and falls back to the pre-1.27 form (base64 of ``IP:port``) only when that parse fails.
- envelope state: ``base64(address);UV:base64(upstream's own header value)``.

Envoy matches the decoded address *as a string* against ``asString()`` of its hosts, so a value
that spells the right host differently (``[FD00:0::1]:80``, ``10.0.0.1:080``) pins nothing: the
decoder accepts only the exact text Envoy writes.

A host that is an Envoy internal address (``envoy_internal_address``) is written
``envoy://<internal listener>/<endpoint id>`` (``EnvoyInternalInstance``'s ``asString()``,
source/common/network/address_impl.cc; [seen] on Envoy 1.36 and 1.40: tests/test_internal_address_sessions.py).
Istio's gateways have such hosts when istiod sends a Service's endpoints as HBONE tunnels, e.g. to
its waypoint (``connect_originate`` / ``<waypoint IP>:15008``, fixtures/istiod/header-behind-waypoint);
the endpoint id is then an ``IP:port``, the only kind decoded here.

Pure functions, standard library only. Decoding never raises on any ``str``/``bytes`` input: a
value Envoy would ignore comes back as ``Rejected`` with a human reason. Encoding raises
``ValueError`` for an address Envoy could not have written.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal, TypeAlias

SessionForm = Literal["header", "cookie", "cookie-legacy", "envelope"]
"""header: base64 of ``IP:port`` (also what Envoy <= 1.26 put in cookies: a bare value of this form
decodes as ``header``); cookie: the protobuf form of Envoy >= 1.27; cookie-legacy: ``IP:port`` read
from a cookie; envelope: the envelope extension's ``base64;UV:base64``."""

OriginKind = Literal["value", "header", "set-cookie", "cookie"]
Direction = Literal["request", "response"]

UNIX_EXPIRES_FROM = 1_000_000_000
"""Smaller ``expires`` (before 2001-09-09) are opaque: some Envoy releases wrote a process-monotonic
clock there, which no wall-clock time can be derived from."""

_UINT64_MAX = (1 << 64) - 1
_MAX_GROUP_DEPTH = 100  # protobuf's default recursion limit
_SALVAGE_MAX_LEN = 1024


@dataclass(frozen=True)
class ValueOrigin:
    """Where a value was found: a bare value, a header, or a cookie in Set-Cookie / Cookie."""

    kind: OriginKind = "value"
    name: str | None = None
    """The header name, or the cookie name for set-cookie / cookie."""
    direction: Direction | None = None
    """From a ``curl -v`` transcript: ``>`` lines are the request, ``<`` lines the response."""
    max_age: int | None = None
    """Set-Cookie ``Max-Age`` (Envoy writes the cookie TTL there)."""
    path: str | None = None
    """Set-Cookie ``Path``: the session is active only for request paths under it."""


@dataclass(frozen=True)
class SessionValue:
    """A value Envoy would accept: it pins requests to the host ``upstream``."""

    raw: str
    """The value as found, without cookie quotes."""
    form: SessionForm
    address: str
    """The host IP as Envoy writes it (IPv6 without brackets)."""
    port: int
    ip_version: Literal[4, 6]
    expires: int | None = None
    """Cookie ``expires`` as written (Unix seconds since Envoy 1.27 here; opaque when small); None
    when the cookie carries no expiry."""
    expires_at: datetime | None = None
    """``expires`` as a UTC time, when it is a Unix time."""
    wrapped: str | None = None
    """Envelope form only: the upstream's own header value Envoy restores for the upstream."""
    origin: ValueOrigin = ValueOrigin()
    internal_listener: str | None = None
    """The internal listener when the pinned host is an Envoy internal address (its endpoint id is
    ``address``/``port``); None for an ``IP:port`` host."""

    @property
    def endpoint(self) -> str:
        """``IP:port`` of the pinned host (the endpoint id of an internal address)."""
        return _join_host_port(self.address, self.port, self.ip_version)

    @property
    def upstream(self) -> str:
        """The pinned host exactly as Envoy's ``address()->asString()`` spells it: ``IP:port``, or
        ``envoy://<internal listener>/IP:port``."""
        return internal_upstream(self.internal_listener, self.endpoint)

    def expired(self, now: float) -> bool | None:
        """Whether Envoy would ignore this cookie at ``now`` (Unix seconds); None when unknowable."""
        if self.expires is None or self.expires_at is None:
            return None
        # Envoy compares whole seconds: `now > expiry_time` with `now` truncated to seconds.
        return int(now) > self.expires


@dataclass(frozen=True)
class Rejected:
    """A value Envoy would ignore (the request is re-balanced), with the reason why."""

    raw: str
    reason: str
    origin: ValueOrigin = ValueOrigin()
    not_found: bool = False
    """No value at all was found in the input (``reason`` says what was looked for)."""


DecodedValue: TypeAlias = SessionValue | Rejected


class _Invalid(Exception):
    """Internal: carries the human reason a value is rejected."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


class _NotProtobuf(_Invalid):
    """The bytes are not an ``envoy.Cookie`` message (Envoy then tries the pre-1.27 form)."""


class _NonCanonical(_Invalid):
    """Base64 whose last character has spare bits set: decodes, but Envoy ignores it."""


class _Unpadded(_Invalid):
    def __init__(self, padded: str) -> None:
        super().__init__("unpadded base64: Envoy ignores it")
        self.padded = padded


_Interpreter: TypeAlias = Callable[[str, bytes, ValueOrigin], SessionValue]
_Decoder: TypeAlias = Callable[[], SessionValue]


# --- addresses -----------------------------------------------------------------------------------


def _inet_ntop6(packed: bytes) -> str:
    """IPv6 text as glibc's ``inet_ntop`` writes it, which is what Envoy's ``asString()`` uses.

    Python's ``ipaddress`` agrees except for IPv4-mapped/-compatible addresses, which glibc writes
    with a dotted quad (``::ffff:10.0.0.1``) and ipaddress (before 3.13) in hex (``::ffff:a00:1``).
    """
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    best_base, best_len, cur_base, cur_len = -1, 0, -1, 0
    for i, word in enumerate(words):
        if word == 0:
            if cur_base == -1:
                cur_base, cur_len = i, 1
            else:
                cur_len += 1
        elif cur_base != -1:
            if best_base == -1 or cur_len > best_len:
                best_base, best_len = cur_base, cur_len
            cur_base = -1
    if cur_base != -1 and (best_base == -1 or cur_len > best_len):
        best_base, best_len = cur_base, cur_len
    if best_base != -1 and best_len < 2:
        best_base = -1
    text = ""
    for i in range(8):
        if best_base != -1 and best_base <= i < best_base + best_len:
            if i == best_base:
                text += ":"
            continue
        if i != 0:
            text += ":"
        if i == 6 and best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            return text + str(ipaddress.IPv4Address(packed[12:]))
        text += f"{words[i]:x}"
    if best_base != -1 and best_base + best_len == 8:
        text += ":"
    return text


def _envoy_ip_text(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    text = _inet_ntop6(ip.packed)
    # Envoy appends a non-zero scope id as "%<number>" (Ipv6Helper::makeFriendlyAddress).
    return f"{text}%{ip.scope_id}" if ip.scope_id else text


def _join_host_port(address: str, port: int, ip_version: int) -> str:
    return f"[{address}]:{port}" if ip_version == 6 else f"{address}:{port}"


INTERNAL_SCHEME = "envoy://"


def internal_upstream(listener: str | None, endpoint_id: str) -> str:
    """A host's ``asString()``: ``endpoint_id`` itself, or ``envoy://<listener>/<endpoint_id>`` for an
    Envoy internal address."""
    return endpoint_id if listener is None else f"{INTERNAL_SCHEME}{listener}/{endpoint_id}"


def _quote(text: str) -> str:
    """``text`` in single quotes for a reason, each unprintable character escaped once (``'\\x1b'``).

    Not ``repr()``: that escapes the backslashes of escapes already made, so a byte 0x8e read with
    ``backslashreplace`` would show as ``'\\\\x8e'``, and a plain backslash as ``'\\\\'``."""
    from stickyctl.sanitize import printable

    return f"'{printable(text)}'"


def _show(payload: bytes | str, limit: int = 60) -> str:
    """A short printable rendering of decoded bytes for a reason text: bytes that are not UTF-8
    as ``\\xNN`` (once), control characters escaped, quoted."""
    text = payload.decode("utf-8", errors="backslashreplace") if isinstance(payload, bytes) else payload
    shown = _quote(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "…" + shown[-3:]


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


_Host: TypeAlias = tuple[str, int, Literal[4, 6], str | None]
"""(IP as Envoy writes it, port, IP version, internal listener or None)."""


def _parse_host_text(payload: bytes) -> _Host:
    """The host of a decoded payload: ``IP:port``, or an internal address ``envoy://<listener>/IP:port``."""
    if not payload.startswith(INTERNAL_SCHEME.encode()):
        return (*_parse_address_text(payload), None)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise _Invalid(f"an Envoy internal address that is not UTF-8: {_show(payload)}") from None
    # The endpoint id follows the last "/": an IP:port has none, a listener name may.
    listener, sep, endpoint = text[len(INTERNAL_SCHEME):].rpartition("/")
    if not sep or not listener:
        raise _Invalid(f"an Envoy internal address without '<listener>/<endpoint id>': {_show(text)}")
    try:
        address, port, version = _parse_address_text(endpoint.encode("utf-8"))
    except _Invalid as invalid:
        raise _Invalid(f"an Envoy internal address whose endpoint id is not the IP:port Istio writes there "
                       f"({invalid.reason}): {_show(text)}") from None
    return address, port, version, listener


def _parse_address_text(payload: bytes) -> tuple[str, int, Literal[4, 6]]:
    """The host of a decoded ``IP:port`` payload, accepted only in the exact form Envoy writes."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise _Invalid(f"not an IP:port address: {_show(payload)}") from None
    not_an_address = _Invalid(f"not an IP:port address: {_show(text)}")
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    if text.startswith("["):
        close = text.find("]")
        ip = _parse_ip(text[1:close]) if close > 0 else None
        if not isinstance(ip, ipaddress.IPv6Address) or not text[close + 1 :].startswith(":"):
            raise not_an_address
        if ip.scope_id is not None and not re.fullmatch(r"[1-9][0-9]{0,9}", ip.scope_id):
            raise _Invalid(f"IPv6 zone {_quote(str(ip.scope_id))}: Envoy writes only non-zero numeric zone ids")
        port_text = text[close + 2 :]
    else:
        host, _, port_text = text.partition(":")
        ip = _parse_ip(host)
        if not isinstance(ip, ipaddress.IPv4Address):
            unbracketed, _, maybe_port = text.rpartition(":")
            if isinstance(_parse_ip(unbracketed), ipaddress.IPv6Address) and maybe_port.isdigit():
                raise _Invalid(f"IPv6 address without brackets: Envoy writes '[{unbracketed}]:{maybe_port}'")
            raise not_an_address
    digits = re.match(r"[0-9]*", port_text)
    port_digits = digits.group(0) if digits else ""
    if not port_digits:
        raise not_an_address
    port = int(port_digits) if len(port_digits) <= 6 else _UINT64_MAX
    if not 1 <= port <= 65535:
        raise _Invalid(f"port out of range: {port_digits} (Envoy writes 1-65535)")
    address = _envoy_ip_text(ip)
    version: Literal[4, 6] = 4 if isinstance(ip, ipaddress.IPv4Address) else 6
    canonical = _join_host_port(address, port, version)
    spelled = text[: len(text) - len(port_text) + len(port_digits)]
    trailing = text[len(spelled) :]
    if trailing:
        hint = " (encoded with a newline? use `printf` or `echo -n`)" if trailing.strip() == "" else ""
        raise _Invalid(f"trailing data after address {_quote(spelled)}: {_show(trailing)}{hint}")
    if spelled != canonical:
        raise _Invalid(
            f"not the form Envoy writes: no host matches {_quote(spelled)}; Envoy writes this host as "
            f"{_quote(canonical)}"
        )
    return address, port, version


def parse_upstream(text: str) -> tuple[str, int]:
    """A user-typed ``IP:port`` or ``[IPv6]:port`` as (IP text as Envoy writes it, port).

    Lenient about the IP's spelling (``[FD00:0::1]:80`` is fine), strict about the shape. Raises
    ``ValueError`` with a human message.
    """
    text = text.strip()
    ip_text, port_text = "", ""
    if text.startswith("["):
        ip_text, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"not an IP:port address: {_quote(text)} (IPv6 is written [fd00::1]:8080)")
    else:
        ip_text, _, port_text = text.rpartition(":")
        if ":" in ip_text:
            raise ValueError(f"IPv6 needs brackets: [{ip_text}]:{port_text}")
    if not ip_text or not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"not an IP:port address: {_quote(text)} (IPv6 is written [fd00::1]:8080)")
    port = int(port_text) if len(port_text) <= 6 else _UINT64_MAX
    return envoy_ip(ip_text), _check_port(port)


def envoy_ip(ip: str) -> str:
    """An IP address as Envoy's ``asString()`` writes it; raises ``ValueError`` for a non-IP."""
    parsed = _parse_ip(ip.strip().removeprefix("[").removesuffix("]"))
    if parsed is None:
        raise ValueError(f"not an IP address: {_quote(ip)}")
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.scope_id is not None:
        if not re.fullmatch(r"[0-9]{1,10}", parsed.scope_id):
            raise ValueError(f"IPv6 zone {_quote(str(parsed.scope_id))}: Envoy writes numeric zone ids only")
        zone = int(parsed.scope_id)
        return _inet_ntop6(parsed.packed) + (f"%{zone}" if zone else "")
    return _envoy_ip_text(parsed)


def _check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise ValueError(f"port out of range: {port} (1-65535)")
    return port


def envoy_upstream(ip: str, port: int) -> str:
    """``IP:port`` / ``[IPv6]:port`` exactly as Envoy writes the host into session values."""
    address = envoy_ip(ip)
    return _join_host_port(address, _check_port(port), 6 if ":" in address else 4)


# --- base64 --------------------------------------------------------------------------------------

_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_B64_URLSAFE_CHARS = (_B64_CHARS - {"+", "/"}) | {"-", "_"}


def _strict_b64decode(value: str) -> bytes:
    """Standard, padded, canonical base64 only: what Envoy's ``Base64::decode`` accepts."""
    if not value:
        raise _Invalid("empty value")
    for position, char in enumerate(value):
        if char not in _B64_CHARS and char != "=":
            if char in "-_" and all(c in _B64_URLSAFE_CHARS or c == "=" for c in value):
                raise _Invalid("URL-safe base64 ('-', '_'): Envoy expects the standard alphabet ('+', '/')")
            raise _Invalid(f"not valid base64: {_quote(char)} at position {position} is not in the alphabet")
    body = value.rstrip("=")
    padding = len(value) - len(body)
    if "=" in body:
        raise _Invalid("not valid base64: '=' before the end")
    if padding == 0 and len(body) % 4 in (2, 3):
        raise _Unpadded(body + "=" * (-len(body) % 4))
    if len(body) % 4 == 1 or padding != -len(body) % 4:
        raise _Invalid(f"not valid base64: wrong length or padding ({len(body)} characters, {padding} '=')")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the checks above cover these
        raise _Invalid(f"not valid base64: {exc}") from None
    if base64.b64encode(data).decode("ascii") != value:
        raise _NonCanonical("non-canonical base64 (the last character has spare bits set): Envoy ignores it")
    return data


# --- protobuf (envoy.Cookie) ---------------------------------------------------------------------


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise _NotProtobuf("not a valid session cookie: protobuf truncated inside a varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & _UINT64_MAX, pos
    raise _NotProtobuf("not a valid session cookie: protobuf varint longer than 10 bytes")


def _read_tag(data: bytes, pos: int) -> tuple[int, int, int]:
    tag, pos = _read_varint(data, pos)
    if tag >> 3 == 0 or tag > 0xFFFFFFFF:
        raise _NotProtobuf(f"not a valid session cookie: bad protobuf tag {tag}")
    return tag >> 3, tag & 7, pos


def _skip_field(data: bytes, pos: int, field: int, wire_type: int, depth: int) -> tuple[bytes | None, int]:
    """Skip (and for length-delimited fields return) one field, as protobuf does for unknown fields."""
    if wire_type == 0:
        _, pos = _read_varint(data, pos)
        return None, pos
    if wire_type in (1, 5):
        end = pos + (8 if wire_type == 1 else 4)
        if end > len(data):
            raise _NotProtobuf("not a valid session cookie: protobuf truncated inside a fixed-size field")
        return None, end
    if wire_type == 2:
        length, pos = _read_varint(data, pos)
        if length > len(data) - pos:
            raise _NotProtobuf("not a valid session cookie: protobuf field longer than the value")
        return data[pos : pos + length], pos + length
    if wire_type == 3:
        if depth >= _MAX_GROUP_DEPTH:
            raise _NotProtobuf("not a valid session cookie: protobuf groups nested too deep")
        while True:
            if pos >= len(data):
                raise _NotProtobuf("not a valid session cookie: unterminated protobuf group")
            inner, inner_type, pos = _read_tag(data, pos)
            if inner_type == 4:
                if inner != field:
                    raise _NotProtobuf("not a valid session cookie: mismatched protobuf group end")
                return None, pos
            _, pos = _skip_field(data, pos, inner, inner_type, depth + 1)
    raise _NotProtobuf(f"not a valid session cookie: protobuf wire type {wire_type}")


def _parse_cookie_message(data: bytes) -> tuple[str, int]:
    """``envoy.Cookie{string address = 1; uint64 expires = 2}`` as protobuf's ParseFromString reads
    it: unknown fields are skipped, the last occurrence of a field wins, a field with an unexpected
    wire type is an unknown field, and a proto3 string must be UTF-8."""
    address, expires, pos = "", 0, 0
    while pos < len(data):
        field, wire_type, pos = _read_tag(data, pos)
        if field == 2 and wire_type == 0:
            expires, pos = _read_varint(data, pos)
            continue
        chunk, pos = _skip_field(data, pos, field, wire_type, 0)
        if field == 1 and chunk is not None:
            try:
                address = chunk.decode("utf-8")
            except UnicodeDecodeError:
                raise _NotProtobuf("not a valid session cookie: address is not UTF-8") from None
    return address, expires


def _write_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# --- decoding ------------------------------------------------------------------------------------


def _unquote(value: str) -> str:
    """Cookie values may be wrapped in double quotes; Envoy's parseCookieValue drops them."""
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _expiry(expires: int) -> tuple[int | None, datetime | None]:
    if expires == 0:  # proto3 default: the cookie carries no expiry (no TTL configured)
        return None, None
    if expires < UNIX_EXPIRES_FROM:
        return expires, None
    try:
        return expires, datetime.fromtimestamp(expires, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return expires, None


def _from_text(raw: str, payload: bytes, form: SessionForm, origin: ValueOrigin) -> SessionValue:
    address, port, version, listener = _parse_host_text(payload)
    return SessionValue(raw=raw, form=form, address=address, port=port, ip_version=version, origin=origin,
                        internal_listener=listener)


def _from_cookie_message(raw: str, payload: bytes, origin: ValueOrigin) -> SessionValue:
    address_text, expires_value = _parse_cookie_message(payload)
    if not address_text:
        try:
            legacy = _from_text(raw, payload, "cookie-legacy", origin)
        except _Invalid:
            raise _Invalid("a protobuf cookie without an address: Envoy ignores it") from None
        raise _Invalid(
            f"Envoy >= 1.27 reads this pre-1.27 cookie ({legacy.upstream}) as a protobuf message "
            "without an address and ignores it"
        )
    address, port, version, listener = _parse_host_text(address_text.encode("utf-8"))
    expires, expires_at = _expiry(expires_value)
    return SessionValue(
        raw=raw,
        form="cookie",
        address=address,
        port=port,
        ip_version=version,
        expires=expires,
        expires_at=expires_at,
        origin=origin,
        internal_listener=listener,
    )


def _interpret_cookie(raw: str, payload: bytes, origin: ValueOrigin) -> SessionValue:
    # Envoy >= 1.27: protobuf first, the old "IP:port" text only when the protobuf parse fails.
    try:
        return _from_cookie_message(raw, payload, origin)
    except _NotProtobuf as proto_error:
        try:
            return _from_text(raw, payload, "cookie-legacy", origin)
        except _Invalid as text_error:
            raise (proto_error if payload[:1] == b"\n" else text_error) from None


def _interpret_header(raw: str, payload: bytes, origin: ValueOrigin) -> SessionValue:
    try:
        return _from_text(raw, payload, "header", origin)
    except _Invalid as text_error:
        try:
            cookie = _from_cookie_message(raw, payload, origin)
        except _Invalid:
            raise text_error from None
        raise _Invalid(
            f"a cookie value ({cookie.upstream}) where a header value is expected: header sessions carry "
            "base64 of 'IP:port'"
        ) from None


def _interpret_any(raw: str, payload: bytes, origin: ValueOrigin) -> SessionValue:
    try:
        return _from_text(raw, payload, "header", origin)
    except _Invalid as text_error:
        try:
            return _from_cookie_message(raw, payload, origin)
        except _Invalid as proto_error:
            raise (proto_error if payload[:1] == b"\n" else text_error) from None


def _decode(
    raw: str, value: str, origin: ValueOrigin, interpret: _Interpreter, *, salvage: bool = True
) -> SessionValue:
    try:
        payload = _strict_b64decode(value)
    except _Unpadded as unpadded:
        hint = _decoded_hint(raw, unpadded.padded, origin, interpret)
        detail = f" (padded, {_quote(unpadded.padded)} would pin {hint})" if hint else ""
        raise _Invalid(unpadded.reason + detail) from None
    except _NonCanonical:
        raise
    except _Invalid as invalid:
        # A valid value followed by junk (a stray character, a second value): name the valid part.
        if salvage and value and len(value) <= _SALVAGE_MAX_LEN:
            for cut in range(len(value) - len(value) % 4, 7, -4):
                if cut == len(value):
                    continue
                hint = _decoded_hint(raw, value[:cut], origin, interpret)
                if hint:
                    raise _Invalid(
                        f"trailing data after the base64 value {_quote(value[:cut])} ({hint}): "
                        f"Envoy ignores the whole value ({_show(value[cut:], 30)} follows)"
                    ) from None
        raise invalid from None
    return interpret(raw, payload, origin)


def _decoded_hint(raw: str, value: str, origin: ValueOrigin, interpret: _Interpreter) -> str | None:
    try:
        return _decode(raw, value, origin, interpret, salvage=False).upstream
    except _Invalid:
        return None


def _run(raw: str, origin: ValueOrigin, decode: _Decoder) -> DecodedValue:
    try:
        return decode()
    except _Invalid as invalid:
        return Rejected(raw=raw, reason=invalid.reason, origin=origin)


def decode_header_value(value: str, origin: ValueOrigin | None = None) -> DecodedValue:
    """A header-state value (or an envelope value ``base64;UV:base64``) as Envoy reads it."""
    origin = origin or ValueOrigin(kind="header")
    value = value.strip()  # HTTP trims optional whitespace around header values
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return Rejected(value, "quoted header value: Envoy reads the quotes as part of the value", origin)
    if ";" in value:
        return _run(value, origin, lambda: _decode_envelope(value, origin))
    return _run(value, origin, lambda: _decode(value, value, origin, _interpret_header))


def _decode_envelope(value: str, origin: ValueOrigin) -> SessionValue:
    parts = [part for part in value.split(";") if part]
    if not parts:
        raise _Invalid("empty value")
    host = _decode(value, parts[0], origin, _interpret_header)
    wrapped_parts = [part[3:] for part in parts[1:] if part.startswith("UV:")]
    try:
        wrapped = _strict_b64decode(wrapped_parts[0]) if wrapped_parts else b""
    except _Invalid as invalid:
        raise _Invalid(
            f"envelope value with an invalid 'UV:' part ({invalid.reason}): Envoy ignores it"
        ) from None
    if not wrapped:
        raise _Invalid("envelope value without a 'UV:' part: Envoy ignores it")
    return SessionValue(
        raw=value,
        form="envelope",
        address=host.address,
        port=host.port,
        ip_version=host.ip_version,
        wrapped=wrapped.decode("utf-8", errors="backslashreplace"),
        origin=origin,
        internal_listener=host.internal_listener,
    )


def decode_cookie_value(value: str, origin: ValueOrigin | None = None) -> DecodedValue:
    """A cookie-state value (quoted or not) as Envoy 1.40 reads it: protobuf, else ``IP:port``."""
    origin = origin or ValueOrigin(kind="cookie")
    raw = _unquote(value.strip())
    return _run(raw, origin, lambda: _decode(raw, raw, origin, _interpret_cookie))


def decode_session_value(value: str, origin: ValueOrigin | None = None) -> DecodedValue:
    """A value of unknown origin: ``IP:port`` (header, or pre-1.27 cookie) or the protobuf cookie."""
    origin = origin or ValueOrigin()
    raw = _unquote(value.strip())
    if ";" in raw and "UV:" in raw:
        return _run(raw, origin, lambda: _decode_envelope(raw, origin))
    return _run(raw, origin, lambda: _decode(raw, raw, origin, _interpret_any))


# --- encoding ------------------------------------------------------------------------------------


def encode_header(ip: str, port: int) -> str:
    """The header value Envoy writes for host ``ip:port``; raises ``ValueError`` for a bad address."""
    return base64.b64encode(envoy_upstream(ip, port).encode("ascii")).decode("ascii")


def encode_cookie(ip: str, port: int, ttl_seconds: int | None, now: int) -> str:
    """The cookie value Envoy >= 1.27 writes for host ``ip:port`` (without quotes).

    With a TTL, ``expires = now + ttl`` (Unix seconds); without one (None or 0, as Envoy treats a
    zero TTL) the field is left out, as proto3 omits a zero value.
    """
    address = envoy_upstream(ip, port).encode("ascii")
    message = b"\x0a" + _write_varint(len(address)) + address
    if ttl_seconds is not None and ttl_seconds < 0:
        raise ValueError(f"TTL must not be negative: {ttl_seconds}")
    if ttl_seconds:
        expires = now + ttl_seconds
        if not 0 < expires <= _UINT64_MAX:
            raise ValueError(f"expiry out of range: {expires}")
        message += b"\x10" + _write_varint(expires)
    return base64.b64encode(message).decode("ascii")


# --- free-form input -----------------------------------------------------------------------------

_HEADER_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*)")
_STATUS_LINE = re.compile(r"HTTP/[0-9.]+(\s.*)?|[A-Z]+ \S+ HTTP/[0-9.]+")
_COOKIE_PAIRS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+=[^=].*")
_ADDRESS_LIKE = re.compile(rb"(envoy://[^\x00-\x20]*/)?(\[[0-9A-Fa-f:.%]+\]|[0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]")


@dataclass(frozen=True)
class _Candidate:
    value: DecodedValue
    explicit: bool
    """Reported even when it does not decode (the user pointed at it)."""


def _looks_like_session_value(value: DecodedValue) -> bool:
    """Whether a value resembles a session value even though Envoy may reject it: a lenient
    base64 decode (the way Python's b64decode is lenient) yields ``IP:port`` or a Cookie message."""
    if isinstance(value, SessionValue):
        return True
    text = value.raw.split(";", 1)[0]
    match = re.match(r"[A-Za-z0-9+/_-]{8,}", text)
    if not match:
        return False
    core = match.group(0).translate(str.maketrans("-_", "+/"))
    core = core[: len(core) - 1] if len(core) % 4 == 1 else core
    try:
        payload = base64.b64decode(core + "=" * (-len(core) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the alphabet is clean here
        return False
    if payload[:1] == b"\n" and len(payload) > 2:
        return bool(_ADDRESS_LIKE.match(payload, 2))
    return bool(_ADDRESS_LIKE.match(payload))


def _set_cookie(header_value: str, direction: Direction | None) -> DecodedValue:
    pair, *attributes = header_value.split(";")
    name, sep, value = pair.partition("=")
    max_age: int | None = None
    path: str | None = None
    for attribute in attributes:
        key, _, attribute_value = attribute.partition("=")
        key, attribute_value = key.strip().lower(), attribute_value.strip()
        if key == "max-age" and re.fullmatch(r"-?[0-9]{1,18}", attribute_value):
            max_age = int(attribute_value)
        elif key == "path":
            path = attribute_value
    origin = ValueOrigin("set-cookie", name.strip() or None, direction or "response", max_age, path)
    if not sep:
        return Rejected(header_value.strip(), "Set-Cookie without a name=value pair", origin)
    return decode_cookie_value(value, origin)


def _cookie_pairs(header_value: str, direction: Direction | None) -> list[DecodedValue]:
    values: list[DecodedValue] = []
    for pair in header_value.split(";"):
        if not pair.strip():
            continue
        name, sep, value = pair.partition("=")
        origin = ValueOrigin("cookie", name.strip() or None, direction or "request")
        if sep:
            values.append(decode_cookie_value(value, origin))
        else:
            values.append(Rejected(pair.strip(), "cookie without a name=value pair", origin))
    return values


def _plain_address(line: str) -> Rejected | None:
    try:
        ip, port = parse_upstream(line)
    except ValueError:
        return None
    upstream = envoy_upstream(ip, port)
    return Rejected(line, f"a plain address, not a session value: `stickyctl encode {upstream}` makes one")


def _line_candidates(line: str, direction: Direction | None, single: bool, body: bool) -> list[_Candidate]:
    """The values on one input line. ``single``: the whole input is this line, so whatever it holds
    is reported; ``body``: a line of a transcript that is not a header (a response body)."""
    if _STATUS_LINE.fullmatch(line):
        return []
    plain = _plain_address(line)
    if plain is not None:
        return [_Candidate(plain, single or not body)]
    header = _HEADER_LINE.fullmatch(line)
    if header:
        name, value = header.group(1), header.group(2).strip()
        lowered = name.lower()
        if lowered == "set-cookie":
            return [_Candidate(_set_cookie(value, direction), single)]
        if lowered == "cookie":
            pairs = _cookie_pairs(value, direction)
            return [_Candidate(pair, single and len(pairs) == 1) for pair in pairs]
        origin = ValueOrigin("header", name, direction)
        return [_Candidate(decode_header_value(value, origin), single)]
    if _COOKIE_PAIRS.fullmatch(line):
        # `name=value; ...` as copied from a browser; a bare base64 value with junk after its '='
        # padding matches too, so keep this reading only when a pair decodes.
        pairs = _cookie_pairs(line, direction)
        if any(isinstance(pair, SessionValue) for pair in pairs):
            return [_Candidate(pair, single and len(pairs) == 1) for pair in pairs]
    origin = ValueOrigin("value", None, direction)
    tokens = line.split()
    # A token alone on its line is a value the user pointed at; words of a sentence ("just some
    # text") are reported only when they look like session values.
    pointed = (single or not body) and len(tokens) == 1
    return [_Candidate(decode_session_value(token, origin), pointed) for token in tokens]


def _name_matches(origin: ValueOrigin, names: Collection[str]) -> bool:
    if origin.name is None:
        return False
    if origin.kind == "header":  # header names are case-insensitive, cookie names are not
        return origin.name.lower() in {name.lower() for name in names}
    return origin.name in names


def parse_session_input(text: str | bytes, names: Collection[str] = ()) -> list[DecodedValue]:
    """Every session value in free-form input, decoded as Envoy 1.40 would read it.

    Accepts a bare (optionally quoted) value, a header line (``x-session: MTAu...``), a
    ``Set-Cookie:`` or ``Cookie:`` line, ``name=value`` cookie pairs, several of these on separate
    lines, or a ``curl -v`` transcript (``>``/``<`` header lines; ``*`` lines, status lines and
    bodies are skipped). Values the user pointed at directly (a single line, bare values) are
    always reported; elsewhere only those that look like session values are, so unrelated headers
    and cookies stay out. With ``names``, exactly the headers/cookies of those names are reported.
    Never raises; never returns an empty list.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return [Rejected(raw="", reason="empty value")]
    transcript = any(len(line) >= 2 and line[0] in "<>*" and line[1] == " " for line in lines)
    single = len(lines) == 1
    candidates: list[_Candidate] = []
    for line in lines:
        direction: Direction | None = None
        body = transcript
        if transcript and line[0] in "<>*{}" and (len(line) == 1 or line[1] == " "):
            if line[0] not in "<>":
                continue  # curl's own notes (`* Connected`) and data markers (`{ [5 bytes data]`)
            direction = "response" if line[0] == "<" else "request"
            line = line[1:].strip()
            body = False
            if not line:
                continue
        candidates.extend(_line_candidates(line, direction, single, body))
    if names:
        chosen = [c.value for c in candidates if _name_matches(c.value.origin, names)]
        if chosen:
            return chosen
        wanted = ", ".join(sorted(names))
        return [Rejected(raw=_excerpt(lines), reason=f"no header or cookie named {wanted} in the input",
                         not_found=True)]
    chosen = [c.value for c in candidates if c.explicit or _looks_like_session_value(c.value)]
    if chosen:
        return chosen
    if single and candidates and all(c.value.origin.kind != "value" for c in candidates):
        return [c.value for c in candidates]  # a Cookie line whose cookies are none of them sessions
    return [
        Rejected(
            raw=_excerpt(lines),
            reason="no session value found (looked for Set-Cookie, Cookie, and headers whose value is "
            "base64 of an address)",
            not_found=True,
        )
    ]


def _excerpt(lines: list[str]) -> str:
    first = lines[0]
    return first if len(first) <= 60 and len(lines) == 1 else first[:57] + "…"
