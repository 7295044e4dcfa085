from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stickyctl.cli import env as envmod

ROOT = Path(__file__).resolve().parent.parent
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
