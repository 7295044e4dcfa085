"""`-o FORMAT`: pick the renderer for a ``CheckReport``.

One module per format; this module only maps format names to them. A new format is a module with
a function from ``CheckReport`` to text (or a ``Renderer``) and one line in ``_RENDERERS``.
Machine formats are written with ``Environment.write`` (never rich) so they stay byte-stable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from stickyctl.errors import UsageError
from stickyctl.report.model import CheckReport

if TYPE_CHECKING:
    from stickyctl.environment import Environment


class Renderer(Protocol):
    def __call__(self, report: CheckReport, env: Environment, query: str | None) -> None: ...


QUERYABLE = ("json", "yaml")
"""Formats whose document `--query` (JMESPath) applies to."""


def printable_report(report: CheckReport) -> CheckReport:
    """``report`` with control characters in names and messages escaped, for the formats a terminal
    or CI log shows as text (table, wide, github): a listener named ``"\\x1b[2J"`` in a dump from a
    cluster must not clear the screen of whoever reads the report. JSON, YAML, SARIF and JUnit
    escape such characters themselves."""
    import dataclasses

    import msgspec.structs

    from stickyctl.findings import Finding, Resource
    from stickyctl.sanitize import printable

    texts = [n for n in report.not_checked]
    for f in report.findings:
        texts.append(f.message)
        texts.extend(v for v in f.resource.as_dict().values())
        texts.extend(f.details.values())
    for p in report.proxies:
        texts.extend([p.name, p.node_id or "", *p.sources])
    texts.extend(f"{s.id}{s.name}" for s in report.sticky_services)
    if all(t.isprintable() for t in texts):
        return report

    def resource(r: Resource) -> Resource:
        return Resource(**{k: printable(v) for k, v in r.as_dict().items()})

    def finding(f: Finding) -> Finding:
        return Finding(f.code, printable(f.message), resource(f.resource),
                       {k: printable(v) for k, v in f.details.items()})

    return dataclasses.replace(
        report,
        findings=tuple(finding(f) for f in report.findings),
        suppressed=tuple(finding(f) for f in report.suppressed),
        proxies=tuple(dataclasses.replace(p, name=printable(p.name), node_id=p.node_id and printable(p.node_id),
                                          sources=tuple(printable(s) for s in p.sources)) for p in report.proxies),
        sticky_services=tuple(msgspec.structs.replace(s, id=printable(s.id), name=printable(s.name))
                              for s in report.sticky_services),
        not_checked=tuple(printable(n) for n in report.not_checked),
    )


def _table(report: CheckReport, env: Environment, query: str | None) -> None:
    from stickyctl.report.table import render_table

    render_table(printable_report(report), env.console(), wide=False)


def _wide(report: CheckReport, env: Environment, query: str | None) -> None:
    from stickyctl.report.table import render_table

    render_table(printable_report(report), env.console(), wide=True)


def _json(report: CheckReport, env: Environment, query: str | None) -> None:
    from stickyctl.report.machine import to_json_utf8

    env.write_utf8(to_json_utf8(report.encodable_document() if query is None else _document(report, query)), b"\n")


def _yaml(report: CheckReport, env: Environment, query: str | None) -> None:
    from stickyctl.report.machine import to_yaml

    env.write(to_yaml(_document(report, query)))


def _sarif(report: CheckReport, env: Environment, query: str | None) -> None:
    from stickyctl.report.sarif import to_sarif_utf8

    env.write_utf8(to_sarif_utf8(report), b"\n")


def _junit(report: CheckReport, env: Environment, query: str | None) -> None:
    from stickyctl.report.junit import to_junit

    env.write(to_junit(report))


def _github(report: CheckReport, env: Environment, query: str | None) -> None:
    from stickyctl.report.github import to_github

    env.write(to_github(printable_report(report)))


def _document(report: CheckReport, query: str | None) -> object:
    document = report.document()
    if query is None:
        return document
    from stickyctl.report.machine import apply_query

    return apply_query(document, query)


_RENDERERS: dict[str, Renderer] = {
    "table": _table,
    "wide": _wide,
    "json": _json,
    "yaml": _yaml,
    "sarif": _sarif,
    "junit": _junit,
    "github": _github,
}

FORMATS: tuple[str, ...] = tuple(_RENDERERS)
"""Every `-o` value, in the order `--help` lists them."""

MACHINE_FORMATS: frozenset[str] = frozenset(FORMATS) - {"table", "wide"}
"""Formats whose stdout is the document alone: nothing else may be printed there."""


def render(report: CheckReport, fmt: str, env: Environment, *, query: str | None = None,
           inputs_on_stderr: bool = False) -> None:
    """Print ``report`` as ``fmt``. ``inputs_on_stderr``: the inputs that could not be read were
    reported on stderr already (`check` does so): the human formats then do not show them twice."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise UsageError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})")
    if query is not None and fmt not in QUERYABLE:
        raise UsageError(f"--query needs -o {' or -o '.join(QUERYABLE)}, not -o {fmt}")
    if fmt in ("table", "wide"):
        from stickyctl.report.table import render_table

        render_table(printable_report(report), env.console(), wide=fmt == "wide", inputs_on_stderr=inputs_on_stderr)
        return
    renderer(report, env, query)
