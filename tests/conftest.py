from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Run `stickyctl ARGS` in-process through main(), capturing stdout/stderr via Environment."""
    from stickyctl.cli.app import main

    def run(*args: str, stdin: str | None = None) -> Captured:
        out, err = io.StringIO(), io.StringIO()
        env = envmod.Environment(stdout=out, stderr=err, color="never")
        monkeypatch.setattr(envmod, "ENV", env)
        monkeypatch.setattr("sys.argv", ["stickyctl", *args])
        monkeypatch.setattr("sys.stdout", out)
        monkeypatch.setattr("sys.stderr", err)
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        return Captured(code, out.getvalue(), err.getvalue())

    yield run


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> Iterator[None]:
    """Credentials a test's kubeconfig registered (stickyctl.sanitize) are scrubbed from that test's
    messages only: a process runs one command, a test session runs hundreds."""
    from stickyctl.sanitize import forget_secrets

    forget_secrets()
    yield
    forget_secrets()


def need_shared() -> Path:
    if not UPSTREAM.is_dir():
        pytest.skip("../shared/upstream-dumps is not present")
    return UPSTREAM


os.environ.setdefault("COLUMNS", "120")
