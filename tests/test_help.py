"""Every command's --help: values named, no type placeholders, defaults shown, only what it
accepts, each thing said once; command-line errors in one style (one line, exit 2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from stickyctl.cli.app import full_app
from tests.conftest import invoke


def _commands() -> Iterator[tuple[list[str], Any]]:
    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(full_app()), [])


COMMANDS = [path for path, _ in _commands()]


def _help(path: list[str], width: int = 200) -> str:
    res = invoke(*path, "--help", env={"COLUMNS": str(width), "NO_COLOR": "1", "TERM": "dumb"})
    assert res.exit_code == 0, res.stderr
    return res.stdout


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "stickyctl" for p in COMMANDS])
def test_help_names_values_and_shows_no_type_placeholders(path: list[str]) -> None:
    text = _help(path)
    # typer's placeholders: <bool> on flags (which take no value), <str>/<int>/<float>, <a|b|c>.
    assert not re.search(r"<(bool|str|int|float|list\[\w+\]|[a-z-]+(\|[a-z-]+)+)>", text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage, "usage spells a required argument as {NAME}"


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "stickyctl" for p in COMMANDS])
def test_every_default_is_shown(path: list[str]) -> None:
    """An option with a default shows it: typer's own for plain defaults, written in the help for
    computed ones (check's -o is table unless a config file says otherwise)."""
    command = next(c for p, c in _commands() if p == path)
    text = " ".join(_help(path).split())
    for param in command.params:
        if param.hidden or param.param_type_name != "option" or getattr(param, "is_flag", False):
            continue
        default = param.default
        if default not in (None, [], (), ""):
            assert f"[default: {getattr(default, 'value', default)}]" in text, (path, param.name)
        # A default written in the help renders as written (rich would eat an unescaped "[default: …]").
        for m in re.finditer(r"\\\[default: ([^\]]+)\]", param.help or ""):
            assert f"[default: {' '.join(m.group(1).split())}]" in text, (path, param.name)


def test_check_shows_the_defaults_it_takes_from_no_config_file() -> None:
    text = " ".join(_help(["check"]).split())
    for shown in ("[default: table]", "[default: error]", "[default: istio.io/persistent-session]",
                  "[default: istio.io/persistent-session-header]", "[default: 10.0]", "[default: auto]"):
        assert shown in text


def test_flags_take_no_value() -> None:
    text = _help(["check"])
    line = next(li for li in text.splitlines() if "--isolated" in li)
    assert re.search(r"--isolated\s+Ignore every config file", line), line
    res = invoke("check", "--sample", "helloworld", "--isolated", "true")
    assert res.exit_code == 2
    assert res.stderr == ("stickyctl: error: got unexpected extra argument(s) (true) (see 'stickyctl check -h')\n")


def test_dump_lists_only_what_it_accepts_and_says_each_thing_once() -> None:
    text = " ".join(_help(["dump"]).split())
    # dump reads the cluster only: its flags are no alternative to -f/--admin-url/--sample there.
    assert "-f/--admin-url" not in text and "--sample" not in text and "--services" not in text
    assert "Cluster" in _help(["dump"])
    # --allow-partial is described once, as dump does it (exit 0), not as check does it (exit 1).
    assert text.count("exit 0 when some pod") + text.count("Exit 0 when some pods") == 1
    assert "exit 1 rather than 3" not in text
    assert "exit 1 rather than 3" in " ".join(_help(["check"]).split())


@pytest.mark.parametrize(("args", "message"), [
    (["check", "--nope"], "no such option: --nope (see 'stickyctl check -h')"),
    (["check", "-o"], "option '-o' requires an argument (see 'stickyctl check -h')"),
    (["chek"], "no such command 'chek'. Did you mean 'check', 'checks'? (see 'stickyctl -h')"),
    (["decode", "-o", "xml", "x"], "invalid value for '--output' / '-o': 'xml' is not one of 'table', 'json', "
                                   "'yaml' (see 'stickyctl decode -h')"),
    (["lab", "up", "--timeout"], "option '--timeout' requires an argument (see 'stickyctl lab up -h')"),
    (["explain"], "missing argument 'CODE' (see 'stickyctl explain -h')"),
    # Errors stickyctl itself finds read the same way.
    (["check", "--sample", "helloworld", "-o", "xml"], "-o 'xml': unknown output format (choose from table, wide, "
                                                       "json, yaml, sarif, junit, github)"),
])
def test_one_usage_error_style(args: list[str], message: str) -> None:
    res = invoke(*args)
    assert res.exit_code == 2
    assert res.stderr == f"stickyctl: error: {message}\n"
    assert "Usage:" not in res.stdout + res.stderr


def test_a_group_without_a_command_shows_its_help_without_an_empty_error() -> None:
    res = invoke("lab")
    assert res.exit_code == 2
    assert "Commands" in res.stdout
    assert "stickyctl: error" not in res.stderr
