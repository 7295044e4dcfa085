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

import hashlib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

import msgspec

from stickyctl import __version__
from stickyctl.catalog import CATALOG, CheckSpec, Severity, documentation_url
from stickyctl.exitcodes import ExitStatus
from stickyctl.findings import Finding, Resource
from stickyctl.report.artifacts import FindingFiles, finding_files
from stickyctl.report.model import CheckReport

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
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


# --- The same results as Structs, for the encoder ------------------------------------------------
# A result is a dozen small dicts; tens of thousands of them are built in C as Structs instead, the
# parts they share (a proxy's logical location, a file's physical one) built once. Field names are
# SARIF's keys; keys are sorted when encoding, so field order here does not matter
# (tests/test_formats.py compares the bytes with json.dumps of the dicts).


class _Text(msgspec.Struct, gc=False):
    text: str


class _Logical(msgspec.Struct, gc=False):
    name: str
    fullyQualifiedName: str
    kind: str


class _Location(msgspec.Struct, omit_defaults=True, gc=False):
    logicalLocations: list[_Logical]
    physicalLocation: dict[str, Any] | None = None


class _Fingerprints(msgspec.Struct, gc=False):
    finding: str = msgspec.field(name=FINGERPRINT_KEY)


class _Properties(msgspec.Struct, omit_defaults=True, gc=False):
    resourceId: str
    severity: str
    details: dict[str, str] = {}


class _Result(msgspec.Struct, omit_defaults=True, gc=False):
    ruleId: str
    ruleIndex: int
    level: str
    message: _Text
    locations: list[_Location]
    partialFingerprints: _Fingerprints
    properties: _Properties
    relatedLocations: list[dict[str, Any]] | None = None


def _encodable_results(report: CheckReport, index: dict[str, int]) -> list[_Result]:
    """``result(...)`` for every finding, as Structs (the same JSON once keys are sorted)."""
    files_of = FindingFiles(report)
    physical: dict[str, dict[str, Any]] = {}
    logical: dict[tuple[str, str, str], _Logical] = {}
    rules: dict[str, tuple[int, str, str]] = {}
    out: list[_Result] = []
    for f in report.findings:
        code = f.code
        rule = rules.get(code)
        if rule is None:
            severity = CATALOG[code].severity
            rule = rules[code] = (index[code], LEVELS[severity], severity.value)
        rid = f.resource.id
        locations: list[_Logical] = []
        qualified = ""
        for name, value in f.resource.as_dict().items():
            qualified = f"{qualified}/{name}:{value}" if qualified else f"{name}:{value}"
            if name != "file":
                key = (qualified, name, value)
                found = logical.get(key)
                if found is None:
                    found = logical[key] = _Logical(value, qualified, name)
                locations.append(found)
        if not locations:
            locations = [_Logical(rid, rid, "resource")]
        files = files_of(f)
        where = None
        if files:
            where = physical.get(files[0])
            if where is None:
                where = physical[files[0]] = _physical(files[0])
        related = [{"id": i, "physicalLocation": _physical(p)} for i, p in enumerate(files[1:], 1)] \
            if len(files) > 1 else None
        out.append(_Result(code, rule[0], rule[1], _Text(f.message), [_Location(locations, where)],
                           _Fingerprints(fingerprint(f)), _Properties(rid, rule[2], dict(f.details)), related))
    return out


def document(report: CheckReport, *, encodable: bool = False) -> dict[str, Any]:
    """The SARIF log. ``encodable``: its results as Structs, for msgspec's encoder (same JSON)."""
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
                **({"informationUri": site} if (site := documentation_url()) else {}),
                "rules": [rule(CATALOG[code]) for code in codes],
            }
        },
        "invocations": [invocation],
        "results": _encodable_results(report, index) if encodable else [
            result(report, f, index[f.code], files_of) for f in report.findings],
        "properties": {
            "failureThreshold": report.failure_threshold.value if report.failure_threshold else "none",
            "labelsChecked": report.labels_checked,
            "suppressed": len(report.suppressed),
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def to_sarif(report: CheckReport) -> str:
    return to_sarif_utf8(report).decode() + "\n"


def to_sarif_utf8(report: CheckReport) -> bytes:
    """``to_sarif`` as UTF-8, without its final line break."""
    # msgspec writes the same bytes as json.dumps(indent=2, sort_keys=True, ensure_ascii=False)
    # (tests/test_formats.py), an order of magnitude faster: json.dumps with an indent runs its pure
    # Python encoder, seconds for the results of tens of thousands of findings.
    return msgspec.json.format(msgspec.json.encode(document(report, encodable=True), order="sorted"), indent=2)
