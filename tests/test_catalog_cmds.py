"""`stickyctl explain` and `stickyctl checks`, on a Typer app holding only these two commands."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from stickyctl import catalog
from stickyctl.catalog import CATALOG
from stickyctl.cli import catalog_cmds
from tests.conftest import Invoke, module_app


@pytest.fixture
def run() -> Iterator[Invoke]:
    with module_app(catalog_cmds.register) as invoke:
        yield invoke


def test_explain_prints_the_catalog_prose(run: Invoke) -> None:
    result = run("explain", "STK0301")
    assert result.exit_code == 0
    assert result.stderr == ""
    text = " ".join(result.stdout.split())  # rich wraps at 80 columns
    spec = CATALOG["STK0301"]
    assert result.stdout.startswith("STK0301 · route-without-session-config\n")
    assert spec.title in text
    assert "Severity: error · applies to: route" in text
    for heading in ("What it does", "Why it breaks sessions", "How to fix"):
        assert heading in result.stdout
    assert "Istio's listener filter is an empty StatefulSession{}" in text  # Markdown rendered, not raw
    assert "Docs: https://stickyctl.readthedocs.io/en/latest/checks/STK0301/" in text


@pytest.mark.parametrize(
    "given",
    ["stk0301", "Stk0301", " STK0301 ", "route-without-session-config", "Route-Without-Session-Config"],
)
def test_explain_accepts_any_case_and_the_name(run: Invoke, given: str) -> None:
    result = run("explain", given, "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["code"] == "STK0301"


def test_explain_unknown_code(run: Invoke) -> None:
    result = run("explain", "NOPE")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "stickyctl: error: unknown check code 'NOPE' (see 'stickyctl checks')\n"


def test_explain_retired_code(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(catalog.RETIRED, "STK0999", "merged into STK0301.")
    result = run("explain", "stk0999")
    assert result.exit_code == 2
    assert result.stderr == "stickyctl: error: check code 'STK0999' was retired: merged into STK0301.\n"


def test_explain_json(run: Invoke) -> None:
    result = run("explain", "STK0401", "-o", "json")
    spec = CATALOG["STK0401"]
    assert result.exit_code == 0
    assert result.stdout == (
        json.dumps(
            {
                "code": "STK0401",
                "name": spec.name,
                "severity": "warning",
                "scope": "cluster",
                "title": spec.title,
                "what": spec.what,
                "why": spec.why,
                "remediation": spec.fix,
                "docs_url": "https://stickyctl.readthedocs.io/en/latest/checks/STK0401/",
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def test_explain_yaml(run: Invoke) -> None:
    result = run("explain", "STK0103", "--output", "yaml")
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["name"] == "both-session-labels"


def test_explain_bad_format_is_a_usage_error(run: Invoke) -> None:
    result = run("explain", "STK0103", "-o", "xml")
    assert result.exit_code == 2
    assert result.stdout == ""


def test_checks_table_lists_every_code(run: Invoke) -> None:
    result = run("checks")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["CODE", "SEVERITY"]
    for code, spec in CATALOG.items():
        assert f"{code}  {spec.severity.value}" in result.stdout
        assert spec.name in result.stdout
    assert all(len(line.rstrip()) <= 80 for line in lines)


def test_checks_table_on_a_wide_terminal_has_name_and_title_columns(
    run: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    result = run("checks")
    assert result.stdout.splitlines()[0].split() == ["CODE", "SEVERITY", "NAME", "TITLE"]
    spec = CATALOG["STK0103"]
    row = next(line for line in result.stdout.splitlines() if line.startswith("STK0103"))
    assert row.split()[:3] == ["STK0103", "warning", spec.name]
    assert spec.title in row


def test_checks_json(run: Invoke) -> None:
    result = run("checks", "-o", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert [c["code"] for c in doc] == sorted(CATALOG)
    assert doc[0] == catalog_cmds.spec_document(CATALOG[doc[0]["code"]])


def test_checks_yaml(run: Invoke) -> None:
    result = run("checks", "-o", "yaml")
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout) == json.loads(run("checks", "-o", "json").stdout)


@pytest.mark.parametrize("args", [("checks",), ("checks", "-o", "json"), ("explain", "STK0201")])
def test_byte_stable(run: Invoke, args: tuple[str, ...]) -> None:
    assert run(*args).stdout == run(*args).stdout
