"""The human formats, `-o table` (default) and `-o wide`: one block per finding, grouped by proxy.

Modelled on `istioctl analyze` and ruff: each finding is a block of severity, code and the resource
it names (whole), then the message (which does not repeat the resource), then a ``fix:`` line; the
run closes with a summary and a hint to `stickyctl explain CODE`. Lines are wrapped between words
only: an identifier (a cluster name, a resource id, a URL) is never cut; a line that cannot hold it
runs past the edge instead, so it still copies and greps whole. `-o wide` adds the canonical
resource id (what `--suppress` matches), the finding's details and the docs URL to each block.

Everything the user typed or Envoy reported (messages, names, ids) goes through ``rich.text.Text``,
never console markup: a message quoting ``typed_per_filter_config["…"]`` must print as written.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import fields

from rich.console import Console
from rich.text import Text

from stickyctl.catalog import Severity
from stickyctl.exitcodes import INPUT_CODES
from stickyctl.findings import Finding, Resource
from stickyctl.report.model import CheckReport, ProxySummary

SEVERITY_STYLE: dict[Severity, str] = {
    Severity.ERROR: "bold red",
    Severity.WARNING: "yellow",
    Severity.INFO: "cyan",
}

_SEVERITY_WIDTH = max(len(s.value) for s in Severity)
"""Severities are padded to one width so that codes line up from block to block."""

INDENT = "  "

PROSE_WIDTH = 100
"""Messages and fixes wrap at the terminal's width, but at most here: lines of 200 characters are
hard to read (click's help stops at 80 for the same reason)."""

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


def render_table(report: CheckReport, console: Console, *, wide: bool = False, inputs_on_stderr: bool = False) -> None:
    """Print ``report`` for a person: one group per proxy, then findings tied to no proxy, then
    what could not be checked, then the closing summary.

    ``inputs_on_stderr``: the inputs that could not be read (STK0001/STK0002) were already
    reported on stderr, one line each; they are counted in the summary but not shown again.
    """
    shown = [f for f in report.findings if not (inputs_on_stderr and f.code in INPUT_CODES)]
    if inputs_on_stderr and not report.proxies and not shown:
        # Nothing was checked and every error is on stderr already: a report of zeros says nothing.
        return
    width = console.width
    prose = min(width, PROSE_WIDTH)
    by_proxy, unattached = _group(shown)

    for proxy in report.proxies:
        # pop: two summaries with one name (the same proxy dumped twice) must not list its findings twice.
        _print_group(console, _proxy_heading(proxy, width), by_proxy.pop(proxy.name, []), wide=wide, in_proxy=True)
    # A proxy named by a finding but absent from the summaries (e.g. one that could not be fetched).
    for name in sorted(by_proxy):
        _print_group(console, [_unknown_proxy_heading(name)], by_proxy[name], wide=wide, in_proxy=True)
    if unattached:
        heading = [Text("Services, objects and inputs", style="bold")]
        _print_group(console, heading, unattached, wide=wide, in_proxy=False)

    notes = list(report.not_checked)
    if report.proxies and not report.labels_checked and not any(n.startswith(LABEL_NOTE) for n in notes):
        notes.append(f"{LABEL_NOTE}: no --services given")
    for note in notes:
        _print_lines(console, _wrap(note, prose, first="not checked: ", rest=INDENT), style=("bold yellow", "yellow"))
    if notes:
        console.print()
    for line in closing_lines(report, shown):
        console.print(line, soft_wrap=True)


LABEL_NOTE = "label agreement"


def closing_lines(report: CheckReport, shown: Sequence[Finding] | None = None) -> list[Text]:
    """What was checked, what was found, and where to read more (ruff's closing lines).

    ``shown``: the findings printed as blocks (default: all); the others were reported on stderr.
    """
    shown = report.findings if shown is None else shown
    hidden_inputs = len(report.findings) - len(shown)
    listeners = sum(p.listeners for p in report.proxies)
    routes = sum(p.routes for p in report.proxies)
    sticky_routes = sum(p.sticky_routes for p in report.proxies)
    scope = Text(
        f"Checked {_count(len(report.proxies), 'proxy', 'proxies')}: {_count(listeners, 'listener')}, "
        f"{_count(routes, 'route')} ({sticky_routes} sticky), {_count(len(report.sticky_services), 'sticky Service')}."
    )
    counts = report.counts()
    found = [_count(counts[s.value], s.value) if s is not Severity.INFO else f"{counts[s.value]} info"
             for s in Severity if counts[s.value]]
    if found:
        outcome = Text.assemble(("Found ", "bold"), (", ".join(found), "bold"))
    else:
        outcome = Text("No findings", style="bold green")
    extras = []
    if hidden_inputs:
        # A file is an input; an admin URL or a pod is a target (STK0001's words).
        files = sum(1 for f in report.findings if f.code in INPUT_CODES and f.resource.file is not None)
        noun = "input" if files == hidden_inputs else "target" if not files else "input or target"
        noun = noun if hidden_inputs == 1 else {"input": "inputs", "target": "targets"}.get(noun, "inputs or targets")
        errors = "errors" if hidden_inputs > 1 else "error"
        extras.append(f"{hidden_inputs} {noun} not read: see the {errors} above")
    if report.suppressed:
        extras.append(f"{len(report.suppressed)} suppressed")
    if extras:
        outcome.append(f" ({'; '.join(extras)})")
    outcome.append(".")
    lines = [scope, outcome]
    codes = sorted({f.code for f in shown}, key=lambda c: (-_rank(shown, c), c))
    if codes:
        hint = Text.assemble("Why and how to fix: ", (f"stickyctl explain {codes[0]}", "bold"))
        if len(codes) > 1:
            hint.append(" (or any code above)")
        lines.append(hint)
    return lines


def _rank(findings: Sequence[Finding], code: str) -> int:
    return max(f.severity.rank for f in findings if f.code == code)


def summary_line(report: CheckReport) -> str:
    """``1 proxy, 3 listeners, 2 routes (1 sticky), 1 sticky Service: 1 error, 0 warnings, 1 info``:
    the one-line summary of `-o github` (grep-able in a CI log)."""
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
        return f"file {file}" if file is not None else "-"
    innermost = next(name for name in reversed(_RESOURCE_FIELDS) if name in parts)
    label = _KIND_LABEL[innermost]
    names = "/".join(parts.values())
    text = f"{label} {names}" if label else names
    # Within a proxy the file is the dump the proxy came from; elsewhere it is where the object is.
    if file is not None and not in_proxy:
        text += f" ({file})"
    return text


# --- the message without the resource --------------------------------------------------------------


def _mentions(resource: Resource) -> list[tuple[str, str]]:
    """How a message may spell the resource a finding names, with the words that stand for it once
    it is named by the block's heading: (spelling, "this <kind>"), longest spelling first."""
    out: list[tuple[str, str]] = []
    if resource.cluster is not None:
        out.append((f"cluster {resource.cluster}", "this cluster"))
    if resource.listener is not None:
        if resource.filter_chain is not None:
            out.append((f"listener {resource.listener} filter chain {resource.filter_chain}", "this filter chain"))
        out.append((f"listener {resource.listener}", "this listener"))
    if resource.service is not None:
        for kind in ("ServiceEntry", "Service"):
            out.append((f"{kind} {resource.service}", f"this {kind}"))
    if resource.object is not None:
        kind, _, rest = resource.object.partition("/")
        out.append((resource.object, f"this {kind}"))
        if rest:
            out.append((f"{kind} {rest}", f"this {kind}"))
    for whole in (resource.target, resource.file):
        if whole is not None:
            out.append((whole, "this input"))
            # "--services svc.yaml: no such file": the option goes with the file it named.
            out.extend((f"{option} {whole}", "this input") for option in ("--services", "--istiod"))
    return sorted(out, key=lambda m: -len(m[0]))


_AFTER = re.compile(r"(?=$|[\s:,;)])")


def message_text(finding: Finding) -> str:
    """The finding's message for a block whose heading already names the resource.

    Messages are written to stand alone (JSON, SARIF and GitHub annotations show them without a
    heading), so most start with the resource: ``cluster outbound|…: override_host_status is
    unset``. Here that lead-in is dropped (``override_host_status is unset``); a mention inside
    the sentence becomes "this cluster", "this Deployment", …
    """
    message = finding.message
    for spelled, this in _mentions(finding.resource):
        if not message.startswith(spelled) and f" {spelled}" not in message:
            continue
        if message.startswith(spelled) and _AFTER.match(message, len(spelled)):
            rest = message[len(spelled):]
            if rest.startswith(": "):
                return rest[2:]
            paren = re.match(r" \(([^()]*)\): (.*)", rest, re.DOTALL)
            if paren:  # "listener L (in the update Envoy rejected): …"
                return f"{paren.group(1)}: {paren.group(2)}"
            if rest.startswith(" ") and rest[1:2].islower():  # "Service a/b has both labels …"
                return rest[1:]
            if not rest:
                return message
        at = message.find(f" {spelled}")
        while at >= 0:
            end = at + 1 + len(spelled)
            if _AFTER.match(message, end):
                return f"{message[:at]} {this}{message[end:]}"
            at = message.find(f" {spelled}", at + 1)
    return message


# --- blocks ------------------------------------------------------------------------------------------


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


def _proxy_heading(proxy: ProxySummary, width: int) -> list[Text]:
    """``proxy NAME  router · Istio 1.24.0 · Envoy 1.40.0`` on one line when it fits, else the
    facts go on a line of their own (a heading is never wrapped mid-way)."""
    name = Text.assemble(("proxy ", "bold"), (proxy.name, "bold"))
    facts = f"{proxy.kind} · Istio {proxy.istio_version or 'unknown'} · Envoy {proxy.envoy_version or 'unknown'}"
    if len(name) + 2 + len(facts) <= width:
        return [Text.assemble(name, (f"  {facts}", "dim"))]
    return [name, Text(INDENT + facts, style="dim")]


def _unknown_proxy_heading(name: str) -> Text:
    return Text.assemble(("proxy ", "bold"), (name, "bold"), ("  not loaded", "dim"))


def _print_group(console: Console, heading: list[Text], findings: Sequence[Finding], *, wide: bool,
                 in_proxy: bool) -> None:
    for line in heading:
        console.print(line, soft_wrap=True)
    if not findings:
        console.print(Text(INDENT + "no findings", style="green"))
    for finding in _order(findings):
        console.print()
        print_finding(console, finding, wide=wide, in_proxy=in_proxy)
    console.print()


def print_finding(console: Console, finding: Finding, *, wide: bool, in_proxy: bool) -> None:
    """One finding's block: severity, code and resource, the message, the fix (`-o wide`: id, details, docs).
    ``in_proxy``: under its proxy's heading, so the resource is named without the proxy."""
    # One print per finding, its lines joined: rich's per-call work (console size, terminal checks,
    # the render lock) once instead of once a line: 10,000 findings printed in 5.3 s instead of 9.1 s.
    console.print(Text("\n").join(finding_lines(finding, console.width, wide=wide, in_proxy=in_proxy)),
                  soft_wrap=True)


def finding_lines(finding: Finding, width: int, *, wide: bool, in_proxy: bool) -> list[Text]:
    """The lines of ``print_finding``'s block, for a terminal ``width`` columns wide."""
    prose = min(width, PROSE_WIDTH)
    severity = Text(finding.severity.value.ljust(_SEVERITY_WIDTH), style=SEVERITY_STYLE[finding.severity])
    lead = Text.assemble(severity, " ", (finding.code, "bold"), " ")
    resource = short_resource(finding.resource, in_proxy=in_proxy)
    lines: list[Text] = []
    if len(lead) + len(resource) <= width:
        lines.append(Text.assemble(lead, resource))
    else:
        # The resource on a line of its own has the most room; beyond that it runs past the edge.
        lead.rstrip()
        lines += [lead, Text(INDENT + resource)]
    lines += _styled(_wrap(message_text(finding), prose, first=INDENT, rest=INDENT))
    lines += _styled(_wrap(finding.spec.fix, prose, first=INDENT + "fix: ", rest=INDENT + "     "), ("bold", ""))
    if wide:
        lines.append(Text.assemble((INDENT + "id: ", "bold"), finding.resource_id))
        for key, value in sorted(finding.details.items()):
            lines += _styled(_wrap(f"{key}={value}", prose, first=INDENT + "detail: ", rest=INDENT + "        "),
                             ("bold", ""))
        lines.append(Text.assemble((INDENT + "docs: ", "bold"), (finding.spec.docs_url, "dim")))
    return lines


def _wrap(text: str, width: int, *, first: str, rest: str) -> list[tuple[str, str]]:
    """``text`` wrapped to ``width`` between words only, as (prefix, line) pairs. A word longer than
    a line (an id, a URL) keeps a line of its own and runs past the edge rather than being cut."""
    # A `code span` (a command to copy, `--set values.pilot.env.X=true`) stays on one line.
    protected = _CODE_SPAN.sub(lambda m: m.group(0).replace(" ", _NBSP), text)
    lines = textwrap.wrap(protected, width=max(width, len(first) + 20), initial_indent=first,
                          subsequent_indent=rest, break_long_words=False, break_on_hyphens=False) or [first]
    return [(first if i == 0 else rest, line[len(first if i == 0 else rest):].replace(_NBSP, " "))
            for i, line in enumerate(lines)]


_CODE_SPAN = re.compile(r"`[^`]+`")
_NBSP = "\u00a0"  # textwrap breaks at ASCII whitespace only


def _styled(lines: list[tuple[str, str]], style: tuple[str, str] = ("", "")) -> list[Text]:
    return [Text.assemble((prefix, style[0]), (body, style[1])) for prefix, body in lines]


def _print_lines(console: Console, lines: list[tuple[str, str]], *, style: tuple[str, str] = ("", "")) -> None:
    for line in _styled(lines, style):
        console.print(line, soft_wrap=True)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"
