"""The application shell: root help from the command index, then real commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stickyctl.cli import app as appmod
from tests.conftest import invoke

# Renders `stickyctl ARGS` in a fresh process; with "full" first, every command module is
# registered before (what docs and completions see). Prints the command modules imported.
PROBE = """
import sys
full = sys.argv[1] == "full"
sys.argv = ["stickyctl", *sys.argv[2:]]
from stickyctl.cli import app
if full:
    app.register()
try:
    app.main()
except SystemExit:
    pass
loaded = sorted(m for m in sys.modules if m.startswith("stickyctl.cli.") and m.rsplit(".", 1)[1] in app.MODULES)
sys.stderr.write("LOADED:" + ",".join(loaded) + "\\n")
"""


def _run(mode: str, *args: str) -> tuple[str, str]:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run([sys.executable, "-c", PROBE, mode, *args], capture_output=True, text=True, timeout=60,
                          env=env)
    loaded = next(x for x in proc.stderr.splitlines() if x.startswith("LOADED:"))[len("LOADED:"):]
    return proc.stdout, loaded


def test_root_help_is_the_full_apps_without_importing_commands() -> None:
    lazy, loaded = _run("lazy", "--help")
    full, _ = _run("full", "--help")
    assert loaded == "", f"root help imported {loaded}"
    assert lazy == full  # COMMANDS' summaries must say what the commands say, in their order
    for entry in appmod.COMMANDS:
        assert f" {entry.name} " in lazy


def test_no_command_shows_the_same_list() -> None:
    lazy, loaded = _run("lazy")
    full, _ = _run("full")
    assert loaded == ""
    assert lazy == full
    assert all(f" {entry.name} " in lazy for entry in appmod.COMMANDS)


def test_a_command_imports_only_its_module() -> None:
    _out, loaded = _run("lazy", "decode", "MTAuMjQ0LjEuNDo1MDAw")
    assert loaded == "stickyctl.cli.sessions"


def test_in_process_root_help_after_a_command_lists_every_command() -> None:
    # The test suite runs many commands in one process: root help must then list all of them.
    assert invoke("decode", "MTAuMjQ0LjEuNDo1MDAw").exit_code == 0
    out = invoke("--help").stdout
    for entry in appmod.COMMANDS:
        assert f" {entry.name} " in out
    assert invoke("encode", "10.244.1.4:5000").exit_code == 0


# The console script's quick exit (app.run): everything written, exit handlers run, codes kept.
RUN = """
import atexit, sys
marker = sys.argv[1]
atexit.register(lambda: open(marker, "w").write("ran"))
sys.argv = ["stickyctl", *sys.argv[2:]]
from stickyctl.cli.app import run
run()
"""


def _console(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    marker = tmp_path / "atexit-ran"
    proc = subprocess.run([sys.executable, "-c", RUN, str(marker), *args], capture_output=True, text=True,
                          timeout=60)
    return proc, marker


def test_run_writes_everything_and_runs_exit_handlers(tmp_path: Path) -> None:
    proc, marker = _console(tmp_path, "check", "--sample", "helloworld", "-o", "json")
    doc = json.loads(proc.stdout)  # the whole document arrived (flushed before the quick exit)
    assert proc.returncode == doc["summary"]["exit_code"]
    assert marker.read_text() == "ran"


@pytest.mark.parametrize(("args", "code"), [
    (["decode", "MTAuMjQ0LjEuNDo1MDAw"], 0),
    (["decode", "garbage!!"], 1),
    (["check", "--no-such-option"], 2),
    (["check", "-f", "/nonexistent/dump.json"], 3),
])
def test_run_keeps_exit_codes(tmp_path: Path, args: list[str], code: int) -> None:
    proc, marker = _console(tmp_path, *args)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert marker.read_text() == "ran"


def test_run_into_a_closed_pipe_is_quiet() -> None:
    # `stickyctl checks | head -1`: the reader leaves early; no error, no traceback.
    values = b"MTAuMjQ0LjEuNDo1MDAw\n" * 20000  # far more output than a pipe buffers
    proc = subprocess.Popen([sys.executable, "-m", "stickyctl", "decode", "-", "-o", "json"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(values)
    proc.stdin.close()
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "Exception ignored" not in err
