from __future__ import annotations

import importlib.util
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from stickyctl.cli import env as envmod

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a fresh module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
FIXTURES = ROOT / "fixtures"
CASES = FIXTURES / "cases"
SHARED = ROOT.parent / "shared"
UPSTREAM = SHARED / "upstream-dumps"


@dataclass
class Captured:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def invoke(*args: str, stdin: str | None = None) -> Captured:
    """`stickyctl ARGS` in-process through main(), output captured through the Environment (usable
    at any fixture scope; the run_cli fixture is this)."""
    from stickyctl.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(envmod, "ENV", envmod.Environment(stdout=out, stderr=err, color="never"))
        mp.setattr("sys.argv", ["stickyctl", *args])
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", err)
        if stdin is not None:
            mp.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return Captured(code, out.getvalue(), err.getvalue())


@pytest.fixture
def run_cli() -> Iterator[object]:
    """Run `stickyctl ARGS` in-process through main(), capturing stdout/stderr via Environment."""
    yield invoke


def need_shared() -> Path:
    if not UPSTREAM.is_dir():
        pytest.skip("../shared/upstream-dumps is not present")
    return UPSTREAM


os.environ.setdefault("COLUMNS", "120")
