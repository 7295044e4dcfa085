"""Renderers of a hand-built CheckReport: table/wide goldens, json/yaml documents, --query."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from typing import Any

import pytest
import yaml
from rich.console import Console

from stickyctl.catalog import CATALOG, Severity
from stickyctl.environment import Environment
from stickyctl.envoy.enums import ProxyKind, SessionMode
from stickyctl.errors import UsageError
from stickyctl.findings import Finding, Resource
from stickyctl.report.machine import to_json
from stickyctl.report.model import SCHEMA_VERSION, CheckReport, ProxySummary, StickyService
from stickyctl.report.render import FORMATS, render
from stickyctl.report.table import PROSE_WIDTH, closing_lines, message_text, render_table, short_resource, summary_line

GW = "gw-1.istio-ingress"
SIDECAR = "sleep-7f9.default"

ROUTE = Resource(file="gw.json", proxy=GW, route_config="http.8080", virtual_host="*:80", route="default")
CLUSTER = Resource(proxy=GW, cluster="outbound|8080||hello.default.svc.cluster.local")

FINDINGS = (
    Finding(
        "STK0301",
        "Route default to hello.default.svc.cluster.local:8080 has no stateful_session config; "
        "Istio 1.20 sets it only on virtual hosts named after a Service host.",
        ROUTE,
    ),
    Finding("STK0601", "Session values expose pod IP:port to clients.", Resource(file="gw.json", proxy=GW)),
    Finding(
        "STK0401",
        "override_host_status lacks DRAINING: sessions move during rollouts.",
        CLUSTER,
        details={"override_host_status": "UNKNOWN,HEALTHY", "istio": "1.20.3"},
    ),
    Finding(
        "STK0103",
        "Service default/hello has both labels; the cookie label wins.",
        Resource(service="default/hello"),
    ),
    Finding(
        "STK0104",
        "Label [istio.io/persistent-session-cookie] on a Deployment does nothing.",
        Resource(file="manifests.yaml", object="Deployment/default/hello"),
    ),
)

PROXIES = (
    ProxySummary(
        name=GW,
        kind=ProxyKind.ROUTER,
        node_id="router~10.0.0.1~gw-1.istio-ingress~istio-ingress.svc.cluster.local",
        istio_version="1.20.3",
        envoy_version="1.28.1",
        sources=("gw.json",),
        listeners=3,
        http_connection_managers=2,
        routes=2,
        sticky_routes=1,
        clusters=12,
    ),
    ProxySummary(
        name=SIDECAR,
        kind=ProxyKind.SIDECAR,
        node_id=None,
        istio_version=None,
        envoy_version=None,
        sources=("sleep.json",),
        listeners=5,
        http_connection_managers=3,
        routes=4,
        sticky_routes=0,
        clusters=None,
    ),
)

STICKY = (StickyService("default/hello", "Service", SessionMode.HEADER, "x-session", "label"),)


def make_report(**changes: Any) -> CheckReport:
    report = CheckReport(
        findings=FINDINGS,
        proxies=PROXIES,
        sticky_services=STICKY,
        labels_checked=False,
        not_checked=(f"clusters of {SIDECAR}: the input carried no clusters",),
        suppressed=(Finding("STK0105", "default/other is unrouted.", Resource(service="default/other")),),
    )
    return replace(report, **changes)


def plain(text: str) -> str:
    """Goldens are compared without rich's trailing cell padding."""
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def table_text(report: CheckReport, *, width: int = 80, wide: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False, soft_wrap=False)
    render_table(report, console, wide=wide)
    return out.getvalue()


def rendered(report: CheckReport, fmt: str, *, query: str | None = None) -> str:
    out = io.StringIO()
    render(report, fmt, Environment(stdout=out, stderr=io.StringIO(), color="never"), query=query)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    # env.console() sizes itself from COLUMNS when stdout is not a terminal.
    monkeypatch.setenv("COLUMNS", "80")


# --- table -------------------------------------------------------------------------------------
# One block per finding (istioctl analyze / ruff): severity, code, the resource whole; the message
# without the resource; a fix: line; a closing summary and a hint to `stickyctl explain CODE`.

TABLE_80 = """\
proxy gw-1.istio-ingress  router · Istio 1.20.3 · Envoy 1.28.1

error   STK0301 route http.8080/*:80/default
  Route default to hello.default.svc.cluster.local:8080 has no stateful_session
  config; Istio 1.20 sets it only on virtual hosts named after a Service host.
  fix: Enable the istiod flag, and on Istio < 1.21 route through a virtual host
       named after the Service host (or upgrade to 1.21+, which sets it per
       route).

warning STK0401 cluster outbound|8080||hello.default.svc.cluster.local
  override_host_status lacks DRAINING: sessions move during rollouts.
  fix: Cookie label: route to the Service's default cluster rather than a
       DestinationRule subset, upgrade an istiod older than 1.17.3, or add
       DRAINING with an EnvoyFilter on the cluster. Other control planes: add
       DRAINING to the cluster's override_host_status. (For header sessions on
       Istio, see STK0404: DRAINING does nothing there.)

info    STK0601 proxy
  Session values expose pod IP:port to clients.
  fix: Accept it knowingly: see docs/security.md for mitigations (restrict which
       hosts are overridable, do not rely on pod IP secrecy, rate-limit per
       backend).

proxy sleep-7f9.default  sidecar · Istio unknown · Envoy unknown
  no findings

Services, objects and inputs

warning STK0103 Service default/hello
  has both labels; the cookie label wins.
  fix: Keep exactly one of the two labels on the Service.

warning STK0104 Deployment/default/hello (manifests.yaml)
  Label [istio.io/persistent-session-cookie] on a Deployment does nothing.
  fix: Move the label to the Service's `metadata.labels`, spelled exactly as
       istiod reads it.

not checked: clusters of sleep-7f9.default: the input carried no clusters
not checked: label agreement: no --services given

Checked 2 proxies: 8 listeners, 6 routes (1 sticky), 1 sticky Service.
Found 1 error, 3 warnings, 1 info (1 suppressed).
Why and how to fix: stickyctl explain STK0301 (or any code above)
"""

WIDE_80 = """\
proxy gw-1.istio-ingress  router · Istio 1.20.3 · Envoy 1.28.1

error   STK0301 route http.8080/*:80/default
  Route default to hello.default.svc.cluster.local:8080 has no stateful_session
  config; Istio 1.20 sets it only on virtual hosts named after a Service host.
  fix: Enable the istiod flag, and on Istio < 1.21 route through a virtual host
       named after the Service host (or upgrade to 1.21+, which sets it per
       route).
  id: file:gw.json/proxy:gw-1.istio-ingress/route_config:http.8080/virtual_host:*:80/route:default
  docs: https://stickyctl.readthedocs.io/en/latest/checks/STK0301/

warning STK0401 cluster outbound|8080||hello.default.svc.cluster.local
  override_host_status lacks DRAINING: sessions move during rollouts.
  fix: Cookie label: route to the Service's default cluster rather than a
       DestinationRule subset, upgrade an istiod older than 1.17.3, or add
       DRAINING with an EnvoyFilter on the cluster. Other control planes: add
       DRAINING to the cluster's override_host_status. (For header sessions on
       Istio, see STK0404: DRAINING does nothing there.)
  id: proxy:gw-1.istio-ingress/cluster:outbound|8080||hello.default.svc.cluster.local
  detail: istio=1.20.3
  detail: override_host_status=UNKNOWN,HEALTHY
  docs: https://stickyctl.readthedocs.io/en/latest/checks/STK0401/

info    STK0601 proxy
  Session values expose pod IP:port to clients.
  fix: Accept it knowingly: see docs/security.md for mitigations (restrict which
       hosts are overridable, do not rely on pod IP secrecy, rate-limit per
       backend).
  id: file:gw.json/proxy:gw-1.istio-ingress
  docs: https://stickyctl.readthedocs.io/en/latest/checks/STK0601/

proxy sleep-7f9.default  sidecar · Istio unknown · Envoy unknown
  no findings

Services, objects and inputs

warning STK0103 Service default/hello
  has both labels; the cookie label wins.
  fix: Keep exactly one of the two labels on the Service.
  id: service:default/hello
  docs: https://stickyctl.readthedocs.io/en/latest/checks/STK0103/

warning STK0104 Deployment/default/hello (manifests.yaml)
  Label [istio.io/persistent-session-cookie] on a Deployment does nothing.
  fix: Move the label to the Service's `metadata.labels`, spelled exactly as
       istiod reads it.
  id: file:manifests.yaml/object:Deployment/default/hello
  docs: https://stickyctl.readthedocs.io/en/latest/checks/STK0104/

not checked: clusters of sleep-7f9.default: the input carried no clusters
not checked: label agreement: no --services given

Checked 2 proxies: 8 listeners, 6 routes (1 sticky), 1 sticky Service.
Found 1 error, 3 warnings, 1 info (1 suppressed).
Why and how to fix: stickyctl explain STK0301 (or any code above)
"""


def test_table_golden_80_columns() -> None:
    assert plain(table_text(make_report())) == TABLE_80


def test_wide_golden_80_columns_adds_id_details_and_docs() -> None:
    assert plain(table_text(make_report(), wide=True)) == WIDE_80


def _words_longer_than_the_room(line: str, width: int) -> bool:
    indent = len(line) - len(line.lstrip())
    return any(len(word) > width - indent - 6 for word in line.split())


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_lines_fit_the_width_unless_an_identifier_cannot(width: int, wide: bool) -> None:
    """Text wraps between words only: a line is longer than the terminal only when it holds one
    identifier that is (an id, a URL), which then runs past the edge rather than being cut."""
    text = table_text(make_report(), width=width, wide=wide)
    # The closing lines are one line each whatever the width, so that CI logs can grep them.
    closing = {str(line) for line in closing_lines(make_report())}
    for line in text.splitlines():
        if line in closing:
            continue
        assert len(line.rstrip()) <= width or _words_longer_than_the_room(line, width), (width, line)


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("width", [40, 80, 200])
def test_resources_and_ids_are_never_cut(width: int, wide: bool) -> None:
    text = table_text(make_report(), width=width, wide=wide)
    lines = text.splitlines()
    for f in FINDINGS:
        short = short_resource(f.resource, in_proxy=f.resource.proxy is not None)
        assert any(line.endswith(short) for line in lines), (short, text)
        if wide:
            assert f"  id: {f.resource_id}" in lines


def test_headings_are_never_wrapped() -> None:
    narrow = plain(table_text(make_report(), width=50))
    # Too long for one line: the proxy's facts go on a line of their own, whole.
    assert "proxy gw-1.istio-ingress\n  router · Istio 1.20.3 · Envoy 1.28.1\n" in narrow
    # The resource does not fit after severity and code: it gets its own line, whole.
    assert "warning STK0401\n  cluster outbound|8080||hello.default.svc.cluster.local\n" in narrow
    wide = plain(table_text(make_report(), width=200))
    assert "proxy gw-1.istio-ingress  router · Istio 1.20.3 · Envoy 1.28.1\n" in wide
    assert "warning STK0401 cluster outbound|8080||hello.default.svc.cluster.local\n" in wide


def test_wide_shows_the_ids_to_suppress_at_any_width() -> None:
    text = table_text(make_report(), width=200, wide=True)
    assert CATALOG["STK0301"].docs_url in text
    route_id = "file:gw.json/proxy:gw-1.istio-ingress/route_config:http.8080/virtual_host:*:80/route:default"
    assert f"  id: {route_id}\n" in text
    assert "  detail: override_host_status=UNKNOWN,HEALTHY\n" in text


def test_prose_wraps_at_a_readable_width_on_wide_terminals() -> None:
    text = table_text(make_report(), width=250)
    assert max(len(line) for line in text.splitlines() if line.startswith("  fix: ")) <= PROSE_WIDTH


def test_table_golden_through_render_and_environment() -> None:
    assert plain(rendered(make_report(), "table")) == TABLE_80
    assert plain(rendered(make_report(), "wide")) == WIDE_80


def test_table_text_is_not_markup() -> None:
    finding = Finding("STK0103", "[bold]x[/bold] and [red] stay as written", Resource(service="ns/[svc]"))
    text = table_text(make_report(findings=(finding,)), width=200)
    assert "[bold]x[/bold] and [red] stay as written" in text
    assert "Service ns/[svc]" in text


def test_severity_is_coloured_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system="standard")
    render_table(make_report(), console)
    assert re.search(r"\x1b\[[0-9;]*31m+error", out.getvalue())
    assert re.search(r"\x1b\[[0-9;]*33m+warning", out.getvalue())


def test_color_never_has_no_escape_codes() -> None:
    out = io.StringIO()
    render(make_report(), "table", Environment(stdout=out, color="never"))
    assert "\x1b" not in out.getvalue()


def test_no_findings_says_so() -> None:
    report = make_report(findings=(), not_checked=(), suppressed=(), labels_checked=True)
    assert plain(table_text(report)) == (
        "proxy gw-1.istio-ingress  router · Istio 1.20.3 · Envoy 1.28.1\n"
        "  no findings\n"
        "\n"
        "proxy sleep-7f9.default  sidecar · Istio unknown · Envoy unknown\n"
        "  no findings\n"
        "\n"
        "Checked 2 proxies: 8 listeners, 6 routes (1 sticky), 1 sticky Service.\n"
        "No findings.\n"
    )


def test_no_proxies_no_findings() -> None:
    report = CheckReport(findings=(), proxies=(), sticky_services=(), labels_checked=False)
    assert plain(table_text(report)) == (
        "Checked 0 proxies: 0 listeners, 0 routes (0 sticky), 0 sticky Services.\n"
        "No findings.\n"
    )


INPUT_ERROR = Finding("STK0002", "bad.json: invalid JSON: truncated", Resource(file="bad.json"))


def test_an_input_error_reported_on_stderr_is_not_shown_again() -> None:
    """`check` prints each unreadable input on stderr: the report counts it but does not repeat it."""
    report = make_report(findings=(*FINDINGS, INPUT_ERROR))
    out = io.StringIO()
    render_table(report, Console(file=out, width=80, color_system=None), inputs_on_stderr=True)
    text = plain(out.getvalue())
    assert "bad.json" not in text
    assert "Found 2 errors, 3 warnings, 1 info (1 input not read: see the error above; 1 suppressed).\n" in text
    # A file has no stderr beside it (--output-file table=…): there the input error is a block.
    assert "error   STK0002 file bad.json\n  invalid JSON: truncated\n" in plain(table_text(report))


def test_nothing_checked_and_every_error_on_stderr_prints_nothing() -> None:
    report = CheckReport(findings=(INPUT_ERROR,), proxies=(), sticky_services=(), labels_checked=False)
    out = io.StringIO()
    render_table(report, Console(file=out, width=80, color_system=None), inputs_on_stderr=True)
    assert out.getvalue() == ""


def test_closing_lines_match_the_documented_example() -> None:
    report = CheckReport(
        findings=(FINDINGS[0], FINDINGS[1]),
        proxies=(replace(PROXIES[0], listeners=3, routes=2, sticky_routes=1),),
        sticky_services=STICKY,
        labels_checked=True,
    )
    assert [str(line) for line in closing_lines(report)] == [
        "Checked 1 proxy: 3 listeners, 2 routes (1 sticky), 1 sticky Service.",
        "Found 1 error, 1 info.",
        "Why and how to fix: stickyctl explain STK0301 (or any code above)",
    ]
    assert summary_line(report) == (
        "1 proxy, 3 listeners, 2 routes (1 sticky), 1 sticky Service: 1 error, 0 warnings, 1 info"
    )
    assert "label agreement" not in table_text(report)


def test_finding_of_a_proxy_that_was_not_loaded_gets_its_own_group() -> None:
    lost = Finding(
        "STK0001", "gw-2.istio-ingress: admin API timed out after 10s.", Resource(proxy="gw-2.istio-ingress")
    )
    text = plain(table_text(make_report(findings=(*FINDINGS, lost)), width=100))
    assert "proxy gw-2.istio-ingress  not loaded\n" in text
    # Loaded proxies first, in report order; then the others; then the proxy-less group.
    assert text.index(f"proxy {GW}") < text.index(f"proxy {SIDECAR}") < text.index("proxy gw-2")
    assert text.index("proxy gw-2") < text.index("Services, objects and inputs")


def test_findings_are_ordered_by_severity_whatever_the_input_order() -> None:
    forward = table_text(make_report())
    backward = table_text(make_report(findings=tuple(reversed(FINDINGS))))
    assert forward == backward
    assert forward.index("STK0301") < forward.index("STK0401") < forward.index("STK0601")


@pytest.mark.parametrize(("message", "resource", "shown"), [
    ("cluster outbound|80||a.b.svc.cluster.local: override_host_status is unset",
     Resource(proxy=GW, cluster="outbound|80||a.b.svc.cluster.local"), "override_host_status is unset"),
    ("listener 0.0.0.0_8080 filter chain #0: no stateful_session filter",
     Resource(proxy=GW, listener="0.0.0.0_8080", filter_chain="#0"), "no stateful_session filter"),
    ("listener 0.0.0.0_8080 filter chain #0 (in the update Envoy rejected): after the router",
     Resource(proxy=GW, listener="0.0.0.0_8080", filter_chain="#0"), "in the update Envoy rejected: after the router"),
    ("Envoy rejected the update of listener 0.0.0.0_8080 at noon",
     Resource(proxy=GW, listener="0.0.0.0_8080"), "Envoy rejected the update of this listener at noon"),
    ("Service ns/a has both labels: the cookie wins", Resource(service="ns/a"), "has both labels: the cookie wins"),
    ("ServiceEntry ns/a: label x is not valid", Resource(service="ns/a"), "label x is not valid"),
    ("Deployment ns/d: pod template label does nothing", Resource(object="Deployment/ns/d"),
     "pod template label does nothing"),
    ("2 replicas of Deployment/ns/gw disagree", Resource(object="Deployment/ns/gw"),
     "2 replicas of this Deployment disagree"),
    ("dump.json: invalid JSON", Resource(file="dump.json"), "invalid JSON"),
    ("--services svc.yaml: no such file", Resource(file="svc.yaml"), "no such file"),
    # A longer name that merely starts like the resource is left alone.
    ("Service ns/ab has both labels", Resource(service="ns/a"), "Service ns/ab has both labels"),
    ("route to outbound|80||a has no session config", Resource(proxy=GW, route="a"),
     "route to outbound|80||a has no session config"),
])
def test_the_message_does_not_repeat_the_resource(message: str, resource: Resource, shown: str) -> None:
    assert message_text(Finding("STK0301", message, resource)) == shown


@pytest.mark.parametrize(
    ("resource", "in_proxy", "expected"),
    [
        (ROUTE, True, "route http.8080/*:80/default"),
        (CLUSTER, True, "cluster outbound|8080||hello.default.svc.cluster.local"),
        (Resource(file="gw.json", proxy=GW), True, "proxy"),
        (
            Resource(proxy=GW, listener="0.0.0.0_8080", filter_chain="fc-0"),
            True,
            "filter chain 0.0.0.0_8080/fc-0",
        ),
        (Resource(proxy=GW, route_config="http.8080"), True, "route config http.8080"),
        (Resource(service="default/hello"), False, "Service default/hello"),
        (
            Resource(file="m.yaml", object="Deployment/default/hello"),
            False,
            "Deployment/default/hello (m.yaml)",
        ),
        (Resource(file="missing.json"), False, "file missing.json"),
        (Resource(), False, "-"),
    ],
)
def test_short_resource(resource: Resource, in_proxy: bool, expected: str) -> None:
    assert short_resource(resource, in_proxy=in_proxy) == expected


# --- json / yaml -------------------------------------------------------------------------------


def test_formats() -> None:
    assert FORMATS == ("table", "wide", "json", "yaml", "sarif", "junit", "github")


def test_json_is_the_report_document() -> None:
    report = make_report()
    out = rendered(report, "json")
    assert out == to_json(report.document())
    assert out.endswith("}\n")
    assert "\x1b" not in out
    doc = json.loads(out)
    assert list(doc) == ["schema_version", "tool", "summary", "proxies", "sticky_services", "findings"]
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["summary"]["findings"] == {"error": 1, "warning": 3, "info": 1}
    assert doc["summary"]["suppressed"] == 1
    assert doc["summary"]["labels_checked"] is False
    assert doc["summary"]["exit_code"] == 1
    assert doc["proxies"][1]["clusters"] is None
    assert [f["resource_id"] for f in doc["findings"]] == [f.resource_id for f in FINDINGS]


def test_json_finding_document() -> None:
    doc = json.loads(rendered(make_report(), "json"))
    spec = CATALOG["STK0401"]
    assert doc["findings"][2] == {
        "code": "STK0401",
        "name": spec.name,
        "severity": "warning",
        "title": spec.title,
        "message": "override_host_status lacks DRAINING: sessions move during rollouts.",
        "resource": {"proxy": GW, "cluster": "outbound|8080||hello.default.svc.cluster.local"},
        "resource_id": "proxy:gw-1.istio-ingress/cluster:outbound|8080||hello.default.svc.cluster.local",
        "why": spec.why,
        "remediation": spec.fix,
        "docs_url": "https://stickyctl.readthedocs.io/en/latest/checks/STK0401/",
        "details": {"istio": "1.20.3", "override_host_status": "UNKNOWN,HEALTHY"},
    }
    assert "details" not in doc["findings"][0]


def test_yaml_is_the_same_document() -> None:
    out = rendered(make_report(), "yaml")
    assert out.startswith("schema_version: 1\ntool:\n")
    assert "\x1b" not in out
    assert yaml.safe_load(out) == json.loads(rendered(make_report(), "json"))


def test_machine_formats_keep_unicode() -> None:
    finding = Finding(
        "STK0103", "Service ns/café: both labels — the cookie wins.", Resource(service="ns/café")
    )
    report = make_report(findings=(finding,))
    assert "ns/café: both labels — the cookie wins." in rendered(report, "json")
    assert yaml.safe_load(rendered(report, "yaml"))["findings"][0]["resource"] == {"service": "ns/café"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_byte_stable(fmt: str) -> None:
    assert rendered(make_report(), fmt) == rendered(make_report(), fmt)


def test_machine_formats_ignore_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    narrow = rendered(make_report(), "json"), rendered(make_report(), "yaml")
    monkeypatch.setenv("COLUMNS", "40")
    assert (rendered(make_report(), "json"), rendered(make_report(), "yaml")) == narrow


def test_exit_code_in_summary_follows_threshold() -> None:
    assert json.loads(rendered(make_report(failure_threshold=None), "json"))["summary"] == {
        **json.loads(rendered(make_report(), "json"))["summary"],
        "failure_threshold": "none",
        "exit_code": 0,
    }
    info_only = make_report(findings=(FINDINGS[1],), failure_threshold=Severity.WARNING)
    assert json.loads(rendered(info_only, "json"))["summary"]["exit_code"] == 0


# --- --query -----------------------------------------------------------------------------------


def test_query_json() -> None:
    out = rendered(make_report(), "json", query="summary.findings")
    assert out == '{\n  "error": 1,\n  "warning": 3,\n  "info": 1\n}\n'


def test_query_yaml_filter() -> None:
    out = rendered(make_report(), "yaml", query="findings[?severity=='warning'].code")
    assert out == "- STK0401\n- STK0103\n- STK0104\n"


def test_query_with_no_match_is_null() -> None:
    assert rendered(make_report(), "json", query="nothing.here") == "null\n"


def test_bad_query_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--query"):
        rendered(make_report(), "json", query="findings[?")


@pytest.mark.parametrize("fmt", ["table", "wide"])
def test_query_needs_a_machine_format(fmt: str) -> None:
    with pytest.raises(UsageError, match="--query needs -o json or -o yaml"):
        rendered(make_report(), fmt, query="summary")


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown output format 'xml'"):
        rendered(make_report(), "xml")
