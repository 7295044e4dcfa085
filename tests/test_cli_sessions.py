"""`stickyctl decode` / `stickyctl encode`, on a Typer app holding only these two commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from stickyctl.cli import sessions
from stickyctl.envoy.session_values import encode_header, parse_session_input
from stickyctl.report.machine import to_json
from tests.conftest import Invoke, module_app

ENVOY_140_COOKIE = "Cg8xMjcuMC4wLjEyOjUwMDAQ7Oml2AY="  # 127.0.0.12:5000, expires 1795781868
BEFORE_EXPIRY = "1795780000"
AFTER_EXPIRY = "1795790000"

CURL = """\
* Connected to 127.0.0.1 (127.0.0.1) port 18082 (#0)
> GET /hello HTTP/1.1
> Host: 127.0.0.1:18082
>
< HTTP/1.1 200 OK
< server: envoy
< set-cookie: sticky="Cg8xMjcuMC4wLjExOjgwODAQwYCm2AY="; Max-Age=3600; Path=/; HttpOnly
<
{ [16 bytes data]
127.0.0.11:8080
"""


@pytest.fixture
def run() -> Iterator[Invoke]:
    with module_app(sessions.register) as invoke:
        yield invoke


# --- decode --------------------------------------------------------------------------------------


def test_decode_header_value(run: Invoke) -> None:
    result = run("decode", "MTAuMjQ0LjEuNDo1MDAw")
    assert result.exit_code == 0
    assert any("10.244.1.4:5000" in line and "header" in line for line in result.stdout.splitlines())
    assert result.stderr == ""


def test_decode_cookie_table_shows_expiry(run: Invoke) -> None:
    result = run("decode", "--now", BEFORE_EXPIRY, f'"{ENVOY_140_COOKIE}"')
    assert result.exit_code == 0
    assert "127.0.0.12:5000" in result.stdout
    assert "expires 2026-11-27T12:17:48Z (in 31m)" in result.stdout


def test_decode_expired_cookie_is_a_finding(run: Invoke) -> None:
    result = run("decode", "--now", AFTER_EXPIRY, ENVOY_140_COOKIE)
    assert result.exit_code == 1
    assert "expired 2026-11-27T12:17:48Z (2h ago): Envoy ignores it" in result.stdout
    assert result.stderr == "stickyctl: error: the value is not usable: Envoy would ignore it\n"


def test_decode_invalid_value(run: Invoke) -> None:
    result = run("decode", "MTAuMjQ0LjEuNDo1MDAw", "MTAuMC4wLjE6ODA")
    assert result.exit_code == 1
    assert "unpadded base64: Envoy ignores it" in result.stdout  # the reason is in the table
    assert result.stderr == "stickyctl: error: 1 of 2 values is not usable: Envoy would ignore it\n"


@pytest.mark.parametrize(("unusable", "total", "said"), [
    (1, 1, "the value is not usable: Envoy would ignore it"),
    (2, 2, "none of the 2 values is usable: Envoy would ignore them"),
    (1, 3, "1 of 3 values is not usable: Envoy would ignore it"),
    (2, 3, "2 of 3 values are not usable: Envoy would ignore them"),
])
def test_decode_counts_in_plain_english(unusable: int, total: int, said: str) -> None:
    assert sessions.unusable_summary(unusable, total) == said


@pytest.mark.parametrize("text", ["just some text\n", "GET / HTTP/1.1\nhello there\n"])
def test_decode_text_without_a_session_value(run: Invoke, text: str) -> None:
    """Before: each word decoded into junk ('\\\\x8e\\\\xeb-'), "1 of 1 values is not usable"."""
    result = run("decode", "-", stdin=text)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == ("stickyctl: error: no session value found (looked for Set-Cookie, Cookie, and headers "
                             "whose value is base64 of an address)\n")
    as_json = run("decode", "-", "-o", "json", stdin=text)
    assert as_json.exit_code == 1
    (value,) = as_json.json()["values"]
    assert value["valid"] is False and value["reason"].startswith("no session value found")


def test_decode_reasons_escape_bytes_once(run: Invoke) -> None:
    # base64 of bytes that are no text: shown as \xNN escapes, one backslash each.
    result = run("decode", "jusz")
    assert result.exit_code == 1
    assert "not an IP:port address: '\\x8e\\xeb3'" in result.stdout
    assert "\\\\" not in result.stdout
    backslash = run("decode", "ab\\cd")
    assert "not valid base64: '\\' at position 2" in backslash.stdout


def test_decode_json_shape(run: Invoke) -> None:
    set_cookie = f'Set-Cookie: sticky="{ENVOY_140_COOKIE}"; Max-Age=3600; Path=/; HttpOnly'
    result = run("decode", "-o", "json", "--now", BEFORE_EXPIRY, "MTAuMjQ0LjEuNDo1MDAw", set_cookie, "%%%")
    assert result.exit_code == 1
    document = result.json()
    assert document["schema_version"] == 1
    header, cookie, bad = document["values"]
    assert header == {
        "input": "MTAuMjQ0LjEuNDo1MDAw",
        "name": None,
        "source": "value",
        "direction": None,
        "valid": True,
        "form": "header",
        "address": "10.244.1.4",
        "port": 5000,
        "ip_version": 4,
        "upstream": "10.244.1.4:5000",
        "expires": None,
        "expires_at": None,
        "expired": None,
    }
    assert cookie["input"] == ENVOY_140_COOKIE
    assert (cookie["name"], cookie["source"], cookie["direction"]) == ("sticky", "set-cookie", "response")
    assert (cookie["form"], cookie["upstream"]) == ("cookie", "127.0.0.12:5000")
    assert (cookie["expires"], cookie["expires_at"], cookie["expired"]) == (
        1795781868,
        "2026-11-27T12:17:48Z",
        False,
    )
    assert (cookie["max_age"], cookie["path"]) == (3600, "/")
    assert bad == {
        "input": "%%%",
        "name": None,
        "source": "value",
        "direction": None,
        "valid": False,
        "reason": "not valid base64: '%' at position 0 is not in the alphabet",
    }


def test_decode_json_is_the_machine_serialisation(run: Invoke) -> None:
    result = run("decode", "-o", "json", "--now", BEFORE_EXPIRY, ENVOY_140_COOKIE)
    expected = sessions.decode_document(parse_session_input(ENVOY_140_COOKIE), float(BEFORE_EXPIRY))
    assert result.stdout == to_json(expected)


def test_decode_yaml_matches_json(run: Invoke) -> None:
    as_json = run("decode", "-o", "json", "--now", BEFORE_EXPIRY, ENVOY_140_COOKIE, "aGVsbG8=")
    as_yaml = run("decode", "-o", "yaml", "--now", BEFORE_EXPIRY, ENVOY_140_COOKIE, "aGVsbG8=")
    assert as_yaml.exit_code == as_json.exit_code == 1
    assert yaml.safe_load(as_yaml.stdout) == as_json.json()


def test_decode_stdin_curl_transcript(run: Invoke) -> None:
    result = run("decode", "-o", "json", "--now", BEFORE_EXPIRY, "-", stdin=CURL)
    assert result.exit_code == 0
    (value,) = result.json()["values"]
    assert (value["upstream"], value["name"], value["max_age"]) == ("127.0.0.11:8080", "sticky", 3600)


def test_decode_stdin_undecodable_bytes(run: Invoke) -> None:
    result = run("decode", "-", stdin=b"\xff\xfe\x00garbage\n")
    assert result.exit_code == 1
    assert "not valid base64" in result.stdout


def test_decode_name_filter(run: Invoke) -> None:
    result = run("decode", "-o", "json", "--name", "sticky", "-", stdin=CURL.replace('AY="', 'AY"'))
    assert result.exit_code == 1
    (value,) = result.json()["values"]
    assert value["name"] == "sticky" and "unpadded" in value["reason"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ((), None, "no input"),
        (("-",), "", "no input on stdin"),
        (("-",), " \n", "no input on stdin"),
        (("-", "-"), "x", "stdin ('-') can be read only once"),
        (("-f", "dump.json", "MTAuMjQ0LjEuNDo1MDAw"), None, "-f/--file is read only with --resolve"),
    ],
)
def test_decode_usage_errors(run: Invoke, args: tuple[str, ...], stdin: str | None, message: str) -> None:
    result = run("decode", *args, stdin=stdin)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_decode_bad_output_format_is_a_usage_error(run: Invoke) -> None:
    result = run("decode", "-o", "xml", "MTAuMjQ0LjEuNDo1MDAw")
    assert result.exit_code == 2


HEALTHY = Path(__file__).resolve().parent.parent / "fixtures" / "cases" / "pass-helloworld-header"


def test_resolve_maps_the_value_to_its_endpoint(run: Invoke) -> None:
    """The recorded lab dump (include_eds) carries 127.0.0.12:5000 as a helloworld endpoint."""
    value = encode_header("127.0.0.12", 5000)
    result = run("decode", value, "--resolve", "-f", str(HEALTHY / "dump.json"), "-o", "json")
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(result.stdout)["values"]
    (endpoint,) = entry["endpoints"]
    assert endpoint["cluster"] == "outbound|5000||helloworld.helloworld.svc.cluster.local"
    assert endpoint["health_status"] == "HEALTHY"
    assert endpoint["workload"] in ("helloworld-v1", "helloworld-v2")


def test_resolve_stale_session_exits_1(run: Invoke) -> None:
    value = encode_header("10.9.9.9", 5000)
    result = run("decode", value, "--resolve", "-f", str(HEALTHY / "dump.json"))
    assert result.exit_code == 1
    assert "10.9.9.9:5000 is not an endpoint in the given dumps" in result.stderr


def test_resolve_needs_eds(run: Invoke, tmp_path: Path) -> None:
    dump = json.loads((HEALTHY / "dump.json").read_text())
    dump["configs"] = [c for c in dump["configs"] if not c["@type"].endswith("EndpointsConfigDump")]
    p = tmp_path / "no-eds.json"
    p.write_text(json.dumps(dump))
    result = run("decode", encode_header("127.0.0.12", 5000), "--resolve", "-f", str(p))
    assert result.exit_code == 3
    assert "include_eds" in result.stderr and "Traceback" not in result.stderr

def test_encode_header(run: Invoke) -> None:
    result = run("encode", "10.244.1.4:5000")
    assert (result.exit_code, result.stdout) == (0, "MTAuMjQ0LjEuNDo1MDAw\n")


def test_encode_ipv6_normalises_like_envoy(run: Invoke) -> None:
    result = run("encode", "[::FFFF:7f00:d]:8081")
    assert (
        result.stdout == "Wzo6ZmZmZjoxMjcuMC4wLjEzXTo4MDgx\n"
    )  # [::ffff:127.0.0.13]:8081, as Envoy wrote it


def test_encode_cookie_with_ttl(run: Invoke) -> None:
    result = run("encode", "127.0.0.12:5000", "--cookie", "--ttl", "3600", "--now", str(1795781868 - 3600))
    assert result.stdout == ENVOY_140_COOKIE + "\n"


def test_encode_name_prints_a_request_header(run: Invoke) -> None:
    assert (
        run("encode", "10.244.1.4:5000", "--name", "x-session").stdout == "x-session: MTAuMjQ0LjEuNDo1MDAw\n"
    )
    cookie = run("encode", "127.0.0.12:8080", "--cookie", "--name", "sticky")
    assert cookie.stdout == "Cookie: sticky=Cg8xMjcuMC4wLjEyOjgwODA=\n"


def test_encode_json(run: Invoke) -> None:
    args = ("127.0.0.12:5000", "--cookie", "--ttl", "3600", "--now", str(1795781868 - 3600), "-o", "json")
    result = run("encode", *args)
    assert result.exit_code == 0
    assert result.json() == {
        "schema_version": 1,
        "value": ENVOY_140_COOKIE,
        "form": "cookie",
        "upstream": "127.0.0.12:5000",
        "expires": 1795781868,
        "expires_at": "2026-11-27T12:17:48Z",
        "request_header": None,
    }
    assert yaml.safe_load(run("encode", *args[:-1], "yaml").stdout) == result.json()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hello",), "not an IP:port address"),
        (("10.0.0.1",), "not an IP:port address"),
        (("fd00::1:80",), "IPv6 needs brackets"),
        (("10.0.0.1:70000",), "port out of range"),
        (("10.0.0.1:80", "--ttl", "60"), "--ttl applies to --cookie"),
        (("10.0.0.1:80", "--cookie", "--ttl", "-1"), "must not be negative"),
    ],
)
def test_encode_bad_input(run: Invoke, args: tuple[str, ...], message: str) -> None:
    result = run("encode", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr


@pytest.mark.parametrize("upstream", ["10.244.1.4:5000", "[fd00::1]:8080", "[::ffff:10.0.0.1]:443"])
@pytest.mark.parametrize("cookie", [(), ("--cookie",), ("--cookie", "--ttl", "60")])
def test_encode_then_decode(run: Invoke, upstream: str, cookie: tuple[str, ...]) -> None:
    value = run("encode", upstream, *cookie, "--now", BEFORE_EXPIRY).stdout.strip()
    decoded = run("decode", "-o", "json", "--now", BEFORE_EXPIRY, value)
    assert decoded.exit_code == 0
    assert decoded.json()["values"][0]["upstream"] == upstream
