"""Every recorded fixture case: exact codes and resource ids, and the exit status.

Cases live in fixtures/cases/<case>/ with expected.yaml (made by scripts/record_fixtures.py from a
real Envoy); adding a case is dropping in a directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CASES, RunCli

CASE_DIRS = sorted(p for p in CASES.glob("*") if (p / "expected.yaml").is_file())


def _expected(case: Path) -> dict[str, Any]:
    data = yaml.safe_load((case / "expected.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("case", CASE_DIRS, ids=[p.name for p in CASE_DIRS])
def test_case_findings(case: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _expected(case)
    monkeypatch.chdir(case)
    args = [str(a) for a in expected.get("args") or ["-f", "dump.json", "--services", "services.yaml"]]
    result = run_cli("check", *args, "-o", "json")
    assert "Traceback" not in result.stdout + result.stderr
    doc = json.loads(result.stdout)
    got = sorted((f["code"], f["resource_id"]) for f in doc["findings"])
    want = sorted((f["code"], f["resource_id"]) for f in expected["findings"])
    assert got == want, result.stdout
    assert result.exit_code == expected["exit_code"], result.stderr


def test_there_are_cases() -> None:
    assert len(CASE_DIRS) >= 20
