"""`-o github`: GitHub Actions workflow commands, one annotation per finding, then a plain summary.

GitHub shows at most 10 annotations of each level per step, so every finding is also listed on a
plain line (one each, never split, never starting with ``::``) followed by the table's summary line.
Escaping follows the runner's (actions/toolkit ``command.ts``): in the message ``%``, CR and LF; in
property values also ``:`` and ``,``. Without that, a message with a newline could end the
annotation early and start a command of its own.
"""

from __future__ import annotations

from stickyctl.catalog import Severity
from stickyctl.findings import Finding
from stickyctl.report.artifacts import FindingFiles, finding_files
from stickyctl.report.model import CheckReport
from stickyctl.report.table import summary_line

COMMANDS: dict[Severity, str] = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def annotation(report: CheckReport, finding: Finding, files_of: FindingFiles | None = None) -> str:
    props: dict[str, str] = {}
    files = files_of(finding) if files_of is not None else finding_files(report, finding)
    if files:
        props["file"] = files[0]
    props["title"] = f"{finding.code} {finding.spec.name}"
    message = f"{finding.message}\n{finding.resource_id}\nFix: {finding.spec.fix}\n{finding.spec.docs_url}"
    return command(COMMANDS[finding.severity], message, **props)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def to_github(report: CheckReport) -> str:
    files_of = FindingFiles(report)
    lines = [annotation(report, f, files_of) for f in report.findings]
    lines += [command("warning", note, title="stickyctl: not checked") for note in report.not_checked]
    lines += [
        _one_line(f"{f.code} {f.severity.value} {f.resource_id}: {f.message}") for f in report.findings
    ]
    lines += [_one_line(f"not checked: {note}") for note in report.not_checked]
    lines.append(_one_line(summary_line(report)))
    if not report.labels_checked:
        lines.append("label agreement not checked: no --services given")
    return "\n".join(lines) + "\n"
