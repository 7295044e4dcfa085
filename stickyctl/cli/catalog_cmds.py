"""`stickyctl explain CODE` and `stickyctl checks`: the check catalog, read from the command line.

Both print only what ``stickyctl.catalog`` holds, so the terminal, the JSON and the docs pages
(scripts/gen_docs.py) can never disagree about a code.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from stickyctl.catalog import CATALOG, RETIRED, CheckSpec
from stickyctl.cli.formats import OutputFormat, TableOrDocument, TextOrDocument, write_document
from stickyctl.environment import Environment
from stickyctl.exitcodes import ExitStatus

CHECKS_COLUMNS_MIN_WIDTH = 120


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
    ctx: typer.Context,
    code: Annotated[
        str, typer.Argument(metavar="CODE", help="A check code (STK0301, any case) or its name.")
    ],
    output: Annotated[
        TextOrDocument, typer.Option("--output", "-o", metavar="FORMAT", help="text | json | yaml.")
    ] = OutputFormat.TEXT,
) -> None:
    """Explain a check code: what it looks at, why it breaks sessions, how to fix it."""
    env = ctx.ensure_object(Environment)
    spec = find_spec(code)
    if spec is None:
        retired = RETIRED.get(code.strip().upper())
        if retired is not None:
            env.error(f"check code {code.strip().upper()!r} was retired: {retired}")
        else:
            env.error(f"unknown check code {code!r} (see 'stickyctl checks')")
        raise typer.Exit(int(ExitStatus.USAGE))

    if output is not OutputFormat.TEXT:
        write_document(env, spec_document(spec), output)
        return

    from rich.markdown import Markdown
    from rich.text import Text

    console = env.console()
    # rich centres a Markdown h1; the heading is printed as plain bold text so it lines up.
    console.print(Text(f"{spec.code} · {spec.name}", style="bold"))
    console.print()
    console.print(Markdown(explain_markdown(spec)))


def checks(
    ctx: typer.Context,
    output: Annotated[
        TableOrDocument, typer.Option("--output", "-o", metavar="FORMAT", help="table | json | yaml.")
    ] = OutputFormat.TABLE,
) -> None:
    """List every check code stickyctl can report."""
    env = ctx.ensure_object(Environment)
    specs = sorted(CATALOG.values(), key=lambda s: s.code)
    if output is not OutputFormat.TABLE:
        write_document(env, [spec_document(s) for s in specs], output)
        return

    import textwrap

    from rich.text import Text

    from stickyctl.report.table import SEVERITY_STYLE

    console = env.console()
    code_w = max(len("CODE"), *(len(s.code) for s in specs))
    sev_w = max(len("SEVERITY"), *(len(s.severity.value) for s in specs))
    name_w = max(len("NAME"), *(len(s.name) for s in specs))
    indent = code_w + 2 + sev_w + 2
    # Names are identifiers to copy: never folded. Below CHECKS_COLUMNS_MIN_WIDTH the title goes
    # under the name (wrapped between words) instead of squeezing both into one row.
    stacked = console.width < CHECKS_COLUMNS_MIN_WIDTH
    names = "NAME / TITLE" if stacked else f"{'NAME':<{name_w}}  TITLE"
    header = f"{'CODE':<{code_w}}  {'SEVERITY':<{sev_w}}  {names}"
    console.print(Text(header, style="bold"), soft_wrap=True)
    title_at = indent if stacked else indent + name_w + 2
    for s in specs:
        lead = Text.assemble((f"{s.code:<{code_w}}", ""), "  ",
                             (f"{s.severity.value:<{sev_w}}", SEVERITY_STYLE[s.severity]), "  ")
        title = textwrap.wrap(s.title, max(console.width - title_at, 30), break_long_words=False)
        if stacked:
            console.print(Text.assemble(lead, (s.name, "bold")), soft_wrap=True)
            rest = title
        else:
            console.print(Text.assemble(lead, (f"{s.name:<{name_w}}", "bold"), "  ", title[0]), soft_wrap=True)
            rest = title[1:]
        for part in rest:
            console.print(Text(" " * title_at + part), soft_wrap=True)
    console.print()
    console.print(Text.assemble("What a check looks at and how to fix it: ", ("stickyctl explain CODE", "bold")),
                  soft_wrap=True)

