"""The CI formats (-o sarif | junit | github), --output-file, and what machine formats put on stdout.

Run over the recorded fixture cases (fixtures/cases/*), so every format is checked against what a
real Envoy dumped, and over hand-built reports for the corners the fixtures do not reach.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from stickyctl.catalog import CATALOG, Severity
from stickyctl.environment import Environment
from stickyctl.envoy.enums import ProxyKind, SessionMode
from stickyctl.findings import Finding, Resource
from stickyctl.report import github, junit, sarif
from stickyctl.report.machine import to_json
from stickyctl.report.model import CheckReport, ProxySummary, StickyService
from stickyctl.report.render import FORMATS, MACHINE_FORMATS, render
from tests.conftest import CASES, ROOT, SHARED, RunCli

SARIF_SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"
FILTER_MISSING = CASES / "STK0201-filter-missing"
CASE_DIRS = sorted(p for p in CASES.glob("*") if (p / "expected.yaml").is_file())
ANSI = re.compile(r"\x1b\[")


def _expected(case: Path) -> dict[str, Any]:
    data = yaml.safe_load((case / "expected.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _case_args(case: Path) -> list[str]:
    return [str(a) for a in _expected(case).get("args") or ["-f", "dump.json", "--services", "services.yaml"]]


EnterCase = Callable[[Path], list[str]]
"""``in_case``: change into a fixture case's directory and return its `check` arguments."""


@pytest.fixture
def in_case(monkeypatch: pytest.MonkeyPatch) -> EnterCase:
    def enter(case: Path) -> list[str]:
        monkeypatch.chdir(case)
        return _case_args(case)

    return enter


@pytest.fixture(autouse=True)
def _no_colour_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "100")


def _validator() -> Any:
    if not SARIF_SCHEMA.is_file():
        pytest.skip("../shared/schemas/sarif-schema-2.1.0.json is not present")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


# --- SARIF -------------------------------------------------------------------------------------


def test_sarif_for_a_missing_filter_validates_with_one_result_per_finding(run_cli: RunCli, in_case: EnterCase) -> None:
    args = in_case(FILTER_MISSING)
    result = run_cli("check", *args, "-o", "sarif")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    _validator().validate(doc)

    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    rule_ids = [r["id"] for r in rules]
    assert rule_ids == sorted(CATALOG)
    expected = _expected(FILTER_MISSING)["findings"]
    assert len(run["results"]) == len(expected)
    assert sorted((r["ruleId"], r["properties"]["resourceId"]) for r in run["results"]) == sorted(
        (f["code"], f["resource_id"]) for f in expected
    )
    for res in run["results"]:
        assert res["ruleId"] in rule_ids
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        (location,) = res["locations"]
        assert location["physicalLocation"]["artifactLocation"] == {"uri": "dump.json", "uriBaseId": "%SRCROOT%"}
        kinds = [ll["kind"] for ll in location["logicalLocations"]]
        assert kinds[0] == "proxy"
        assert location["logicalLocations"][-1]["fullyQualifiedName"] == res["properties"]["resourceId"]

    stk0201 = next(r for r in run["results"] if r["ruleId"] == "STK0201")
    assert stk0201["level"] == "error"
    assert [ll["kind"] for ll in stk0201["locations"][0]["logicalLocations"]] == ["proxy"]


def test_sarif_rules_carry_the_catalog(run_cli: RunCli, in_case: EnterCase) -> None:
    doc = json.loads(run_cli("check", *in_case(FILTER_MISSING), "-o", "sarif").stdout)
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    for code, spec in CATALOG.items():
        rule = rules[code]
        assert rule["name"] == spec.name
        assert rule["shortDescription"]["text"] == spec.title
        assert rule["fullDescription"]["text"] == spec.what
        assert spec.why in rule["help"]["text"] and spec.fix in rule["help"]["markdown"]
        assert rule["helpUri"] == spec.docs_url
        assert rule["defaultConfiguration"]["level"] == sarif.LEVELS[spec.severity]


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_sarif_validates_for_every_recorded_case(case: Path, run_cli: RunCli, in_case: EnterCase) -> None:
    validator = _validator()
    result = run_cli("check", *in_case(case), "-o", "sarif")
    doc = json.loads(result.stdout)  # stdout is the document alone, whatever the exit status
    validator.validate(doc)
    run = doc["runs"][0]
    assert len(run["results"]) == len(_expected(case)["findings"])
    assert run["invocations"][0]["exitCode"] == result.exit_code
    assert run["invocations"][0]["executionSuccessful"] is (result.exit_code != 3)
    for res in run["results"]:
        assert res["locations"][0]["logicalLocations"], res


def test_sarif_fingerprints_are_stable_and_depend_on_code_and_resource_only() -> None:
    a = Finding("STK0201", "one wording", Resource(file="a.json", proxy="gw", listener="l", filter_chain="#0"))
    b = Finding("STK0201", "another wording", Resource(file="a.json", proxy="gw", listener="l", filter_chain="#0"))
    c = Finding("STK0201", "one wording", Resource(file="a.json", proxy="gw", listener="l", filter_chain="#1"))
    assert sarif.fingerprint(a) == sarif.fingerprint(b) != sarif.fingerprint(c)
    assert re.fullmatch(r"[0-9a-f]{64}", sarif.fingerprint(a))


def test_sarif_is_byte_stable(run_cli: RunCli, in_case: EnterCase) -> None:
    args = in_case(FILTER_MISSING)
    first = run_cli("check", *args, "-o", "sarif").stdout
    assert first == run_cli("check", *args, "-o", "sarif").stdout
    assert first.endswith("}\n")


def _report(findings: tuple[Finding, ...], **changes: Any) -> CheckReport:
    proxy = ProxySummary(
        name="gw", kind=ProxyKind.ROUTER, node_id=None, istio_version="1.24.0", envoy_version="1.40.0",
        sources=("dumps/gw.json", "dumps/gw-routes.json"), listeners=1, http_connection_managers=1,
        routes=2, sticky_routes=1, clusters=3,
    )
    report = CheckReport(findings=findings, proxies=(proxy,), sticky_services=(), labels_checked=True)
    return replace(report, **changes)


def test_sarif_locations_for_services_inputs_and_several_dump_files() -> None:
    findings = (
        Finding("STK0001", "missing.json: no such file", Resource(file="missing.json")),
        Finding("STK0103", "both labels", Resource(service="default/hello")),
        Finding("STK0401", "no DRAINING", Resource(proxy="gw", cluster="outbound|5000||h")),
        Finding("STK0601", "exposed", Resource(proxy="gw")),
    )
    report = _report(findings, not_checked=("gw: something was not checked",))
    doc = sarif.document(report)
    if SARIF_SCHEMA.is_file():
        _validator().validate(doc)
    results = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    # An unreadable input: the file is the location, and the run did not succeed.
    assert results["STK0001"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "missing.json"
    assert results["STK0001"]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "file:missing.json"
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is False
    # A Service named by no file: logical location only.
    svc = results["STK0103"]["locations"][0]
    assert "physicalLocation" not in svc
    assert svc["logicalLocations"] == [
        {"name": "default/hello", "fullyQualifiedName": "service:default/hello", "kind": "service"}
    ]
    # A proxy built from two files: the first is the location, the second a related one.
    cluster = results["STK0401"]
    assert cluster["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "dumps/gw.json"
    assert cluster["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "dumps/gw-routes.json"
    notes = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notes == [{"level": "warning", "message": {"text": "not checked: gw: something was not checked"}}]


def test_sarif_skips_stdin_and_admin_urls_as_artifacts() -> None:
    report = _report((Finding("STK0601", "exposed", Resource(proxy="gw")),))
    report = replace(report, proxies=(replace(report.proxies[0], sources=("stdin", "http://127.0.0.1:15000")),))
    (res,) = sarif.document(report)["runs"][0]["results"]
    assert "physicalLocation" not in res["locations"][0]


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.text(max_size=12), min_size=1, max_size=4),
       paths=st.lists(st.sampled_from(["dumps/gw.json", "/abs/é dump.json", "stdin", "a b/c%.json"]), max_size=3))
def test_machine_formats_are_what_json_dumps_writes(texts: list[str], paths: list[str]) -> None:
    """-o sarif and -o json are encoded by msgspec (fast on tens of thousands of findings): the bytes
    must be those json.dumps writes, for any text a dump can carry (control characters, non-ASCII)."""
    findings = tuple(Finding(code, t, Resource(file=paths[0] if paths and i % 2 else None, proxy=t or "gw",
                                               route=t or None), {"configured": t, t: "x"})
                     for i, t in enumerate(texts) for code in ("STK0302", "STK0601"))
    sticky = tuple(StickyService(t, "Service", SessionMode.HEADER, t, "label") for t in texts)
    report = _report(findings, sticky_services=sticky)
    report = replace(report, proxies=(replace(report.proxies[0], name=texts[0] or "gw", sources=tuple(paths)),))
    assert sarif.to_sarif(report) == json.dumps(sarif.document(report), indent=2, sort_keys=True,
                                                ensure_ascii=False) + "\n"
    assert to_json(report.document()) == json.dumps(report.document(), indent=2, ensure_ascii=False) + "\n"
    assert to_json(report.encodable_document()) == to_json(report.document())  # what -o json writes


# --- JUnit -------------------------------------------------------------------------------------


def _junit(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


def test_junit_for_a_missing_filter_has_a_failing_testcase(run_cli: RunCli, in_case: EnterCase) -> None:
    result = run_cli("check", *in_case(FILTER_MISSING), "-o", "junit")
    assert result.exit_code == 1
    root = _junit(result.stdout)
    proxy = "istio-ingressgateway-6b7f9c8d5-x7k2p.istio-ingress"
    suite = root.find(f"testsuite[@name='{proxy}']")
    assert suite is not None
    failing = [tc for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert [tc.get("name") for tc in failing] == [f"STK0201 proxy:{proxy}"]
    failure = failing[0].find("failure")
    assert failure is not None and failure.get("type") == "STK0201"
    assert failing[0].get("file") == "dump.json"
    # Passed checks are listed too: coverage, not only failures.
    names = [tc.get("name") for tc in suite.iter("testcase")]
    assert f"STK0301 proxy:{proxy}" in names and f"STK0401 proxy:{proxy}" in names
    # The info finding is below the threshold: a passing testcase that carries the finding.
    info = next(tc for tc in suite.iter("testcase") if tc.get("name") == f"STK0601 proxy:{proxy}")
    assert info.find("failure") is None and "STK0601" in (info.findtext("system-out") or "")
    assert root.get("failures") == "1" and suite.get("failures") == "1"
    assert int(root.get("tests") or 0) == sum(1 for _ in root.iter("testcase"))


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_junit_parses_with_unique_names_for_every_case(case: Path, run_cli: RunCli, in_case: EnterCase) -> None:
    result = run_cli("check", *in_case(case), "-o", "junit")
    root = _junit(result.stdout)
    for suite in root.iter("testsuite"):
        names = [tc.get("name") for tc in suite.iter("testcase")]
        assert len(names) == len(set(names)), suite.get("name")
        assert suite.get("tests") == str(len(names))
    failed = {tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None}
    expected = _expected(case)
    at_or_above = {f"{f['code']} {f['resource_id']}" for f in expected["findings"]
                   if CATALOG[f["code"]].severity is Severity.ERROR}
    assert failed == at_or_above


def test_junit_threshold_suppression_and_checks_that_could_not_run() -> None:
    findings = (Finding("STK0306", "weighted", Resource(proxy="gw", route_config="r", route="x")),)
    suppressed = (Finding("STK0601", "exposed", Resource(proxy="gw")),)
    report = _report(findings, suppressed=suppressed, failure_threshold=Severity.WARNING)
    report = replace(report, proxies=(replace(report.proxies[0], clusters=None),))
    root = _junit(junit.to_junit(report))
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert cases["STK0306 proxy:gw/route_config:r/route:x"].find("failure") is not None
    skipped = cases["STK0601 proxy:gw"].find("skipped")
    assert skipped is not None and "suppressed" in (skipped.get("message") or "")
    no_clusters = cases["STK0401 proxy:gw"].find("skipped")
    assert no_clusters is not None and "no clusters" in (no_clusters.get("message") or "")
    assert cases["STK0201 proxy:gw"].find("skipped") is None  # ran and passed
    # With no threshold nothing fails.
    root = _junit(junit.to_junit(replace(report, failure_threshold=None)))
    assert root.get("failures") == "0"


def test_junit_survives_characters_xml_cannot_hold() -> None:
    report = _report((Finding("STK0204", "details: bad \x00\x1b byte", Resource(proxy="gw", listener="l")),))
    root = _junit(junit.to_junit(report))
    assert any("bad" in (tc.findtext("failure") or "") for tc in root.iter("testcase"))


# --- github ------------------------------------------------------------------------------------


def test_github_prints_an_error_annotation_naming_stk0201(run_cli: RunCli, in_case: EnterCase) -> None:
    result = run_cli("check", *in_case(FILTER_MISSING), "-o", "github")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == 1
    assert errors[0].startswith("::error file=dump.json,title=STK0201 session-filter-missing::")
    assert any(line.startswith("::notice ") and "STK0601" in line for line in lines)
    # The plain summary: every finding on a line of its own, then the summary line.
    assert any(line.startswith("STK0201 error proxy:") for line in lines)
    assert lines[-1].startswith("1 proxy, 3 listeners")


def test_github_escaping() -> None:
    assert github.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = github.command("warning", "line one\n::error::injected", file="x,y:z.json", title="T")
    assert line == "::warning file=x%2Cy%3Az.json,title=T::line one%0A::error::injected"
    assert "\n" not in line


def test_github_output_cannot_be_split_into_commands_by_a_message() -> None:
    evil = Finding("STK0204", "rejected:\n::error::forged\r\n100%", Resource(proxy="gw", listener="l"))
    out = github.to_github(_report((evil,), not_checked=("gw: multi\nline",)))
    commands = [line for line in out.splitlines() if line.startswith("::")]
    # The runner reads commands only at the start of a line: the finding and the note, nothing forged.
    assert len(commands) == 2
    assert commands[0].startswith(
        "::error file=dumps/gw.json,title=STK0204 listener-rejected::rejected:%0A::error::forged%0D%0A100%25"
    )
    assert commands[1].startswith("::warning title=stickyctl%3A not checked::gw: multi%0Aline")


# --- --output-file -----------------------------------------------------------------------------


def test_output_file_writes_sarif_and_prints_the_table(run_cli: RunCli, in_case: EnterCase, tmp_path: Path) -> None:
    args = in_case(FILTER_MISSING)
    target = tmp_path / "out.sarif"
    xml = tmp_path / "out.xml"
    result = run_cli("check", *args, "--output-file", f"sarif={target}", "--output-file", f"junit={xml}")
    assert result.exit_code == 1
    assert "STK0201" in result.stdout and "fix: " in result.stdout  # the human report on stdout
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["version"] == "2.1.0" and len(doc["runs"][0]["results"]) == 2
    assert target.read_text(encoding="utf-8") == run_cli("check", *args, "-o", "sarif").stdout
    _junit(xml.read_text(encoding="utf-8"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_output_file_table_has_no_colour(run_cli: RunCli, in_case: EnterCase, tmp_path: Path) -> None:
    target = tmp_path / "table.txt"
    run_cli("check", *in_case(FILTER_MISSING), "--color", "always", "--output-file", f"table={target}")
    text = target.read_text(encoding="utf-8")
    assert "STK0201" in text and not ANSI.search(text)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sarif", "expected FORMAT=PATH"),
        ("sarif=", "expected FORMAT=PATH"),
        ("pdf=out.pdf", "unknown format 'pdf'"),
        ("json=-", "stdout"),
    ],
)
def test_output_file_usage_errors(run_cli: RunCli, in_case: EnterCase, spec: str, message: str) -> None:
    result = run_cli("check", *in_case(FILTER_MISSING), "--output-file", spec)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


def test_output_file_given_twice_is_an_error(run_cli: RunCli, in_case: EnterCase, tmp_path: Path) -> None:
    result = run_cli("check", *in_case(FILTER_MISSING), "--output-file", f"json={tmp_path}/a",
                     "--output-file", f"yaml={tmp_path}/a")
    assert result.exit_code == 2 and "given twice" in result.stderr


def test_output_file_in_a_missing_directory_writes_nothing(run_cli: RunCli, in_case: EnterCase, tmp_path: Path) -> None:
    result = run_cli("check", *in_case(FILTER_MISSING), "--output-file", f"sarif={tmp_path}/nope/out.sarif")
    assert result.exit_code == 2
    assert "cannot write" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "nope").exists()


def test_output_file_failure_leaves_the_old_file_whole(run_cli: RunCli, in_case: EnterCase, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.sarif"
    target.write_text("previous run\n", encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    result = run_cli("check", *in_case(FILTER_MISSING), "--output-file", f"sarif={target}")
    assert result.exit_code == 2 and "No space left on device" in result.stderr
    assert target.read_text(encoding="utf-8") == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sarif"]


def test_output_file_keeps_an_existing_files_mode(run_cli: RunCli, in_case: EnterCase, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("{}", encoding="utf-8")
    target.chmod(0o640)
    run_cli("check", *in_case(FILTER_MISSING), "--output-file", f"json={target}")
    assert target.stat().st_mode & 0o777 == 0o640
    assert json.loads(target.read_text(encoding="utf-8"))["schema_version"] == 1


# --- stdout holds the document alone; colour -----------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(MACHINE_FORMATS))
def test_machine_formats_print_only_the_document(fmt: str, run_cli: RunCli, in_case: EnterCase,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    args = in_case(FILTER_MISSING)
    # A missing input as well: its error goes to stderr, never into the document.
    result = run_cli("check", *args, "-f", "missing.json", "-o", fmt, "--color", "always")
    assert result.exit_code == 3
    assert "missing.json" in result.stderr
    assert not ANSI.search(result.stdout)
    if fmt in ("json", "sarif"):
        json.loads(result.stdout)
    elif fmt == "yaml":
        yaml.safe_load(result.stdout)
    elif fmt == "junit":
        _junit(result.stdout)
    else:
        assert all(line.startswith(("::", "STK", "not checked:", "1 proxy", "label agreement"))
                   for line in result.stdout.splitlines()), result.stdout
    assert run_cli("check", *args, "-f", "missing.json", "-o", fmt).stdout == result.stdout


def test_every_format_is_registered() -> None:
    assert set(FORMATS) >= {"table", "wide", "json", "yaml", "sarif", "junit", "github"}
    report = _report(())
    for fmt in FORMATS:
        out = io.StringIO()
        render(report, fmt, Environment(stdout=out, stderr=io.StringIO(), color="never"))
        assert out.getvalue()


@pytest.mark.parametrize(
    ("color", "env", "coloured"),
    [
        ("auto", {}, False),  # not a terminal
        ("auto", {"FORCE_COLOR": "1"}, True),
        ("auto", {"NO_COLOR": "1"}, False),
        ("auto", {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),  # NO_COLOR wins
        ("auto", {"NO_COLOR": ""}, False),
        ("auto", {"FORCE_COLOR": ""}, False),  # empty means unset (no-color.org, force-color.org)
        ("always", {"NO_COLOR": "1"}, True),  # the flag wins over the environment
        ("never", {"FORCE_COLOR": "1"}, False),
        ("always", {}, True),
    ],
)
def test_color_flag_and_environment(color: str, env: dict[str, str], coloured: bool, run_cli: RunCli,
                                    in_case: EnterCase, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = run_cli("check", *in_case(FILTER_MISSING), "--color", color)
    assert bool(ANSI.search(result.stdout)) is coloured, result.stdout[:200]
    assert "STK0201" in result.stdout


def test_bad_color_value_is_a_usage_error(run_cli: RunCli, in_case: EnterCase) -> None:
    result = run_cli("check", *in_case(FILTER_MISSING), "--color", "sometimes")
    assert result.exit_code == 2 and "--color" in result.stderr


# --- CI glue: the composite GitHub Action and the pre-commit hook --------------------------------


def _shim_bin(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "stickyctl"
    shim.write_text(
        f"#!/bin/sh\nPYTHONPATH={ROOT}${{PYTHONPATH:+:$PYTHONPATH}} exec {sys.executable} -m stickyctl \"$@\"\n",
        encoding="utf-8",
    )
    shim.chmod(0o755)
    return directory


def _action() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_action_is_composite_and_uploads_sarif() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    assert "always()" in upload["if"]
    check = next(s for s in steps if s.get("id") == "check")
    assert "${{" not in check["run"], "inputs reach the script through env, never pasted into it"
    assert '--output-file "sarif=$SARIF_FILE"' in check["run"]
    assert action["inputs"]["dumps"]["required"] is True


def test_action_check_step_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    check = next(s for s in _action()["runs"]["steps"] if s.get("id") == "check")
    output = tmp_path / "github_output"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")},
        "PATH": f"{_shim_bin(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_OUTPUT": str(output),
        "DUMPS": "dump*.json\n",
        "SERVICES": "services.yaml",
        "ISTIOD": "",
        "THRESHOLD": "",
        "EXTRA_ARGS": "--suppress STK0601",
        "SARIF_FILE": str(tmp_path / "out.sarif"),
    }
    # GitHub runs `shell: bash` steps as `bash --noprofile --norc -eo pipefail {0}`.
    proc = subprocess.run([bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", check["run"]],
                          cwd=FILTER_MISSING, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr  # the step records the status; a later step fails the job
    assert output.read_text(encoding="utf-8") == "exit-code=1\n"
    assert proc.stdout.startswith("::error file=dump.json,title=STK0201 ")
    doc = json.loads((tmp_path / "out.sarif").read_text(encoding="utf-8"))
    assert [r["ruleId"] for r in doc["runs"][0]["results"]] == ["STK0201"]
    assert doc["runs"][0]["properties"]["suppressed"] == 1


def test_pre_commit_hook_runs(run_cli: RunCli, in_case: EnterCase) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "stickyctl-check" and hook["language"] == "python"
    assert hook["pass_filenames"] is False  # dumps and Services are told apart by the args
    program, *argv = shlex.split(hook["entry"])
    assert program == "stickyctl"
    result = run_cli(*argv, *in_case(FILTER_MISSING))
    assert result.exit_code == 1 and "STK0201" in result.stdout


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_encoded_machine_output_is_what_the_text_would_be(encoding: str) -> None:
    """-o json / sarif hand their UTF-8 bytes to stdout's buffer when stdout would write the same
    bytes for the text (a UTF-8 stream), else write the text."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="\n")
    out.write("before ")
    Environment(stdout=out).write_utf8("{\"é\": 1}".encode(), b"\n")
    out.flush()
    assert raw.getvalue() == "before {\"é\": 1}\n".encode(encoding, errors="replace")
    text = io.StringIO()
    Environment(stdout=text).write_utf8("ü".encode(), b"\n")
    assert text.getvalue() == "ü\n"
