"""The docs site tells the truth: every `$ stickyctl …` in a ``console`` block of the docs runs and
prints what the page shows, and the site's nav covers every check page.

`mkdocs build --strict` itself runs in .ci/run (it needs the docs extra).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from stickyctl.catalog import CATALOG, RETIRED
from tests.conftest import ROOT, RunCli, load_script

DOCS = ROOT / "docs"
CONSOLE_BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)


def _commands(page: Path) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for block in CONSOLE_BLOCK.findall(page.read_text(encoding="utf-8")):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            else:
                assert out, f"{page.name}: output before any command in a console block"
                out[-1][1].append(line)
    return out


COMMANDS = [(page, cmd, shown) for page in sorted(DOCS.glob("*.md")) for cmd, shown in _commands(page)]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def test_the_quickstart_has_tested_commands() -> None:
    assert sum(1 for page, _, _ in COMMANDS if page.name == "quickstart.md") >= 5


@pytest.mark.parametrize(("page", "command", "shown"), COMMANDS,
                         ids=[f"{p.name}:{c[:60]}" for p, c, _ in COMMANDS])
def test_console_commands_print_what_the_docs_show(page: Path, command: str, shown: list[str], run_cli: RunCli,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    argv = shlex.split(command)
    assert argv[0] == "stickyctl", "console blocks hold stickyctl commands only; use sh blocks for the rest"
    result = run_cli(*argv[1:])
    assert result.exit_code in (0, 1), result.stderr
    actual = _lines(result.stdout)
    # What the page shows must appear in order (a page may show only part of a long output).
    position = 0
    for want in _lines("\n".join(shown)):
        while position < len(actual) and actual[position] != want:
            position += 1
        assert position < len(actual), f"{page.name}: `{command}` no longer prints {want!r}:\n{result.stdout}"
        position += 1


def _mkdocs_config() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may use !ENV / !relative tags; they do not matter here.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    data = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)
    assert isinstance(data, dict)
    return data


def _nav_files(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [f for item in nav for f in _nav_files(item)]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in _nav_files(value)]
    return []


def test_the_nav_covers_every_page() -> None:
    config = _mkdocs_config()
    config["nav"] = load_script("mkdocs_hooks").on_config(config)["nav"]
    in_nav = set(_nav_files(config["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - in_nav == set(), "docs pages missing from mkdocs.yml's nav"
    assert in_nav - pages == set(), "nav entries without a page"
    assert {f"checks/{c}.md" for c in [*CATALOG, *RETIRED]} <= in_nav


def test_links_to_source_files_become_paths() -> None:
    hooks = load_script("mkdocs_hooks")

    class Page:
        class file:
            src_uri = "json-schema.md"

    text = "see [`stickyctl/report/model.py`](../stickyctl/report/model.py) and [checks](checks/index.md)"
    out = hooks.on_page_markdown(text, page=Page, config={"docs_dir": str(DOCS), "repo_url": None})
    assert out == "see `stickyctl/report/model.py` and [checks](checks/index.md)"
    out = hooks.on_page_markdown(text, page=Page, config={"docs_dir": str(DOCS), "repo_url": "https://x.test/r/"})
    assert "(https://x.test/r/blob/main/stickyctl/report/model.py)" in out
