"""Shell completion scripts (completions/) and the kubectl plugin.

The scripts must be current (regenerating changes nothing), and real shells must complete with
them: bash is driven the way readline drives it (COMP_WORDS / COMP_CWORD, then the completion
function, then COMPREPLY), and kubectl's plugin completion runs ``kubectl_complete-sticky``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_script

COMPLETIONS = ROOT / "completions"


GEN = load_script("gen_completions")


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``stickyctl`` and ``kubectl-sticky`` running this checkout with this interpreter.

    The completion scripts call the program back by name, so it must be on PATH; shims make the
    tests independent of how (or whether) the package's console scripts were installed."""
    directory = tmp_path_factory.mktemp("bin")
    for name in ("stickyctl", "kubectl-sticky"):
        shim = directory / name
        shim.write_text(
            f"#!/bin/sh\nPYTHONPATH={ROOT}${{PYTHONPATH:+:$PYTHONPATH}} exec {sys.executable} -c "
            f"'import sys; sys.argv[0] = \"{name}\"; from stickyctl.cli.app import main; main()' \"$@\"\n",
            encoding="utf-8",
        )
        shim.chmod(0o755)
    return directory


def _env(bin_dir: Path, *extra: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("_STICKYCTL")}
    env["PATH"] = os.pathsep.join([*(str(p) for p in extra), str(bin_dir), env.get("PATH", "")])
    return env


# --- generated and current ---------------------------------------------------------------------


def test_the_completion_files_exist() -> None:
    for name in ("stickyctl.bash", "_stickyctl", "stickyctl.fish", "stickyctl.ps1", "kubectl_complete-sticky"):
        assert (COMPLETIONS / name).is_file(), name
    assert (COMPLETIONS / "kubectl_complete-sticky").stat().st_mode & stat.S_IXUSR
    assert (COMPLETIONS / "_stickyctl").read_text(encoding="utf-8").startswith("#compdef stickyctl\n")


def test_regenerating_changes_nothing() -> None:
    assert GEN.problems() == [], "completions/ is out of date: run python scripts/gen_completions.py"


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    assert GEN.write(tmp_path)
    assert GEN.problems(tmp_path) == []
    (tmp_path / "stickyctl.bash").write_text("# edited by hand\n", encoding="utf-8")
    (tmp_path / "old.zsh").write_text("", encoding="utf-8")
    (tmp_path / "kubectl_complete-sticky").chmod(0o644)
    found = GEN.problems(tmp_path)
    assert any(p.startswith("stale:") and p.endswith("stickyctl.bash") for p in found)
    assert any(p.startswith("extra:") and p.endswith("old.zsh") for p in found)
    assert any(p.startswith("not executable:") for p in found)
    GEN.write(tmp_path)
    assert GEN.problems(tmp_path) == []


def test_generation_is_byte_stable() -> None:
    assert GEN.generate() == GEN.generate()


# --- real bash ---------------------------------------------------------------------------------


def _bash_complete(bin_dir: Path, *words: str) -> list[str]:
    """COMPREPLY after completing the last of ``words`` the way bash's programmable completion does."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    quoted = " ".join(f"'{w}'" for w in words)
    script = (
        f"source {COMPLETIONS / 'stickyctl.bash'}\n"
        "complete -p stickyctl >/dev/null || exit 9\n"  # the script registered itself
        f"COMP_WORDS=({quoted})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f'COMP_LINE="{" ".join(words)}"\n'
        "COMP_POINT=${#COMP_LINE}\n"
        "_stickyctl_completion stickyctl\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run([bash, "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                          env=_env(bin_dir), timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_completes_a_subcommand(bin_dir: Path) -> None:
    assert _bash_complete(bin_dir, "stickyctl", "ch") == ["check", "checks"]


def test_bash_completes_an_option_of_check(bin_dir: Path) -> None:
    assert _bash_complete(bin_dir, "stickyctl", "check", "--failure") == ["--failure-threshold"]
    assert "--output-file" in _bash_complete(bin_dir, "stickyctl", "check", "--output")


def test_bash_completes_option_values(bin_dir: Path) -> None:
    assert _bash_complete(bin_dir, "stickyctl", "check", "--failure-threshold", "w") == ["warning"]
    assert _bash_complete(bin_dir, "stickyctl", "check", "-o", "s") == ["sarif"]
    assert _bash_complete(bin_dir, "stickyctl", "check", "--sample", "") == ["helloworld"]
    assert _bash_complete(bin_dir, "stickyctl", "check", "--output-file", "ju") == ["junit="]


# --- kubectl -----------------------------------------------------------------------------------


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    return kubectl


def test_kubectl_sticky_help_lists_check(bin_dir: Path) -> None:
    proc = subprocess.run([_kubectl(), "sticky", "--help"], capture_output=True, text=True,
                          env={**_env(bin_dir), "COLUMNS": "100"}, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "kubectl sticky" in proc.stdout
    assert any(line.strip("│ ").startswith("check ") for line in proc.stdout.splitlines()), proc.stdout


def test_kubectl_sticky_runs_a_check(bin_dir: Path) -> None:
    proc = subprocess.run([_kubectl(), "sticky", "check", "--sample", "helloworld", "-o", "json"],
                          capture_output=True, text=True, env=_env(bin_dir), timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert '"schema_version": 1' in proc.stdout


def test_kubectl_plugin_completion(bin_dir: Path) -> None:
    kubectl = _kubectl()
    proc = subprocess.run([kubectl, "__complete", "sticky", "check", "--fail"], capture_output=True, text=True,
                          env=_env(bin_dir, COMPLETIONS), timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    if "kubectl_complete-sticky" not in proc.stderr and proc.stdout.strip() in ("", ":4", ":0"):
        pytest.skip("this kubectl has no plugin completion (kubectl < 1.26)")
    assert proc.stdout.splitlines() == ["--failure-threshold", ":4"]


def test_kubectl_complete_script_alone(bin_dir: Path) -> None:
    """The protocol without kubectl: candidates, then the directive; nothing to offer means files."""
    script = str(COMPLETIONS / "kubectl_complete-sticky")
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    env = _env(bin_dir)
    out = subprocess.run([script, "ch"], capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    assert out.splitlines() == ["check", "checks", ":4"]
    out = subprocess.run([script, "check", "-f", ""], capture_output=True, text=True, env=env, timeout=60,
                         check=True).stdout
    assert out.splitlines() == [":0"]
