"""`-o sarif`: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

One rule per catalog code (the catalog's prose is the rule's help, as ruff publishes its rule docs),
one result per finding. A config dump has no useful line numbers, so a result points at the dump
file (whole-file region) when the finding came from a file, and always carries logical locations
(proxy, listener, filter chain, route, cluster, Service, object) that name the resource exactly as
``resource_id`` does. ``partialFingerprints`` is a hash of code and ``resource_id`` alone, so the
same finding is the same alert in every run, whatever the message wording or file name.

Byte-stable: no timestamps, keys sorted, results in the report's order.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from stickyctl import __version__
from stickyctl.catalog import CATALOG, CheckSpec, Severity
from stickyctl.exitcodes import ExitStatus
from stickyctl.findings import Finding, Resource
from stickyctl.report.artifacts import FindingFiles, finding_files
from stickyctl.report.model import CheckReport

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://stickyctl.dev/"
FINGERPRINT_KEY = "stickyctlFinding/v1"
"""Bump the suffix only if the hashed string changes: code scanning matches alerts on it."""
SRCROOT = "%SRCROOT%"

LEVELS: dict[Severity, str] = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}



def fingerprint(finding: Finding) -> str:
    return hashlib.sha256(f"{finding.code}\x00{finding.resource_id}".encode()).hexdigest()


def rule(spec: CheckSpec) -> dict[str, Any]:
    tags = ["sticky-sessions", spec.scope]
    if spec.code.startswith("STK06"):
        tags.append("security")
    return {
        "id": spec.code,
        "name": spec.name,
        "shortDescription": {"text": spec.title},
        "fullDescription": {"text": spec.what, "markdown": spec.what},
        "help": {
            "text": f"{spec.what}\n\nWhy: {spec.why}\n\nFix: {spec.fix}\n\nSee {spec.docs_url}",
            "markdown": (
                f"## What it does\n\n{spec.what}\n\n## Why it breaks sessions\n\n{spec.why}\n\n"
                f"## How to fix\n\n{spec.fix}\n\n[{spec.code} documentation]({spec.docs_url})"
            ),
        },
        "helpUri": spec.docs_url,
        "defaultConfiguration": {"level": LEVELS[spec.severity]},
        "properties": {"tags": tags},
    }


def artifact_location(path: str) -> dict[str, str]:
    return dict(_artifact_location(path))


@functools.lru_cache(maxsize=256)
def _artifact_location(path: str) -> dict[str, str]:
    # A report names a few files, tens of thousands of times: each is resolved once (copied out).
    posix = PurePosixPath(path)
    if posix.is_absolute():
        return {"uri": "file://" + quote(posix.as_posix())}
    return {"uri": quote(posix.as_posix()), "uriBaseId": SRCROOT}


def logical_locations(resource: Resource) -> list[dict[str, str]]:
    """Every part of a resource but its file, named by its ``Resource`` field, outermost first; each
    one's fullyQualifiedName is the ``resource_id`` up to and including it."""
    out: list[dict[str, str]] = []
    qualified = ""
    for name, value in resource.as_dict().items():  # the set parts, outermost first
        qualified = f"{qualified}/{name}:{value}" if qualified else f"{name}:{value}"
        if name != "file":
            out.append({"name": value, "fullyQualifiedName": qualified, "kind": name})
    return out


def _physical(path: str) -> dict[str, Any]:
    # A whole-file region: GitHub needs a start line to show an alert; a dump's lines mean nothing.
    return {"artifactLocation": artifact_location(path), "region": {"startLine": 1}}


def result(report: CheckReport, finding: Finding, rule_index: int,
           files_of: Callable[[Finding], tuple[str, ...]] | None = None) -> dict[str, Any]:
    """``files_of``: ``finding_files`` for this report (``FindingFiles``, shared by all its results)."""
    files = files_of(finding) if files_of is not None else finding_files(report, finding)
    location: dict[str, Any] = {}
    if files:
        location["physicalLocation"] = _physical(files[0])
    # A finding on an input file only (e.g. STK0002) has no logical part: name the file itself.
    location["logicalLocations"] = logical_locations(finding.resource) or [
        {"name": finding.resource_id, "fullyQualifiedName": finding.resource_id, "kind": "resource"}
    ]
    out: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding)},
        "properties": {"resourceId": finding.resource_id, "severity": finding.severity.value},
    }
    if len(files) > 1:
        out["relatedLocations"] = [{"id": i, "physicalLocation": _physical(p)} for i, p in enumerate(files[1:], 1)]
    if finding.details:
        out["properties"]["details"] = dict(finding.details)
    return out


def document(report: CheckReport) -> dict[str, Any]:
    codes = sorted(CATALOG)
    index = {code: i for i, code in enumerate(codes)}
    files_of = FindingFiles(report)
    exit_status = report.exit_status
    invocation: dict[str, Any] = {
        # Findings are a successful run; an input that could not be checked is not.
        "executionSuccessful": exit_status is not ExitStatus.UNCHECKED,
        "exitCode": int(exit_status),
    }
    if report.not_checked:
        invocation["toolExecutionNotifications"] = [
            {"level": "warning", "message": {"text": f"not checked: {note}"}} for note in report.not_checked
        ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "stickyctl",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [rule(CATALOG[code]) for code in codes],
            }
        },
        "invocations": [invocation],
        "results": [result(report, f, index[f.code], files_of) for f in report.findings],
        "properties": {
            "failureThreshold": report.failure_threshold.value if report.failure_threshold else "none",
            "labelsChecked": report.labels_checked,
            "suppressed": len(report.suppressed),
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def to_sarif(report: CheckReport) -> str:
    # msgspec writes the same bytes as json.dumps(indent=2, sort_keys=True, ensure_ascii=False)
    # (tests/test_formats.py), an order of magnitude faster: json.dumps with an indent runs its pure
    # Python encoder, seconds for the results of tens of thousands of findings.
    import msgspec

    return msgspec.json.format(msgspec.json.encode(document(report), order="sorted"), indent=2).decode() + "\n"
