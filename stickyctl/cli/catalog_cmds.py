"""`stickyctl explain CODE` and `stickyctl checks`: the check catalog, read from the command line.

Both print only what ``stickyctl.catalog`` holds, so the terminal, the JSON and the docs pages
(scripts/gen_docs.py) can never disagree about a code.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from stickyctl.catalog import CATALOG, RETIRED, CheckSpec
from stickyctl.cli import env as envmod
from stickyctl.exitcodes import ExitStatus

CHECKS_COLUMNS_MIN_WIDTH = 120


class ExplainFormat(str, Enum):
    text = "text"
    json = "json"
    yaml = "yaml"


class ChecksFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


def find_spec(code_or_name: str) -> CheckSpec | None:
    """A code in any case (``stk0301``) or a kebab name (``route-without-session-config``)."""
    wanted = code_or_name.strip()
    spec = CATALOG.get(wanted.upper())
    if spec is not None:
        return spec
    lowered = wanted.lower()
    return next((s for s in CATALOG.values() if s.name == lowered), None)


def spec_document(spec: CheckSpec) -> dict[str, Any]:
    """One catalog entry as data; keys named as in a finding's JSON (``remediation``, ``docs_url``)."""
    return {
        "code": spec.code,
        "name": spec.name,
        "severity": spec.severity.value,
        "scope": spec.scope,
        "title": spec.title,
        "what": spec.what,
        "why": spec.why,
        "remediation": spec.fix,
        "docs_url": spec.docs_url,
    }


def explain_markdown(spec: CheckSpec) -> str:
    """The body of `stickyctl explain` below its heading line."""
    return (
        f"**{spec.title}**\n\n"
        f"Severity: **{spec.severity.value}** · applies to: {spec.scope}\n\n"
        f"## What it does\n\n{spec.what}\n\n"
        f"## Why it breaks sessions\n\n{spec.why}\n\n"
        f"## How to fix\n\n{spec.fix}\n\n"
        f"Docs: {spec.docs_url}\n"
    )


def register(app: typer.Typer) -> None:
    from stickyctl.cli.help import Command

    app.command("explain", cls=Command)(explain)
    app.command("checks", cls=Command)(checks)


def explain(
    code: Annotated[
        str, typer.Argument(metavar="CODE", help="A check code (STK0301, any case) or its name.")
    ],
    output: Annotated[
        ExplainFormat, typer.Option("--output", "-o", metavar="FORMAT", help="text | json | yaml.")
    ] = ExplainFormat.text,
) -> None:
    """Explain a check code: what it looks at, why it breaks sessions, how to fix it."""
    env = envmod.current()
    spec = find_spec(code)
    if spec is None:
        retired = RETIRED.get(code.strip().upper())
        if retired is not None:
            env.error(f"check code {code.strip().upper()!r} was retired: {retired}")
        else:
            env.error(f"unknown check code {code!r} (see 'stickyctl checks')")
        raise typer.Exit(int(ExitStatus.USAGE))

    if output is not ExplainFormat.text:
        _write_machine(spec_document(spec), output.value)
        return

    from rich.markdown import Markdown
    from rich.text import Text

    console = env.console()
    # rich centres a Markdown h1; the heading is printed as plain bold text so it lines up.
    console.print(Text(f"{spec.code} · {spec.name}", style="bold"))
    console.print()
    console.print(Markdown(explain_markdown(spec)))


def checks(
    output: Annotated[
        ChecksFormat, typer.Option("--output", "-o", metavar="FORMAT", help="table | json | yaml.")
    ] = ChecksFormat.table,
) -> None:
    """List every check code stickyctl can report."""
    env = envmod.current()
    specs = sorted(CATALOG.values(), key=lambda s: s.code)
    if output is not ChecksFormat.table:
        _write_machine([spec_document(s) for s in specs], output.value)
        return

    from rich import box
    from rich.table import Table
    from rich.text import Text

    from stickyctl.report.table import SEVERITY_STYLE

    console = env.console()
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False, expand=True)
    table.add_column("CODE", no_wrap=True)
    table.add_column("SEVERITY", no_wrap=True)
    # Names are identifiers to copy, never to be folded: below CHECKS_COLUMNS_MIN_WIDTH the title
    # goes under the name instead of squeezing both.
    stacked = console.width < CHECKS_COLUMNS_MIN_WIDTH
    if stacked:
        table.add_column("NAME / TITLE", overflow="fold")
    else:
        table.add_column("NAME", no_wrap=True)
        table.add_column("TITLE", overflow="fold")
    for s in specs:
        severity = Text(s.severity.value, style=SEVERITY_STYLE[s.severity])
        if stacked:
            table.add_row(Text(s.code), severity, Text.assemble((s.name, "bold"), "\n", s.title))
        else:
            table.add_row(Text(s.code), severity, Text(s.name), Text(s.title))
    console.print(table)
    hint = "Run 'stickyctl explain CODE' for what a check looks at and how to fix it."
    console.print(Text(hint, style="dim"))


def _write_machine(document: Any, fmt: str) -> None:
    from stickyctl.report.machine import to_json, to_yaml

    env = envmod.current()
    env.write(to_json(document) if fmt == "json" else to_yaml(document))
