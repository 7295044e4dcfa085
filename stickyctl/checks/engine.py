"""Run the checks over inputs and produce a ``CheckReport``. No CLI or rendering here."""

from __future__ import annotations

import fnmatch
import gc
from dataclasses import dataclass, field

from stickyctl.catalog import CATALOG, Severity
from stickyctl.checks.context import CheckContext, build_context
from stickyctl.checks.rules import RULES
from stickyctl.envoy.loader import STDIN, DumpParts, load_file
from stickyctl.envoy.model import Proxy, build_proxies
from stickyctl.errors import InputError, UsageError
from stickyctl.findings import Finding, Resource
from stickyctl.istio.labels import LabelKeys
from stickyctl.istio.manifests import FLAG_ENV, K8sObject, istiod_settings, load_manifests
from stickyctl.report.model import INPUT_CODES, CheckReport, ProxySummary, StickyService


@dataclass(frozen=True)
class Suppression:
    code: str
    resource_glob: str | None = None

    @classmethod
    def parse(cls, text: str) -> Suppression:
        code, _, glob = text.partition("=")
        code = code.strip().upper()
        if code not in CATALOG:
            raise UsageError(f"--suppress {text!r}: unknown check code {code!r} (see 'stickyctl checks')")
        if code in INPUT_CODES:
            # Something that could not be checked must never turn into a pass.
            raise UsageError(f"--suppress {text!r}: {code} means an input was not checked; it cannot be suppressed")
        return cls(code, glob or None)

    def matches(self, f: Finding) -> bool:
        return f.code == self.code and (self.resource_glob is None or fnmatch.fnmatchcase(f.resource_id,
                                                                                          self.resource_glob))


@dataclass
class CheckOptions:
    dumps: list[str] = field(default_factory=list)
    admin_urls: list[str] = field(default_factory=list)
    timeout: float = 10.0
    services: list[str] = field(default_factory=list)
    istiod: list[str] = field(default_factory=list)
    keys: LabelKeys = field(default_factory=LabelKeys)
    failure_threshold: Severity | None = Severity.ERROR
    suppress: list[Suppression] = field(default_factory=list)


def _input_finding(exc: InputError, given: str) -> Finding:
    name = "stdin" if given == STDIN else given
    return Finding(exc.code, f"{name}: {exc.detail}", Resource(file=name))


def _load_dumps(paths: list[str], findings: list[Finding]) -> list[DumpParts]:
    out: list[DumpParts] = []
    for path in paths:
        try:
            out.append(load_file(path, full=False))
        except InputError as exc:
            findings.append(_input_finding(exc, path))
    return out


def _fetch_admins(urls: list[str], timeout: float, findings: list[Finding]) -> list[DumpParts]:
    if not urls:
        return []
    from stickyctl.envoy.admin import AdminClient

    out: list[DumpParts] = []
    for url in urls:
        client = AdminClient(url, timeout=timeout)
        try:
            out.append(client.fetch_parts())
        except InputError as exc:
            findings.append(Finding(exc.code, f"{client.label}: {exc.detail}", Resource(target=client.label)))
        finally:
            client.close()
    return out


def _load_objects(paths: list[str], findings: list[Finding], option: str) -> list[K8sObject]:
    out: list[K8sObject] = []
    for path in paths:
        try:
            out.extend(load_manifests(path, option=option))
        except InputError as exc:
            # The option is named: "an empty file" means something else for -f than for --services.
            name = "stdin" if path == STDIN else path
            findings.append(Finding(exc.code, f"{option} {name}: {exc.detail}", Resource(file=name)))
    return out


def _build(parts: list[DumpParts], findings: list[Finding]) -> list[Proxy]:
    try:
        return build_proxies(parts)
    except InputError as exc:
        # A wrong type deep inside one file: drop that file and check the rest.
        findings.append(_input_finding(exc, exc.source))
        rest = [p for p in parts if p.source != exc.source]
        return _build(rest, findings) if rest else []


def run_checks(ctx: CheckContext) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for rule in RULES:
        for finding in rule.check(ctx):
            key = (finding.code, finding.resource_id)
            if key not in seen:
                seen.add(key)
                out.append(finding)
    return out


def _not_checked(ctx: CheckContext) -> list[str]:
    notes: list[str] = []
    for p in ctx.proxies:
        if p.identity.kind == "waypoint":
            notes.append(f"{p.name}: a waypoint; istiod never adds the session filter there (STK0201 not applicable)")
        if not p.has_listeners:
            notes.append(f"{p.name}: no listeners in the input: filter checks (STK0201–STK0204) not run")
        if not p.has_routes:
            notes.append(f"{p.name}: no route configurations in the input: route checks (STK03xx) not run")
        missing = sorted({ch.hcm.rds_name for lst in ctx.checked_listeners(p) for ch in lst.chains
                          if ch.hcm and ch.hcm.rds_name and ch.hcm.rds_name not in p.route_configs})
        if missing:
            notes.append(f"{p.name}: route configuration(s) {', '.join(missing)} used by its listeners are not in "
                         "the input: their routes were not checked")
        if p.clusters is None:
            notes.append(f"{p.name}: no clusters in the input: cluster checks (STK0401–STK0403) not run")
        if p.has_scoped_routes:
            notes.append(f"{p.name}: scoped route configurations (SRDS) are not analysed")
    for ist in ctx.istiod:
        if ist.flag_from_ref:
            notes.append(f"{ist.obj.ref}: {FLAG_ENV} comes from valueFrom; its value cannot be read from the manifest")
    notes.extend(ctx.not_checked)  # what the rules themselves could not check
    if ctx.proxies and not ctx.expectations:
        if ctx.services_given:
            notes.append("no route leads to a labelled Service: no session config to verify")
        else:
            notes.append("no session config in the dump and no --services given: nothing is known to be sticky, "
                         "so no route was verified")
    return notes


def _summaries(ctx: CheckContext) -> list[ProxySummary]:
    out: list[ProxySummary] = []
    for p in ctx.proxies:
        facts = [f for f in ctx.route_facts if f.proxy is p]
        listeners = [lst for lst in p.listeners if lst.state in ("active", "warming", "static")]
        out.append(ProxySummary(
            name=p.name,
            kind=p.identity.kind,
            node_id=p.identity.node_id,
            istio_version=p.identity.istio_version,
            envoy_version=p.identity.envoy_version,
            sources=p.sources,
            listeners=len({lst.name for lst in listeners}),
            http_connection_managers=sum(1 for lst in listeners for ch in lst.chains if ch.hcm is not None),
            routes=len(facts),
            sticky_routes=sum(1 for f in facts if f.sticky),
            clusters=None if p.clusters is None else len(p.clusters),
        ))
    return out


def _sticky_services(ctx: CheckContext) -> list[StickyService]:
    if ctx.services_given:
        return [StickyService(s.id, s.obj.kind, s.mode, s.name, "label") for s in ctx.labelled]
    return [StickyService(e.service_id, e.kind, e.mode, e.name, e.source)
            for _host, e in sorted(ctx.expectations.items())]


def check(options: CheckOptions) -> CheckReport:
    # Tens of thousands of small objects and no reference cycles worth collecting: the cyclic GC
    # would only re-scan them over and over (a third of the run time on a 40k-Service dump).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _check(options)
    finally:
        if was_enabled:
            gc.enable()


def _check(options: CheckOptions) -> CheckReport:
    input_findings: list[Finding] = []
    parts = _load_dumps(options.dumps, input_findings) + _fetch_admins(options.admin_urls, options.timeout,
                                                                        input_findings)
    proxies = _build(parts, input_findings)
    del parts  # the decoded dumps (views of 100+ MB of bytes) go before the manifests are read
    read = len(input_findings)
    objects = _load_objects(options.services, input_findings, "--services")
    services_read = len(input_findings) == read
    read = len(input_findings)
    istiod_objects = _load_objects(options.istiod, input_findings, "--istiod")
    istiod_read = len(input_findings) == read
    notes: list[str] = []
    if options.services and not services_read:
        # Label checks on part of the Services would invent findings (a route "to an unlabelled
        # Service" whose labels were in the file that failed): none are made.
        notes.append("label agreement: a --services input could not be read")
    if options.istiod and istiod_read and not any(istiod_settings(o) for o in istiod_objects):
        shown = ", ".join("stdin" if p == STDIN else p for p in options.istiod)
        notes.append(f"persistent-session flag: --istiod {shown} holds no istiod Deployment (a Deployment "
                     "with a discovery container), so the flag was not checked")
    return check_proxies(proxies, objects, istiod_objects, input_findings, options,
                         services_given=bool(options.services) and services_read,
                         sources=(*options.dumps, *options.admin_urls), notes=tuple(notes))


def check_inputs(parts: list[DumpParts], objects: list[K8sObject], istiod_objects: list[K8sObject],
                 input_findings: list[Finding], options: CheckOptions, *, services_given: bool,
                 sources: tuple[str, ...], notes: tuple[str, ...] = ()) -> CheckReport:
    """Check inputs that are already loaded (files, admin APIs, or a live cluster's snapshot).

    ``input_findings`` are the STK0001/STK0002 findings of inputs that could not be read; ``notes``
    are what the caller already knows was not checked (e.g. an optional cluster read that was
    forbidden).

    ``parts`` is consumed: the list is emptied once the model is built, so that the decoded dumps
    (and the bytes they are views of, 100+ MB on large gateways) are freed before the checks run.
    """
    proxies = _build(parts, input_findings)
    parts.clear()
    return check_proxies(proxies, objects, istiod_objects, input_findings, options,
                         services_given=services_given, sources=sources, notes=notes)


def check_proxies(proxies: list[Proxy], objects: list[K8sObject], istiod_objects: list[K8sObject],
                  input_findings: list[Finding], options: CheckOptions, *, services_given: bool,
                  sources: tuple[str, ...], notes: tuple[str, ...] = ()) -> CheckReport:
    ctx = build_context(proxies, objects, services_given=services_given, keys=options.keys,
                        istiod_objects=istiod_objects)
    findings = input_findings + run_checks(ctx)
    kept = [f for f in findings if not any(s.matches(f) for s in options.suppress)]
    suppressed = [f for f in findings if f not in kept]
    kept.sort(key=Finding.sort_key)
    suppressed.sort(key=Finding.sort_key)
    return CheckReport(
        findings=tuple(kept),
        proxies=tuple(_summaries(ctx)),
        sticky_services=tuple(_sticky_services(ctx)),
        labels_checked=services_given,
        not_checked=(*notes, *_not_checked(ctx)),
        suppressed=tuple(suppressed),
        failure_threshold=options.failure_threshold,
        sources=sources,
    )
