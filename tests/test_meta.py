"""The meta-test: every code in the catalog has its docs page, its rule and a fixture that shows it.

A new check touches the catalog, one rule module, one fixture and its generated docs page; this
file fails, naming the code, when one of them is forgotten (as kube-linter's check-bats-tests does).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stickyctl.catalog import CATALOG, RETIRED, CheckSpec
from stickyctl.checks import engine
from stickyctl.checks.rules import RULES
from stickyctl.envoy.loader import load_file
from stickyctl.errors import InputError
from tests.conftest import FIXTURES, ROOT, invoke, load_script

RULES_DIR = ROOT / "stickyctl" / "checks" / "rules"
CASES_DIR = ROOT / "fixtures" / "cases"
ISTIOD_DIR = ROOT / "fixtures" / "istiod"
"""Scenarios recorded from istiod's own code (scripts/istiod_scenarios.py) count as fixtures too."""

CODE_RE = re.compile(r"STK\d{4}")
NAME_RE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

CODES = sorted(CATALOG)
RULE_CODES = [c for c in CODES if CATALOG[c].scope != "input"]
INPUT_CODES = [c for c in CODES if CATALOG[c].scope == "input"]
"""Codes for inputs that cannot be checked: raised by the loader, not by a rule."""


GEN_DOCS = load_script("gen_docs")
REGISTERED = {module.CODE: module for module in RULES}


def rule_path(spec: CheckSpec) -> Path:
    return RULES_DIR / f"{spec.name.replace('-', '_')}.py"


def module_code(path: Path) -> str | None:
    """The string a module assigns to a top-level ``CODE``, read without importing it."""
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "CODE" for t in targets):
            value = node.value
            return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None
    return None


def _fixture_cases() -> dict[str, list[dict[str, Any]]]:
    cases: dict[str, list[dict[str, Any]]] = {}
    for path in sorted([*CASES_DIR.glob("*/expected.yaml"), *ISTIOD_DIR.glob("*/expected.yaml")]):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        cases[f"{path.parent.parent.name}/{path.parent.name}"] = list(doc.get("findings") or [])
    return cases


FIXTURE_CASES = _fixture_cases()


def fixture_args(case: Path) -> list[str]:
    """The `check` arguments of a fixture case (as tests/test_fixtures.py runs it), from its directory."""
    doc = yaml.safe_load((case / "expected.yaml").read_text(encoding="utf-8")) or {}
    return [str(a) for a in doc.get("args") or ["-f", "dump.json", "--services", "services.yaml"]]


# --- (a) docs pages ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_docs_page_is_generated_from_the_catalog(code: str) -> None:
    page = GEN_DOCS.DOCS_DIR / f"{code}.md"
    assert page.is_file(), f"{code}: no {page.relative_to(ROOT)}; run python scripts/gen_docs.py"
    assert page.read_text(encoding="utf-8") == GEN_DOCS.generate()[f"{code}.md"], (
        f"{code}: {page.relative_to(ROOT)} is stale; run python scripts/gen_docs.py"
    )


def test_docs_dir_has_nothing_stale_missing_or_extra() -> None:
    assert GEN_DOCS.problems() == [], "run python scripts/gen_docs.py"


@pytest.mark.parametrize("seed", ["0", "1", "4242"])
def test_docs_on_disk_are_what_any_run_generates(seed: str) -> None:
    """The pages on disk are what scripts/gen_docs.py writes in a fresh interpreter under another
    hash seed: nothing in them depends on set or dict order that varies between runs."""
    env = {**os.environ, "PYTHONHASHSEED": seed}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- (b) a rule (or the loader) for every code -------------------------------------------------


@pytest.mark.parametrize("code", RULE_CODES)
def test_a_registered_rule_emits_the_code(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule module named after the code is in RULES, and run alone over a fixture that shows
    the code, it reports the code (and no other)."""
    spec = CATALOG[code]
    path = rule_path(spec)
    assert path.is_file(), f"{code} ({spec.name}): no rule module {path.relative_to(ROOT)}"
    module = REGISTERED.get(code)
    assert module is not None, f"{code}: no module in stickyctl.checks.rules.RULES has CODE = {code!r}"
    assert Path(str(module.__file__)) == path, f"{code} is registered from {module.__file__}, not {path}"
    case = next((name for name, findings in FIXTURE_CASES.items() if any(f.get("code") == code for f in findings)),
                None)
    assert case is not None, f"{code}: no fixture shows it"
    monkeypatch.setattr(engine, "RULES", (module,))
    monkeypatch.chdir(FIXTURES / case)
    result = invoke("check", *fixture_args(FIXTURES / case), "-o", "json")
    emitted = {f["code"] for f in result.json()["findings"]}
    assert code in emitted, f"{path.name} alone reports {sorted(emitted)} on fixtures/{case}"
    assert emitted <= {code}, f"{path.name} reports codes that are not its own: {sorted(emitted - {code})}"


def _input_that_is_not_a_dump(tmp_path: Path) -> str:
    """A v2alpha dump: Envoy's admin API before v3, which stickyctl does not read."""
    return str(CASES_DIR / "STK0002-legacy-v2alpha" / "dump.json")


def _input_that_cannot_be_read(tmp_path: Path) -> str:
    return str(tmp_path / "missing.json")


INPUTS = {"STK0001": _input_that_cannot_be_read, "STK0002": _input_that_is_not_a_dump}


@pytest.mark.parametrize("code", INPUT_CODES)
def test_input_code_is_emitted_by_the_loader(code: str, tmp_path: Path) -> None:
    """Input codes come from the loader, not from a rule: it refuses an input with the code."""
    assert code in INPUTS, f"{code}: add an input the loader refuses with it to INPUTS"
    with pytest.raises(InputError) as refused:
        load_file(INPUTS[code](tmp_path))
    assert refused.value.code == code


def test_every_rule_module_belongs_to_a_catalog_code() -> None:
    orphans = {}
    for path in sorted(RULES_DIR.glob("*.py")) if RULES_DIR.is_dir() else []:
        code = module_code(path)
        if code is None:
            continue  # a helper module, not a rule
        if code not in CATALOG or rule_path(CATALOG[code]) != path:
            orphans[path.relative_to(ROOT).as_posix()] = code
    assert orphans == {}, "rule modules whose CODE is not in the catalog, or named after another check"


# --- (c) a fixture that shows every code -------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_code_has_a_fixture_case(code: str) -> None:
    cases = [name for name, findings in FIXTURE_CASES.items() if any(f.get("code") == code for f in findings)]
    assert cases, f"{code}: no fixtures/cases/*/expected.yaml nor fixtures/istiod/*/expected.yaml lists it"


def test_fixture_cases_name_only_catalog_codes() -> None:
    unknown = {
        name: sorted({str(f.get("code")) for f in findings} - set(CATALOG))
        for name, findings in FIXTURE_CASES.items()
    }
    assert {name: codes for name, codes in unknown.items() if codes} == {}


# --- catalog hygiene ---------------------------------------------------------------------------


def test_codes_are_unique_and_well_formed() -> None:
    from stickyctl import catalog

    specs: tuple[CheckSpec, ...] = catalog._SPECS
    codes = [s.code for s in specs]
    assert len(codes) == len(set(codes)), "a code is listed twice"
    assert [c for c in codes if not CODE_RE.fullmatch(c)] == []
    assert list(CATALOG) == codes
    assert all(key == spec.code for key, spec in CATALOG.items())


def test_names_are_unique_kebab_case() -> None:
    names = [s.name for s in CATALOG.values()]
    assert len(names) == len(set(names)), "a name is used twice"
    assert [n for n in names if not NAME_RE.fullmatch(n)] == []


def test_retired_codes_are_never_reused() -> None:
    assert set(RETIRED) & set(CATALOG) == set()
    assert [c for c in RETIRED if not CODE_RE.fullmatch(c)] == []
    assert all(reason.strip() for reason in RETIRED.values())


@pytest.mark.parametrize("code", CODES)
def test_every_text_field_is_filled(code: str) -> None:
    spec = CATALOG[code]
    for field in ("code", "name", "title", "what", "why", "fix", "scope"):
        value = getattr(spec, field)
        assert isinstance(value, str) and value.strip(), f"{code}: empty {field}"
    assert spec.docs_url.rstrip("/").removesuffix(".md").endswith(code)


def test_input_codes_are_the_loader_codes() -> None:
    assert INPUT_CODES == ["STK0001", "STK0002"]
