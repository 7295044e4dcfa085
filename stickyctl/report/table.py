"""The human formats, `-o table` (default) and `-o wide`: findings grouped by proxy, rendered with rich.

Everything the user typed or Envoy reported (messages, names, ids) goes through ``rich.text.Text``,
never console markup: a message quoting ``typed_per_filter_config["…"]`` must print as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from stickyctl.catalog import Severity
from stickyctl.findings import Finding, Resource
from stickyctl.report.model import CheckReport, ProxySummary

SEVERITY_STYLE: dict[Severity, str] = {
    Severity.ERROR: "bold red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
}

WIDE_COLUMNS_MIN_WIDTH = 140
"""Below this console width `-o wide` stacks remediation and docs URL under the message instead of
giving them columns of their own: six columns in 80 would fold every cell into a ribbon."""

_KIND_LABEL: dict[str, str] = {
    "file": "file",
    "target": "target",
    "proxy": "proxy",
    "listener": "listener",
    "filter_chain": "filter chain",
    "route_config": "route config",
    "virtual_host": "virtual host",
    "route": "route",
    "cluster": "cluster",
    "service": "Service",
    "object": "",
}
"""How the innermost field of a resource is named in the short form; ``object`` values already
start with their Kind (``Deployment/default/hello``)."""

_RESOURCE_FIELDS = tuple(f.name for f in fields(Resource))


def render_table(report: CheckReport, console: Console, *, wide: bool = False) -> None:
    """Print ``report`` for a person: one group per proxy, then findings tied to no proxy, then
    what could not be checked, then a one-line summary."""
    by_proxy, unattached = _group(report.findings)

    for proxy in report.proxies:
        # pop: two summaries with one name (the same proxy dumped twice) must not list its findings twice.
        _print_group(console, _proxy_heading(proxy), by_proxy.pop(proxy.name, []), wide=wide, in_proxy=True)
    # A proxy named by a finding but absent from the summaries (e.g. one that could not be fetched).
    for name in sorted(by_proxy):
        _print_group(console, _unknown_proxy_heading(name), by_proxy[name], wide=wide, in_proxy=True)
    if unattached:
        heading = Text("Services, objects and inputs", style="bold")
        _print_group(console, heading, unattached, wide=wide, in_proxy=False)

    if not report.findings:
        console.print(Text("No findings.", style="green"))
    for note in report.not_checked:
        console.print(Text.assemble(("not checked: ", "bold yellow"), (note, "yellow")))
    if report.findings or report.not_checked:
        console.print()
    # One line whatever the width, so CI logs can be grepped for it; the terminal wraps it if it must.
    console.print(Text(summary_line(report)), soft_wrap=True)
    if not report.labels_checked:
        console.print(Text("label agreement not checked: no --services given", style="yellow"))


def summary_line(report: CheckReport) -> str:
    """``1 proxy, 3 listeners, 2 routes (1 sticky), 1 sticky Service: 1 error, 0 warnings, 1 info``."""
    listeners = sum(p.listeners for p in report.proxies)
    routes = sum(p.routes for p in report.proxies)
    sticky_routes = sum(p.sticky_routes for p in report.proxies)
    scope = ", ".join(
        (
            _count(len(report.proxies), "proxy", "proxies"),
            _count(listeners, "listener"),
            f"{_count(routes, 'route')} ({sticky_routes} sticky)",
            _count(len(report.sticky_services), "sticky Service"),
        )
    )
    counts = report.counts()
    if report.findings:
        outcome = ", ".join(
            (
                _count(counts[Severity.ERROR.value], "error"),
                _count(counts[Severity.WARNING.value], "warning"),
                f"{counts[Severity.INFO.value]} info",
            )
        )
    else:
        outcome = "no findings"
    if report.suppressed:
        outcome += f" ({len(report.suppressed)} suppressed)"
    return f"{scope}: {outcome}"


def short_resource(resource: Resource, *, in_proxy: bool) -> str:
    """The resource named for a reader who already knows the proxy: the innermost kind, then the
    names from outermost in, e.g. ``route http.8080/hello.example.com:80/default``.

    The canonical ``Resource.id`` (shown by `-o wide`) stays the one to copy into ``--suppress``."""
    parts = resource.as_dict()
    file = parts.pop("file", None)
    if in_proxy:
        parts.pop("proxy", None)
    if not parts:
        if in_proxy:
            return "proxy"
        return file if file is not None else "-"
    innermost = next(name for name in reversed(_RESOURCE_FIELDS) if name in parts)
    label = _KIND_LABEL[innermost]
    names = "/".join(parts.values())
    text = f"{label} {names}" if label else names
    # Within a proxy the file is the dump the proxy came from; elsewhere it is where the object is.
    if file is not None and not in_proxy:
        text += f" ({file})"
    return text


def _group(findings: Iterable[Finding]) -> tuple[dict[str, list[Finding]], list[Finding]]:
    by_proxy: dict[str, list[Finding]] = {}
    unattached: list[Finding] = []
    for finding in findings:
        if finding.resource.proxy is None:
            unattached.append(finding)
        else:
            by_proxy.setdefault(finding.resource.proxy, []).append(finding)
    return by_proxy, unattached


def _order(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by code and resource: stable across runs whatever the input order."""
    return sorted(findings, key=lambda f: (-f.severity.rank, f.code, f.resource_id, f.message))


def _proxy_heading(proxy: ProxySummary) -> Text:
    return Text.assemble(
        ("proxy ", "bold"),
        (proxy.name, "bold"),
        (f"  {proxy.kind}", "dim"),
        (f" · Istio {proxy.istio_version or 'unknown'} · Envoy {proxy.envoy_version or 'unknown'}", "dim"),
    )


def _unknown_proxy_heading(name: str) -> Text:
    return Text.assemble(("proxy ", "bold"), (name, "bold"), ("  not loaded", "dim"))


def _print_group(
    console: Console, heading: Text, findings: Sequence[Finding], *, wide: bool, in_proxy: bool
) -> None:
    heading.overflow = "fold"
    console.print(heading)
    if findings:
        console.print(_findings_table(_order(findings), console.width, wide=wide, in_proxy=in_proxy))
    else:
        console.print(Text("  no findings", style="green"))
    console.print()


def _findings_table(findings: Sequence[Finding], width: int, *, wide: bool, in_proxy: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, expand=True, show_edge=False)
    table.add_column("SEVERITY", no_wrap=True)
    table.add_column("CODE", no_wrap=True)
    if not wide:
        table.add_column("RESOURCE", overflow="fold", ratio=2)
        table.add_column("MESSAGE", overflow="fold", ratio=3)
        for f in findings:
            table.add_row(
                _severity(f),
                Text(f.code),
                Text(short_resource(f.resource, in_proxy=in_proxy)),
                Text(f.message),
            )
        return table

    if width >= WIDE_COLUMNS_MIN_WIDTH:
        table.add_column("RESOURCE", overflow="fold", ratio=3)
        table.add_column("MESSAGE", overflow="fold", ratio=3)
        table.add_column("REMEDIATION", overflow="fold", ratio=3)
        table.add_column("DOCS", no_wrap=True)
        for f in findings:
            table.add_row(
                _severity(f),
                Text(f.code),
                Text(f.resource_id),
                Text(f.message),
                Text(f.spec.fix),
                Text(f.spec.docs_url),
            )
        return table

    table.add_column("RESOURCE / MESSAGE / REMEDIATION", overflow="fold", ratio=1)
    for f in findings:
        stacked: list[RenderableType] = [
            Text(f.resource_id, style="dim"),
            Text(f.message),
            Text.assemble(("fix: ", "bold"), f.spec.fix),
            Text(f.spec.docs_url, style="dim"),
        ]
        table.add_row(_severity(f), Text(f.code), Group(*stacked))
    return table


def _severity(finding: Finding) -> Text:
    return Text(finding.severity.value, style=SEVERITY_STYLE[finding.severity])


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"
