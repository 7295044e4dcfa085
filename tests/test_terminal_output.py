"""What a person sees at 80 and 200 columns: lines break between words only, identifiers (cluster
names, resource ids, URLs, commands) are never cut, headings never wrap."""

from __future__ import annotations

import re

import pytest

from stickyctl.envoy.session_values import encode_header
from tests.conftest import CASES, invoke

FLAG_OFF = CASES / "STK0101-istiod-flag-off"
SUBSET = CASES / "STK0401-subset"
HEALTHY = CASES / "pass-helloworld-header"

COMMANDS = {
    "check": ["check", "-f", str(FLAG_OFF / "dump.json"), "--services", str(FLAG_OFF / "services.yaml"),
              "--istiod", str(FLAG_OFF / "istiod.yaml")],
    "check subset": ["check", "-f", str(SUBSET / "dump.json"), "--services", str(SUBSET / "services.yaml")],
    "check wide": ["check", "-f", str(SUBSET / "dump.json"), "--services", str(SUBSET / "services.yaml"), "-o", "wide"],
    "checks": ["checks"],
    "lab breaks": ["lab", "breaks"],
    "why": ["why", "-f", str(HEALTHY / "dump.json"), "--url", "http://gw/hello", "-H",
            f"x-session-header:{encode_header('127.0.0.12', 5000)}"],
    "decode": ["decode", "MTAuMjQ0LjEuNDo1MDAw", "jusz"],
}
IDS = ("outbound|5000|v1|helloworld.helloworld.svc.cluster.local",
       "outbound|5000||helloworld.helloworld.svc.cluster.local", "persistent-session-flag-off",
       "http.8080/*:8080/hello", "Deployment/istio-system/istiod", "0.0.0.0_8080/#0")


def _output(args: list[str], width: int) -> str:
    res = invoke(*args, env={"COLUMNS": str(width)})
    assert res.exit_code in (0, 1), res.stderr
    return res.stdout


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("name", list(COMMANDS))
def test_lines_break_between_words_only(name: str, width: int) -> None:
    text = _output(COMMANDS[name], width)
    closing = ("Checked ", "Found ", "Why and how to fix: ", "What a check looks at")
    for line in text.splitlines():
        if len(line) <= width or line.startswith(closing):
            continue
        # Longer than the terminal only when it holds a word that no line could (an id, a URL).
        indent = len(line) - len(line.lstrip())
        assert any(len(word) > width - indent - 12 for word in line.split()), (name, width, line)


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("name", ["check", "check subset", "check wide", "why"])
def test_identifiers_are_whole_on_one_line(name: str, width: int) -> None:
    text = _output(COMMANDS[name], width)
    flat = " ".join(text.split())
    for identifier in IDS:
        if identifier in flat:
            assert any(identifier in line for line in text.splitlines()), (name, identifier)
    # No identifier cut with a hyphen or folded at the edge (the old table did: "hellowor" / "ld.hello…").
    assert not re.search(r"\|hellowor$", text, re.M)


def test_the_proxy_heading_is_never_wrapped() -> None:
    narrow = _output(COMMANDS["check"], 80)
    assert ("proxy istio-ingressgateway-6b7f9c8d5-x7k2p.istio-ingress\n"
            "  router · Istio 1.24.0 · Envoy 1.40.0\n") in narrow
    wide = _output(COMMANDS["check"], 200)
    assert ("proxy istio-ingressgateway-6b7f9c8d5-x7k2p.istio-ingress  router · Istio 1.24.0 · Envoy 1.40.0\n"
            in wide)


def test_three_findings_at_80_columns() -> None:
    """The issue's note: the report of three findings at 80 columns, as a golden."""
    assert _output(COMMANDS["check"], 80) == GOLDEN_80


GOLDEN_80 = """\
proxy istio-ingressgateway-6b7f9c8d5-x7k2p.istio-ingress
  router · Istio 1.24.0 · Envoy 1.40.0

error   STK0201 proxy
  no stateful_session filter on listener(s) 0.0.0.0_8080, but its routes lead to
  labelled helloworld/helloworld: no session value is issued or honoured;
  istiod's PILOT_ENABLE_PERSISTENT_SESSION_FILTER is off for this proxy (or an
  EnvoyFilter removed the filter)
  fix: Enable `PILOT_ENABLE_PERSISTENT_SESSION_FILTER=true` on the istiod
       revision this proxy follows (istiod pushes new listeners; nothing
       restarts). On Istio older than 1.17 (cookie) or 1.18 (header), upgrade
       Istio.

error   STK0301 route http.8080/*:8080/hello
  route to outbound|5000||helloworld.helloworld.svc.cluster.local has no
  stateful_session config at any level (labelled Service helloworld/helloworld
  expects header 'x-session-header'): every request is re-balanced
  fix: Enable the istiod flag, and on Istio < 1.21 route through a virtual host
       named after the Service host (or upgrade to 1.21+, which sets it per
       route).

warning STK0404 cluster outbound|5000||helloworld.helloworld.svc.cluster.local
  header-labelled helloworld/helloworld: Istio 1.24.0 drops a terminating pod
  from EDS for the header label (it keeps draining pods only for the cookie
  label), so header sessions pinned to it move on every rollout and scale-down;
  DRAINING in override_host_status cannot keep a pod Envoy no longer has
  fix: Use the cookie label (`istio.io/persistent-session: <name>`): istiod
       keeps draining pods for it, with DRAINING in the default cluster's
       override_host_status, and clients send the cookie back. With the header
       label, sessions move during every rollout however long the pods take to
       terminate.

Services, objects and inputs

error   STK0101 Deployment/istio-system/istiod
  istiod revision 'default' has PILOT_ENABLE_PERSISTENT_SESSION_FILTER unset
  (default false), but 1 labelled Service(s) exist: istiod configures no
  sessions
  fix: Set the env on istiod, e.g.
       `--set values.pilot.env.PILOT_ENABLE_PERSISTENT_SESSION_FILTER=true`
       (Helm/istioctl) for every revision that serves the gateways, and use the
       label keys istiod reads.

Checked 1 proxy: 3 listeners, 4 routes (1 sticky), 1 sticky Service.
Found 3 errors, 1 warning.
Why and how to fix: stickyctl explain STK0101 (or any code above)
"""
