"""Run the checks over inputs and produce a ``CheckReport``. No CLI or rendering here."""

from __future__ import annotations

import fnmatch
import gc
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from stickyctl.catalog import CATALOG, Severity, input_message
from stickyctl.checks.context import CHECKED_LISTENER_STATES, CheckContext, ExpectationSource, build_context
from stickyctl.checks.rules import RULES
from stickyctl.envoy.enums import ListenerState, ProxyKind
from stickyctl.envoy.loader import STDIN, DumpParts
from stickyctl.envoy.model import Proxy, ProxyPart, assemble_proxies, convert_parts, load_part
from stickyctl.errors import InputError, UsageError
from stickyctl.exitcodes import INPUT_CODES
from stickyctl.findings import Finding, Resource
from stickyctl.istio.labels import LabelKeys
from stickyctl.istio.manifests import FLAG_ENV, K8sObject, istiod_settings, load_manifests
from stickyctl.report.model import CheckReport, ProxySummary, StickyService


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


# A resource id's words: what lies between the characters that separate its parts ("/", ":", ".",
# "|", "#" ..., anything but ASCII letters, digits, "_" and "-"). A glob's literal text between such
# separators is a whole word of every id it matches.
_SEPARATORS = bytes(c if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "_-") else ord("/") for c in range(256))
_WILDCARDS = re.compile(r"[*?]+")
_WHOLE, _PREFIX, _SUFFIX = 0, 1, 2


def _words(text: str) -> list[bytes]:
    """The words of ``text`` (as UTF-8, every other byte a separator: a byte table, where a regular
    expression takes five times as long on an id), with empty ones between separators."""
    return text.encode("utf-8", "surrogatepass").translate(_SEPARATORS).split(b"/")


def _glob_keys(glob: str) -> set[tuple[int, bytes]]:
    """What every resource id the glob (``*`` and ``?`` only) matches must contain: words it names
    whole, or the start or end of a word (next to a wildcard). A part of a wildcard-free stretch
    that has a separator, or the glob's start or end, on a side is bounded by the same on that side
    in every match; ``?`` may match a separator, which leaves "starts with"/"ends with" true."""
    chunks = _WILDCARDS.split(glob)
    last = len(chunks) - 1
    keys: set[tuple[int, bytes]] = set()
    for i, chunk in enumerate(chunks):
        pieces = _words(chunk)
        if len(pieces) == 1:  # no separator in the stretch: bounded only by the glob's start or end
            if pieces[0] and (i == 0 or i == last):
                keys.add((_WHOLE if i == 0 == last else _PREFIX if i == 0 else _SUFFIX, pieces[0]))
            continue
        # Between two separators: whole words; the first and last pieces have a separator on one side.
        keys.update([(_WHOLE, piece) for piece in pieces[1:-1] if piece])
        if pieces[0]:
            keys.add((_WHOLE if i == 0 else _SUFFIX, pieces[0]))
        if pieces[-1]:
            keys.add((_WHOLE if i == last else _PREFIX, pieces[-1]))
    return keys


def _glob_matches(resource_id: str, glob: str) -> bool:
    """``fnmatch.fnmatchcase(resource_id, glob)``. Globs of ``*`` alone are matched by finding
    their literal parts in order (leftmost first, which finds a match whenever there is one):
    fnmatch compiles a regular expression per distinct glob, a tenth of a millisecond each, and a
    baseline of thousands of suppressions would compile thousands to try each once or twice."""
    if "?" in glob or "[" in glob:
        return fnmatch.fnmatchcase(resource_id, glob)
    parts = glob.split("*")
    if len(parts) == 1:
        return resource_id == glob
    first, last = parts[0], parts[-1]
    if len(resource_id) < len(first) + len(last) or not resource_id.startswith(first) \
            or not resource_id.endswith(last):
        return False
    pos, end = len(first), len(resource_id) - len(last)
    for part in parts[1:-1]:
        if part:
            found = resource_id.find(part, pos, end)
            if found < 0:
                return False
            pos = found + len(part)
    return True


class _CodeSuppressions:
    """One code's suppressions, indexed so that a finding is tried against the few globs that can
    match it, not all of them: thousands of suppressions (a team's accepted baseline) against tens
    of thousands of findings would otherwise be a product of the two."""

    def __init__(self, globs: list[str]) -> None:
        self.everything = False
        self.exact: set[str] = set()
        self.scan: list[str] = []
        """Globs with no word to index them by (``*x*``, ``[...]`` classes): tried on every finding."""
        self.index: tuple[dict[bytes, list[str]], dict[bytes, list[str]], dict[bytes, list[str]]] = ({}, {}, {})
        self.lengths: tuple[list[int], list[int]] = ([], [])
        """The lengths of the indexed word starts and ends (a finding's words are cut to each)."""
        keyed: list[tuple[str, set[tuple[int, bytes]]]] = []
        for glob in globs:
            if "[" in glob:
                self.scan.append(glob)  # a class may exclude its own letters: nothing in it is literal
            elif not _WILDCARDS.search(glob):
                self.exact.add(glob)
            else:
                keys = _glob_keys(glob)
                if keys:
                    keyed.append((glob, keys))
                else:
                    self.scan.append(glob)
        # Each glob is filed under its key that the fewest globs share (whole words first, then the
        # longest): a key every glob has ("route_config") would make one bucket of them all.
        shared = Counter(k for _glob, keys in keyed for k in keys)
        rank = {k: (n, k[0] != _WHOLE, -len(k[1]), k) for k, n in shared.items()}
        for glob, keys in keyed:
            kind, text = min(keys, key=rank.__getitem__)
            self.index[kind].setdefault(text, []).append(glob)
        self.lengths = (sorted({len(t) for t in self.index[_PREFIX]}), sorted({len(t) for t in self.index[_SUFFIX]}))

    def match(self, resource_id: str) -> bool:
        """Whether any of these suppressions matches: the globs tried are those filed under the
        id's words (or their starts and ends), and those with no word to file them under."""
        if self.everything or resource_id in self.exact:
            return True
        for glob in self.scan:
            if _glob_matches(resource_id, glob):
                return True
        whole, prefix, suffix = self.index
        if not (whole or prefix or suffix):
            return False
        starts, ends = self.lengths
        found: list[list[str]] = []
        for word in _words(resource_id):
            globs = whole.get(word)
            if globs is not None:
                found.append(globs)
            for n in starts:
                if n <= len(word) and (globs := prefix.get(word[:n])) is not None:
                    found.append(globs)
            for n in ends:
                if n <= len(word) and (globs := suffix.get(word[-n:])) is not None:
                    found.append(globs)
        for globs in found:
            for glob in globs:
                if _glob_matches(resource_id, glob):
                    return True
        return False


class SuppressionIndex:
    """``--suppress`` entries, matched per finding in time that does not grow with their number
    (for globs that name a word of the resource id, as ids and their globs do)."""

    def __init__(self, suppressions: Iterable[Suppression]) -> None:
        globs: dict[str, list[str]] = {}
        everything: set[str] = set()
        for sup in suppressions:
            if sup.resource_glob is None:
                everything.add(sup.code)
            else:
                globs.setdefault(sup.code, []).append(sup.resource_glob)
        self._codes = {code: _CodeSuppressions(g) for code, g in globs.items()}
        for code in everything:
            self._codes.setdefault(code, _CodeSuppressions([])).everything = True

    def matches(self, f: Finding) -> bool:
        """Whether any suppression matches ``f`` (the same answer as ``Suppression.matches``)."""
        rules = self._codes.get(f.code)
        return rules is not None and rules.match(f.resource.id)

    def split(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[Finding]]:
        """(kept, suppressed), each in the order given: one pass."""
        kept: list[Finding] = []
        suppressed: list[Finding] = []
        for f in findings:
            (suppressed if self.matches(f) else kept).append(f)
        return kept, suppressed


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
    return Finding.of(input_message(exc.code, name, exc.detail), Resource(file=name))


def _load_dumps(paths: list[str], findings: list[Finding]) -> list[ProxyPart]:
    out: list[ProxyPart] = []
    for path in paths:
        try:
            # Converted to views as it is read: each dump is freed before the next is read.
            out.append(load_part(path, full=False))
        except InputError as exc:
            findings.append(_input_finding(exc, path))
    return out


def _fetch_admins(urls: list[str], timeout: float, findings: list[Finding]) -> list[ProxyPart]:
    if not urls:
        return []
    from stickyctl.envoy.admin import AdminClient

    out: list[ProxyPart] = []
    for url in urls:
        client = AdminClient(url, timeout=timeout)
        try:
            out.append(convert_parts(client.fetch_parts()))
        except InputError as exc:
            message = input_message(exc.code, client.label, exc.detail)
            findings.append(Finding.of(message, Resource(target=client.label)))
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
            findings.append(Finding.of(input_message(exc.code, f"{option} {name}", exc.detail), Resource(file=name)))
    return out


def _build(parts: list[ProxyPart], findings: list[Finding]) -> list[Proxy]:
    try:
        return assemble_proxies(parts)
    except InputError as exc:
        # A wrong type deep inside one file: drop that file and check the rest (the converted parts
        # are not consumed by assembling, so the rest is whole).
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
        if p.identity.kind == ProxyKind.WAYPOINT:
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


_SUMMARISED_LISTENER_STATES = (*CHECKED_LISTENER_STATES, ListenerState.STATIC)


def _summaries(ctx: CheckContext) -> list[ProxySummary]:
    out: list[ProxySummary] = []
    for p in ctx.proxies:
        facts = ctx.facts_of(p)
        listeners = [lst for lst in p.listeners if lst.state in _SUMMARISED_LISTENER_STATES]
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
        label = ExpectationSource.LABEL  # read once, not per Service (see stickyctl.envoy.enums)
        return [StickyService(s.id, s.obj.kind, s.mode, s.name, label) for s in ctx.labelled]
    return [StickyService(e.service_id, e.kind, e.mode, e.name, e.source)
            for _host, e in sorted(ctx.expectations.items())]


def check(options: CheckOptions) -> CheckReport:
    # Tens of thousands of small objects and no reference cycles worth collecting: the cyclic GC
    # would only re-scan them over and over. Measured (ablate.py gc-disabled): 1.12x wall, 40k no-EDS.
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

    ``parts`` is consumed: each is converted to views and dropped from the list in turn, so that the
    decoded dumps (and the bytes they are views of, 100+ MB on large gateways) are freed as they go.
    """
    converted: list[ProxyPart] = []
    parts.reverse()
    while parts:
        converted.append(convert_parts(parts.pop()))
    proxies = _build(converted, input_findings)
    return check_proxies(proxies, objects, istiod_objects, input_findings, options,
                         services_given=services_given, sources=sources, notes=notes)


def check_proxies(proxies: list[Proxy], objects: list[K8sObject], istiod_objects: list[K8sObject],
                  input_findings: list[Finding], options: CheckOptions, *, services_given: bool,
                  sources: tuple[str, ...], notes: tuple[str, ...] = ()) -> CheckReport:
    ctx = build_context(proxies, objects, services_given=services_given, keys=options.keys,
                        istiod_objects=istiod_objects)
    findings = input_findings + run_checks(ctx)
    # One pass, each finding looked up in an index of the suppressions: both used to be scans (a
    # finding against every suppression, then `f not in kept`, quadratic in findings).
    kept, suppressed = SuppressionIndex(options.suppress).split(findings)
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
