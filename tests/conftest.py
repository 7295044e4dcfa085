from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import pytest
import typer
from typer.testing import CliRunner

from stickyctl.environment import Environment

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CASES = FIXTURES / "cases"
SHARED = ROOT.parent / "shared"
UPSTREAM = SHARED / "upstream-dumps"


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a fresh module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: dataclasses look their module up in sys.modules.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Captured:
    exit_code: int
    stdout: str
    stderr: str
    click_output: str = ""
    """What typer/click itself printed (usage errors), for runs through :func:`module_app`."""

    def json(self) -> Any:
        return json.loads(self.stdout)


Invoke = Callable[..., Captured]


class RunCli(Protocol):
    """:func:`invoke`, as the ``run_cli`` fixture gives it."""

    def __call__(self, *args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None) -> Captured:
        ...


@contextlib.contextmanager
def module_app(register: Callable[[typer.Typer], None]) -> Iterator[Invoke]:
    """Run the commands one CLI module registers, on a Typer app holding only them (80 columns,
    output captured through the Environment, never a traceback in any output)."""
    app = typer.Typer()
    register(app)

    def run(*args: str, stdin: str | bytes | None = None) -> Captured:
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdout=out, stderr=err, color="never")
        result = CliRunner().invoke(app, list(args), input=stdin, obj=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        for text in (out.getvalue(), err.getvalue(), result.output):
            assert "Traceback" not in text
        return Captured(result.exit_code, out.getvalue(), err.getvalue(), result.output)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLUMNS", "80")
        yield run


def invoke(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None) -> Captured:
    """`stickyctl ARGS` in-process through main(), started as a new process would be (no secrets
    registered, stdin empty unless given, extra environment variables), output captured through the
    Environment. Usable at any fixture scope and for hundreds of cases; the run_cli fixture is this."""
    from stickyctl.cli.app import main
    from stickyctl.sanitize import forget_secrets

    forget_secrets()
    data = stdin.encode() if isinstance(stdin, str) else stdin or b""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.argv", ["stickyctl", *args])
        mp.setattr("sys.stdout", out)
        mp.setattr("sys.stderr", err)
        mp.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape"))
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        code = 0
        try:
            main(Environment(stdout=out, stderr=err, color="never"))
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return Captured(code, out.getvalue(), err.getvalue())


@pytest.fixture
def run_cli() -> RunCli:
    """Run `stickyctl ARGS` in-process through main(), capturing stdout/stderr via Environment."""
    return invoke


def need_shared() -> Path:
    if not UPSTREAM.is_dir():
        pytest.skip("../shared/upstream-dumps is not present")
    return UPSTREAM


os.environ.setdefault("COLUMNS", "120")


@pytest.fixture
def no_ambient_kube(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ~/.kube/config, $KUBECONFIG, in-cluster environment, proxy or input-size override leaks
    into a test (the cluster tests' one isolation, shared)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "HTTPS_PROXY", "https_proxy",
                "HTTP_PROXY", "http_proxy", "STICKYCTL_MAX_INPUT_BYTES"):
        monkeypatch.delenv(var, raising=False)
