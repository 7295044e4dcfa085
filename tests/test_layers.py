"""The layers stay apart: read from the source (every import, the lazy ones inside functions too).

- only the command line (``stickyctl.cli``, and ``python -m stickyctl``) imports ``stickyctl.cli``;
- ``kube`` fetches and records: it never imports the checks;
- a rule module is imported only by its package (``RULES``) and the rules' own helpers;
- no module imports another module's private names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "stickyctl"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> Iterator[tuple[str, str | None, int]]:
    """(module imported, name imported from it or None, line) for every import in the file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name, node.lineno


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(rule: str) -> list[str]:
    out = []
    for module, path in MODULES.items():
        for imported, name, line in _imports(path):
            full = f"{imported}.{name}" if name else imported
            where = f"{path.relative_to(ROOT)}:{line}: {full}"
            if rule == "cli" and not _within(module, "stickyctl.cli") and module != "stickyctl.__main__" \
                    and _within(full, "stickyctl.cli"):
                out.append(where)
            if rule == "kube" and _within(module, "stickyctl.kube") and _within(full, "stickyctl.checks"):
                out.append(where)
            if rule == "rules" and not _within(module, "stickyctl.checks.rules") \
                    and _within(full, "stickyctl.checks.rules") and full != "stickyctl.checks.rules.RULES":
                out.append(where)
            if rule == "private" and name is not None and name.startswith("_") and not name.startswith("__") \
                    and imported.startswith("stickyctl") and imported != module:
                out.append(where)
    return out


@pytest.mark.parametrize("rule", ["cli", "kube", "rules", "private"])
def test_layers(rule: str) -> None:
    assert _violations(rule) == []


def test_the_rules_see_what_they_guard() -> None:
    """The scan reads the package (a wrong root would find no violation in no file)."""
    assert {"stickyctl.cli.app", "stickyctl.kube.collect", "stickyctl.checks.rules", "stickyctl.why.engine"} <= set(
        MODULES)
    assert any(name == "RULES" for imported, name, _ in _imports(MODULES["stickyctl.checks.engine"])
               if imported == "stickyctl.checks.rules")
