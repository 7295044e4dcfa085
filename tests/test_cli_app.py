"""The application shell: root help from the command index, then real commands."""

from __future__ import annotations

import os
import subprocess
import sys

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
loaded = sorted(m for m in sys.modules if m.startswith("stickyctl.cli.") and m.rsplit(".", 1)[1] in app._MODULES)
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
    assert lazy == full  # COMMAND_SUMMARIES must say what the commands say, in their order
    for name in appmod.COMMAND_SUMMARIES:
        assert f" {name} " in lazy


def test_no_command_shows_the_same_list() -> None:
    lazy, loaded = _run("lazy")
    full, _ = _run("full")
    assert loaded == ""
    assert lazy == full


def test_a_command_imports_only_its_module() -> None:
    _out, loaded = _run("lazy", "decode", "MTAuMjQ0LjEuNDo1MDAw")
    assert loaded == "stickyctl.cli.sessions"


def test_in_process_root_help_after_a_command_lists_every_command() -> None:
    # The test suite runs many commands in one process: root help must then list all of them.
    assert invoke("decode", "MTAuMjQ0LjEuNDo1MDAw").exit_code == 0
    out = invoke("--help").stdout
    for name in appmod.COMMAND_SUMMARIES:
        assert f" {name} " in out
    assert invoke("encode", "10.244.1.4:5000").exit_code == 0
