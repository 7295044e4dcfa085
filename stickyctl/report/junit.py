"""`-o junit`: JUnit XML for CI test reports (GitLab ``artifacts:reports:junit``, Jenkins, Azure).

One ``<testsuite>`` per proxy, plus one for findings tied to no proxy (Services, objects, inputs).
One ``<testcase>`` per check × resource, passed ones too, so the report shows what was covered:

- a finding is a testcase named ``CODE resource_id``; it fails when its severity is at or above
  the failure threshold, and passes (the finding in ``<system-out>``) below it;
- a suppressed finding is a skipped testcase of the same name;
- each proxy-level check that ran for a proxy and found nothing is a passing testcase named
  ``CODE proxy:NAME``; a check that could not run there (no listeners, routes or clusters in the
  input) is a skipped one, never a pass;
- with ``--services``, each Service/object check that found nothing is a passing ``CODE services``.

Names are unique within a suite by construction (the engine reports a code once per resource):
GitLab keeps only the first of two testcases with one name. No timings, no timestamps, no host
names: the same report gives the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from stickyctl.catalog import CATALOG, CheckSpec
from stickyctl.envoy.enums import ProxyKind
from stickyctl.findings import Finding
from stickyctl.report.artifacts import FindingFiles, display_path, finding_files, is_file_path
from stickyctl.report.model import CheckReport, ProxySummary

UNATTACHED_SUITE = "Services, objects and inputs"

_PER_PROXY = {"STK02": "listeners", "STK03": "routes", "STK04": "routes and clusters", "STK06": "routes"}
"""Code families the runner applies to every proxy, and the part of the dump each needs. A check is
listed as passed only where its run condition is known here: a code outside these families (e.g.
STK05xx, which needs several replicas) appears only when it reports something."""
_ON_MANIFESTS = frozenset({"STK0102", "STK0103", "STK0104", "STK0105", "STK0106"})
"""Checks run on every `--services` input (STK0101 needs `--istiod`, which the report does not record)."""
_NOT_XML = re.compile(r"[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
"""Characters XML 1.0 cannot carry even escaped (ElementTree would write them and break the file)."""


@dataclass
class _Case:
    name: str
    classname: str
    file: str | None = None
    failure: Finding | None = None
    skipped: str | None = None
    out: str | None = None


@dataclass
class _Suite:
    name: str
    cases: list[_Case] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


def _proxy_check_not_run(spec: CheckSpec, proxy: ProxySummary) -> str | None:
    """Why ``spec`` did not run for ``proxy``, mirroring the runner's not-checked notes; None if it ran."""
    needs = _PER_PROXY[spec.code[:5]]
    if spec.code == "STK0201" and proxy.kind == ProxyKind.WAYPOINT:
        return "a waypoint: istiod never adds the session filter there"
    if needs == "listeners" and proxy.listeners == 0:
        return "no listeners in the input"
    if "routes" in needs and proxy.routes == 0:
        return "no routes in the input"
    if "clusters" in needs and proxy.clusters is None:
        return "no clusters in the input"
    return None


def _finding_case(report: CheckReport, f: Finding, *, suppressed: bool, files_of: FindingFiles | None = None) -> _Case:
    files = files_of(f) if files_of is not None else finding_files(report, f)
    case = _Case(name=f"{f.code} {f.resource_id}", classname=f"stickyctl.{f.spec.name}",
                 file=files[0] if files else None)
    text = _describe(f)
    threshold = report.failure_threshold
    if suppressed:
        case.skipped = "suppressed (--suppress or config)"
        case.out = text
    elif threshold is not None and f.severity.rank >= threshold.rank:
        case.failure = f
    else:
        case.out = text
    return case


def _describe(f: Finding) -> str:
    return "\n".join((
        f"{f.severity.value} {f.code} {f.spec.title}",
        f.message,
        f"resource: {f.resource_id}",
        f"fix: {f.spec.fix}",
        f.spec.docs_url,
    ))


def _suites(report: CheckReport) -> list[_Suite]:
    suites: dict[str | None, _Suite] = {}
    for proxy in report.proxies:
        suite = suites.setdefault(proxy.name, _Suite(proxy.name))
        suite.properties.update({"kind": str(proxy.kind), "sources": ",".join(proxy.sources)})
        if proxy.istio_version:
            suite.properties["istio_version"] = proxy.istio_version
        if proxy.envoy_version:
            suite.properties["envoy_version"] = proxy.envoy_version

    found_codes: dict[str | None, set[str]] = {}
    files_of = FindingFiles(report)
    for findings, suppressed in ((report.findings, False), (report.suppressed, True)):
        for f in findings:
            key = f.resource.proxy
            suite = suites.setdefault(key, _Suite(key if key is not None else UNATTACHED_SUITE))
            suite.cases.append(_finding_case(report, f, suppressed=suppressed, files_of=files_of))
            found_codes.setdefault(key, set()).add(f.code)

    for proxy in report.proxies:
        suite = suites[proxy.name]
        for spec in _specs(lambda code: code[:5] in _PER_PROXY):
            if spec.code in found_codes.get(proxy.name, set()):
                continue
            case = _Case(name=f"{spec.code} proxy:{proxy.name}", classname=f"stickyctl.{spec.name}",
                         file=next((display_path(s) for s in proxy.sources if is_file_path(s)), None))
            reason = _proxy_check_not_run(spec, proxy)
            if reason is not None:
                case.skipped = f"not checked: {reason}"
            if case.name not in {c.name for c in suite.cases}:
                suite.cases.append(case)

    if report.labels_checked:
        suite = suites.setdefault(None, _Suite(UNATTACHED_SUITE))
        for spec in _specs(lambda code: code in _ON_MANIFESTS):
            if spec.code not in found_codes.get(None, set()):
                suite.cases.append(_Case(name=f"{spec.code} services", classname=f"stickyctl.{spec.name}"))

    proxy_names = list(dict.fromkeys(p.name for p in report.proxies))
    ordered = [suites[name] for name in proxy_names]
    ordered += [suites[k] for k in sorted(k for k in suites if k is not None and k not in proxy_names)]
    if None in suites:
        ordered.append(suites[None])
    for suite in ordered:
        suite.cases.sort(key=lambda c: c.name)
    return ordered


def _specs(wanted: Callable[[str], bool]) -> list[CheckSpec]:
    return [CATALOG[code] for code in sorted(CATALOG) if wanted(code)]


def _counts(cases: list[_Case]) -> dict[str, str]:
    return {
        "tests": str(len(cases)),
        "failures": str(sum(1 for c in cases if c.failure is not None)),
        "errors": "0",
        "skipped": str(sum(1 for c in cases if c.skipped is not None)),
    }


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _element(parent: ET.Element | None, tag: str, attrs: dict[str, str], text: str | None = None) -> ET.Element:
    clean = {k: _x(v) for k, v in attrs.items()}
    el = ET.Element(tag, clean) if parent is None else ET.SubElement(parent, tag, clean)
    if text is not None:
        el.text = _x(text)
    return el


def to_junit(report: CheckReport) -> str:
    suites = _suites(report)
    root = _element(None, "testsuites", {"name": "stickyctl", **_counts([c for s in suites for c in s.cases])})
    for suite in suites:
        el = _element(root, "testsuite", {"name": suite.name, **_counts(suite.cases)})
        if suite.properties:
            props = _element(el, "properties", {})
            for key, value in sorted(suite.properties.items()):
                _element(props, "property", {"name": key, "value": value})
        for case in suite.cases:
            attrs = {"name": case.name, "classname": case.classname}
            if case.file is not None:
                attrs["file"] = case.file
            tc = _element(el, "testcase", attrs)
            if case.failure is not None:
                f = case.failure
                _element(tc, "failure", {"message": f.message, "type": f.code}, _describe(f))
            if case.skipped is not None:
                _element(tc, "skipped", {"message": case.skipped})
            if case.out is not None:
                _element(tc, "system-out", {}, case.out)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
