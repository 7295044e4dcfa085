"""stickyctl.urls: the one parser behind --admin-url, `why --url` and `probe URL`."""

from __future__ import annotations

import re

import pytest

from stickyctl.envoy.admin import admin_base_url
from stickyctl.errors import UsageError
from stickyctl.probe import check_url
from stickyctl.urls import UrlError, parse_http_url
from stickyctl.why.request import RequestError, build_request


@pytest.mark.parametrize(("url", "reason"), [
    ("", "empty URL"),
    ("http://gw /x", "cannot contain spaces or control characters"),
    ("http://gw/\x1b[2J", "cannot contain spaces or control characters"),
    ("ftp://gw/", "only http:// and https:// URLs for you (scheme: ftp)"),
    ("http:///x", "no host in the URL"),
    ("http://gw:0/", "port 0 is not a TCP port"),
    ("http://gw:99999/", "not a URL (Port out of range"),
    ("http://[::1/", "not a URL ("),
])
def test_what_is_refused_and_why(url: str, reason: str) -> None:
    with pytest.raises(UrlError, match=re.escape(reason)):
        parse_http_url(url, add_scheme=True, purpose=" for you")


def test_what_is_kept() -> None:
    parsed = parse_http_url("GW.example:8080/a?b=1#c", add_scheme=True, purpose="")
    assert parsed.text == "http://GW.example:8080/a?b=1#c"
    assert (parsed.parts.scheme, parsed.host, parsed.port) == ("http", "gw.example", 8080)
    assert (parsed.parts.path, parsed.parts.query, parsed.parts.fragment) == ("/a", "b=1", "c")
    assert parse_http_url("https://[fd00::1]/", add_scheme=False, purpose="").host == "fd00::1"
    with pytest.raises(UrlError, match="scheme: none"):
        parse_http_url("gw/x", add_scheme=False, purpose="")


@pytest.mark.parametrize("url", ["http://gw:0/", "http://gw\t/", "ftp://gw/", "http://:80/"])
def test_every_caller_refuses_the_same_urls(url: str) -> None:
    with pytest.raises(UsageError):
        admin_base_url(url)
    with pytest.raises(RequestError):
        build_request(url)
    with pytest.raises(UsageError):
        check_url(url)


def test_credentials_never_reach_the_message() -> None:
    with pytest.raises(UsageError) as admin:
        admin_base_url("ftp://user:s3cret-pw@gw/")
    with pytest.raises(RequestError) as why:
        build_request("ftp://user:s3cret-pw@gw/")
    assert "s3cret-pw" not in str(admin.value) and "s3cret-pw" not in str(why.value)
