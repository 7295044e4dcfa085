"""The meta-test: every code in the catalog has its docs page, its rule and a fixture that shows it.

A new check touches the catalog, one rule module, one fixture and its generated docs page; this
file fails, naming the code, when one of them is forgotten (as kube-linter's check-bats-tests does).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stickyctl.catalog import CATALOG, RETIRED, CheckSpec
from tests.conftest import ROOT, load_script

RULES_DIR = ROOT / "stickyctl" / "checks" / "rules"
LOADER = ROOT / "stickyctl" / "envoy" / "loader.py"
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


def test_docs_generation_is_deterministic() -> None:
    assert GEN_DOCS.generate() == load_script("gen_docs").generate()


# --- (b) a rule (or the loader) for every code -------------------------------------------------


@pytest.mark.parametrize("code", RULE_CODES)
def test_rule_module_exists(code: str) -> None:
    spec = CATALOG[code]
    path = rule_path(spec)
    assert path.is_file(), f"{code} ({spec.name}): no rule module {path.relative_to(ROOT)}"
    assert module_code(path) == code, f'{path.relative_to(ROOT)} must define CODE = "{code}"'


@pytest.mark.parametrize("code", INPUT_CODES)
def test_input_code_is_emitted_by_the_loader(code: str) -> None:
    assert LOADER.is_file(), f"{LOADER.relative_to(ROOT)} is missing"
    assert code in LOADER.read_text(encoding="utf-8"), f"{code}: not mentioned in {LOADER.relative_to(ROOT)}"


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
