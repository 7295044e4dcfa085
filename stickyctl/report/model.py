"""What a `check` run produced, independent of how it is rendered.

The JSON document built by ``document()`` is a public, versioned schema (docs/json-schema.md):
bump ``SCHEMA_VERSION`` on any incompatible change.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from stickyctl import __version__
from stickyctl.catalog import CATALOG, Severity
from stickyctl.envoy.enums import ProxyKind, SessionMode
from stickyctl.exitcodes import ExitStatus, check_exit_status
from stickyctl.findings import RESOURCE_FIELDS, Finding

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ProxySummary:
    name: str
    kind: ProxyKind
    """From the bootstrap node id."""
    node_id: str | None
    istio_version: str | None
    envoy_version: str | None
    sources: tuple[str, ...]
    listeners: int
    http_connection_managers: int
    routes: int
    sticky_routes: int
    clusters: int | None
    """None when the input carried no clusters (then cluster checks were not run)."""


class StickyService(msgspec.Struct, frozen=True, gc=False):
    """One per sticky Service: tens of thousands in a large mesh (a Struct is built in C)."""

    id: str
    """``namespace/name`` (Service or ServiceEntry), or the FQDN when known only from the dump."""
    kind: str
    """Service | ServiceEntry | host (a destination with session config, no --services given)."""
    mode: SessionMode
    """header | cookie"""
    name: str
    """The header or cookie name."""
    source: str
    """label (from --services) | dump (inferred from session config)."""


@dataclass(frozen=True)
class CheckReport:
    findings: tuple[Finding, ...]
    proxies: tuple[ProxySummary, ...]
    sticky_services: tuple[StickyService, ...]
    labels_checked: bool
    """False when no --services were given: label agreement was not checked."""
    not_checked: tuple[str, ...] = ()
    """Plain sentences naming what could not be verified (never reported as passing)."""
    suppressed: tuple[Finding, ...] = ()
    failure_threshold: Severity | None = Severity.ERROR
    """None means `--failure-threshold none`."""
    sources: tuple[str, ...] = field(default=())
    partial_ok: bool = False
    """--allow-partial: targets that could not be read (STK0001) count as ordinary error findings,
    not as "could not check" (exit 3)."""

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for f in self.findings:
            out[f.severity.value] += 1
        return out

    @property
    def exit_status(self) -> ExitStatus:
        return check_exit_status({f.code for f in self.findings}, self.failure_threshold, partial_ok=self.partial_ok)

    def document(self) -> dict[str, Any]:
        """The json/yaml document (schema_version 1). Key order is fixed: output is byte-stable."""
        return self._document([finding_document(f) for f in self.findings], [
            # str(): the YAML dumper writes plain strings only (a StrEnum member is one for JSON alone).
            {"id": s.id, "kind": s.kind, "mode": str(s.mode), "name": s.name, "source": str(s.source)}
            for s in self.sticky_services
        ])

    def encodable_document(self) -> dict[str, Any]:
        """``document()`` for msgspec's JSON encoder: the same JSON, with each finding a Struct
        instead of a dict (built in C and encoded without its keys; a misconfigured mesh has tens
        of thousands of findings)."""
        # A StickyService encodes as its dict above: the same keys in the same order.
        return self._document([finding_struct(f) for f in self.findings], list(self.sticky_services))

    def _document(self, findings: list[Any], sticky_services: list[Any]) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "stickyctl", "version": __version__},
            "summary": {
                "proxies": len(self.proxies),
                "listeners": sum(p.listeners for p in self.proxies),
                "routes": sum(p.routes for p in self.proxies),
                "sticky_routes": sum(p.sticky_routes for p in self.proxies),
                "sticky_services": len(self.sticky_services),
                "findings": self.counts(),
                "suppressed": len(self.suppressed),
                "labels_checked": self.labels_checked,
                "not_checked": list(self.not_checked),
                "failure_threshold": self.failure_threshold.value if self.failure_threshold else "none",
                "exit_code": int(self.exit_status),
            },
            "proxies": [
                {
                    "name": p.name,
                    "kind": str(p.kind),
                    "node_id": p.node_id,
                    "istio_version": p.istio_version,
                    "envoy_version": p.envoy_version,
                    "sources": list(p.sources),
                    "listeners": p.listeners,
                    "http_connection_managers": p.http_connection_managers,
                    "routes": p.routes,
                    "sticky_routes": p.sticky_routes,
                    "clusters": p.clusters,
                }
                for p in self.proxies
            ],
            "sticky_services": sticky_services,
            "findings": findings,
        }


class _FindingDoc(msgspec.Struct, omit_defaults=True, gc=False):
    """A finding's document (``finding_document``), field for key in the same order."""

    code: str
    name: str
    severity: str
    title: str
    message: str
    resource: Any
    """``Resource.as_dict()``, or the Struct that encodes as it."""
    resource_id: str
    why: str
    remediation: str
    docs_url: str
    details: dict[str, str] = {}


# A resource's set parts, as Resource.as_dict() lists them: its fields in order, None left out.
_ResourceDoc = msgspec.defstruct("_ResourceDoc", [(name, str | None, None) for name in RESOURCE_FIELDS],
                                 omit_defaults=True, gc=False)
_resource_values = operator.itemgetter(*RESOURCE_FIELDS)


@functools.cache
def _spec_texts(code: str) -> tuple[str, str, str, str, str, str]:
    spec = CATALOG[code]
    return spec.name, spec.severity.value, spec.title, spec.why, spec.fix, spec.docs_url


def finding_struct(f: Finding) -> _FindingDoc:
    """``finding_document(f)`` as a Struct: encodes to the same JSON."""
    name, severity, title, why, fix, docs_url = _spec_texts(f.code)
    resource = f.resource
    return _FindingDoc(f.code, name, severity, title, f.message, _ResourceDoc(*_resource_values(resource.__dict__)),
                       resource.id, why, fix, docs_url, dict(sorted(f.details.items())) if f.details else {})


def finding_document(f: Finding) -> dict[str, Any]:
    spec = f.spec
    doc: dict[str, Any] = {
        "code": f.code,
        "name": spec.name,
        "severity": f.severity.value,
        "title": spec.title,
        "message": f.message,
        "resource": f.resource.as_dict(),
        "resource_id": f.resource_id,
        "why": spec.why,
        "remediation": spec.fix,
        "docs_url": spec.docs_url,
    }
    if f.details:
        doc["details"] = dict(sorted(f.details.items()))
    return doc
