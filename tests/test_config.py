"""The config file: discovery (as ruff finds its config), validation, and flags overriding it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stickyctl import config
from stickyctl.errors import UsageError
from tests.conftest import RunCli

SAMPLE = ("check", "--sample", "helloworld")
"""The bundled sample has one info finding (STK0601) and passes at the default threshold."""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory as the working directory, with nothing above it that counts."""
    root = tmp_path / "repo"
    (root / "sub" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(root)
    assert config.discover(root) is None, "a config file above the test's tmp dir would skew these tests"
    return root


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- discovery ---------------------------------------------------------------------------------


def test_discovery_walks_up_from_the_working_directory(project: Path) -> None:
    found = _write(project / ".stickyctl.yaml", "failure-threshold: info\n")
    assert config.discover(project / "sub" / "deeper") == found


def test_a_pyproject_without_the_table_is_skipped(project: Path) -> None:
    outer = _write(project / "pyproject.toml", '[tool.stickyctl]\noutput = "json"\n')
    _write(project / "sub" / "pyproject.toml", '[project]\nname = "x"\n')
    assert config.discover(project / "sub" / "deeper") == outer


def test_the_nearest_file_wins_and_nothing_is_merged(project: Path) -> None:
    _write(project / ".stickyctl.yaml", "failure-threshold: info\n")
    inner = _write(project / "sub" / "pyproject.toml", '[tool.stickyctl]\noutput = "json"\n')
    assert config.discover(project / "sub") == inner
    loaded = config.load(inner)
    assert loaded.output == "json" and loaded.failure_threshold is None


def test_within_a_directory_the_yaml_files_come_before_pyproject(project: Path) -> None:
    _write(project / "pyproject.toml", '[tool.stickyctl]\noutput = "json"\n')
    yml = _write(project / ".stickyctl.yml", "output: yaml\n")
    assert config.discover(project) == yml
    yaml_file = _write(project / ".stickyctl.yaml", "output: wide\n")
    assert config.discover(project) == yaml_file


def test_both_file_kinds_parse_to_the_same_settings(project: Path) -> None:
    toml = _write(project / "a" / "pyproject.toml", """\
[tool.stickyctl]
failure-threshold = "warning"
suppress = ["STK0601", "STK0401=*|v1|*"]
cookie-label = "example.com/cookie"
header-label = "example.com/header"
output = "sarif"
""")
    yml = _write(project / "b" / ".stickyctl.yaml", """\
failure-threshold: warning
suppress: [STK0601, "STK0401=*|v1|*"]
cookie-label: example.com/cookie
header-label: example.com/header
output: sarif
""")
    a, b = config.load(toml), config.load(yml)
    assert (a.failure_threshold, a.suppress, a.cookie_label, a.header_label, a.output) == (
        b.failure_threshold, b.suppress, b.cookie_label, b.header_label, b.output
    ) == ("warning", ("STK0601", "STK0401=*|v1|*"), "example.com/cookie", "example.com/header", "sarif")


def test_an_empty_yaml_file_is_an_empty_config(project: Path) -> None:
    assert config.load(_write(project / ".stickyctl.yaml", "")).output is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("failure_threshold: info\n", "unknown key 'failure_threshold'"),
        ("failure-threshold: fatal\n", "failure-threshold = 'fatal': expected one of error, warning, info, none"),
        ("output: pdf\n", "output = 'pdf'"),
        ("suppress: STK0601\n", "suppress: expected a list"),
        ("suppress: [STK9999]\n", "unknown check code 'STK9999'"),
        ("suppress: [STK0001]\n", "cannot be suppressed"),
        ("cookie-label: ''\n", "cookie-label = ''"),
        ("header-label: 3\n", "header-label = 3"),
        ("- a list\n", "expected a table of settings"),
        ("output: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_yaml_settings_are_usage_errors(project: Path, text: str, message: str) -> None:
    path = _write(project / ".stickyctl.yaml", text)
    with pytest.raises(UsageError, match=None) as info:
        config.load(path)
    assert message in str(info.value)
    assert str(info.value).startswith(".stickyctl.yaml") or "config .stickyctl.yaml" in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_toml_is_a_usage_error(project: Path) -> None:
    _write(project / "pyproject.toml", "[tool.stickyctl\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        config.discover(project)


def test_an_explicit_pyproject_needs_the_table(project: Path) -> None:
    path = _write(project / "pyproject.toml", '[project]\nname = "x"\n')
    with pytest.raises(UsageError, match=r"no \[tool.stickyctl\] table"):
        config.load(path)


# --- the CLI -----------------------------------------------------------------------------------


def test_config_threshold_applies_and_the_flag_overrides_it(project: Path, run_cli: RunCli) -> None:
    assert run_cli(*SAMPLE).exit_code == 0
    _write(project / "pyproject.toml", '[tool.stickyctl]\nfailure-threshold = "info"\n')
    assert run_cli(*SAMPLE).exit_code == 1
    assert run_cli(*SAMPLE, "--failure-threshold", "error").exit_code == 0
    assert run_cli(*SAMPLE, "--isolated").exit_code == 0


def test_config_is_found_from_a_subdirectory(project: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(project / ".stickyctl.yaml", "failure-threshold: info\n")
    monkeypatch.chdir(project / "sub" / "deeper")
    assert run_cli(*SAMPLE).exit_code == 1


def test_explicit_config_path(project: Path, run_cli: RunCli, tmp_path: Path) -> None:
    elsewhere = _write(tmp_path / "ci" / "gate.yaml", "failure-threshold: info\n")
    assert run_cli(*SAMPLE, "--config", str(elsewhere)).exit_code == 1
    missing = run_cli(*SAMPLE, "--config", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_config_and_isolated_conflict(project: Path, run_cli: RunCli) -> None:
    path = _write(project / ".stickyctl.yaml", "output: json\n")
    result = run_cli(*SAMPLE, "--config", str(path), "--isolated")
    assert result.exit_code == 2 and "cannot be used together" in result.stderr


def test_config_output_and_flag_override(project: Path, run_cli: RunCli) -> None:
    _write(project / ".stickyctl.yaml", "output: json\n")
    doc = json.loads(run_cli(*SAMPLE).stdout)
    assert doc["schema_version"] == 1
    assert "fix: " in run_cli(*SAMPLE, "-o", "table").stdout


def test_config_suppressions_add_to_the_flags(project: Path, run_cli: RunCli) -> None:
    _write(project / ".stickyctl.yaml", "suppress: [STK0601, STK0404]\nfailure-threshold: info\n")
    doc = json.loads(run_cli(*SAMPLE, "-o", "json").stdout)
    assert doc["findings"] == [] and doc["summary"]["suppressed"] == 2
    assert run_cli(*SAMPLE).exit_code == 0


def test_config_label_keys_and_flag_override(project: Path, run_cli: RunCli) -> None:
    _write(project / ".stickyctl.yaml", "header-label: example.com/sticky\n")
    codes = json.loads(run_cli(*SAMPLE, "-o", "json").stdout)["findings"]
    # The sample's Service uses the default key, which istiod (configured as above) would not read.
    assert "STK0305" in [f["code"] for f in codes]
    flagged = json.loads(run_cli(*SAMPLE, "-o", "json", "--header-label", "istio.io/persistent-session-header").stdout)
    assert [f["code"] for f in flagged["findings"]] == ["STK0404", "STK0601"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (".stickyctl.yaml", "bogus: 1\n", ".stickyctl.yaml: unknown key 'bogus'"),
        ("pyproject.toml", '[tool.stickyctl]\nfailure-threshold = "fatal"\n',
         "pyproject.toml [tool.stickyctl]: failure-threshold = 'fatal'"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(project: Path, run_cli: RunCli, name: str, text: str, message: str) -> None:
    _write(project / name, text)
    result = run_cli(*SAMPLE)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("stickyctl: error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    # --isolated sidesteps a broken config
    assert run_cli(*SAMPLE, "--isolated").exit_code == 0
