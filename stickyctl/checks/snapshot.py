"""Check a live cluster's snapshot (stickyctl.kube.snapshot): what `check` read a moment ago, or
what `stickyctl dump` recorded and `check --from DIR` reads back. Both go through here, so they
give exactly the same findings.

``kube`` fetches and records; turning the record into the engine's inputs (which targets count
as not read, which istiod revisions apply) is part of checking, and happens here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stickyctl.checks.engine import CheckOptions, check_inputs
from stickyctl.envoy.loader import DumpParts
from stickyctl.errors import InputError
from stickyctl.findings import Finding, Resource
from stickyctl.istio.manifests import K8sObject
from stickyctl.kube.snapshot import Snapshot
from stickyctl.report.model import CheckReport


@dataclass
class SnapshotInputs:
    """A snapshot as the engine takes it in (``check_inputs``' arguments)."""

    parts: list[DumpParts]
    """The config dumps of the pods that were read."""
    objects: list[K8sObject]
    istiod: list[K8sObject]
    """The istiod Deployments of the revisions the read pods follow."""
    unread: list[Finding]
    """STK0001/STK0002 for the clusters and pods that could not be read or decoded."""
    notes: list[str]
    """What was not read or not checked, and why."""


def _objects(raws: list[dict[str, Any]], source: str) -> list[K8sObject]:
    out: list[K8sObject] = []
    for raw in raws:
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        name = meta.get("name")
        kind = raw.get("kind")
        if not isinstance(name, str) or not isinstance(kind, str):
            continue
        ns = meta.get("namespace")
        out.append(K8sObject(kind, str(raw.get("apiVersion", "")), ns if isinstance(ns, str) and ns else "default",
                             name, raw, source))
    return out


def snapshot_inputs(snapshot: Snapshot) -> SnapshotInputs:
    from stickyctl.envoy.admin import parts_from_configs
    from stickyctl.istio.manifests import istiod_settings

    findings: list[Finding] = []
    parts = []
    for cl in snapshot.clusters:
        if cl.error is not None:
            label = f"context/{cl.context}"
            findings.append(Finding("STK0001", f"{label}: {cl.error}", Resource(target=label)))
    for t in snapshot.targets:
        if t.error is not None or t.configs is None:
            findings.append(Finding("STK0001", f"{t.label}: {t.error or 'not read'}", Resource(target=t.label)))
            continue
        try:
            parts.append(parts_from_configs(t.configs, t.label))
        except InputError as exc:
            findings.append(Finding(exc.code, f"{t.label}: {exc.detail}", Resource(target=t.label)))
    objects = _objects(snapshot.objects, "cluster")
    notes = list(snapshot.notes)
    # istiod: only the revisions the checked gateways follow (each revision has its own flag).
    followed = sorted({t.revision for t in snapshot.targets if t.error is None})
    istiod_all = _objects(snapshot.istiod, "cluster")
    settings = {id(o): istiod_settings(o) for o in istiod_all}
    revisions = {s.revision for s in settings.values() if s is not None}
    istiod = [o for o in istiod_all if (s := settings[id(o)]) is not None and s.revision in followed]
    namespaces = sorted({c.istio_namespace for c in snapshot.clusters})
    for rev in followed:
        if rev not in revisions:
            users = sorted(t.label for t in snapshot.targets if t.revision == rev and t.error is None)
            notes.append(f"{', '.join(users)} follow istiod revision {rev!r}, but no istiod Deployment of that "
                         f"revision is in {', '.join(namespaces)}: its persistent-session flag (STK0101) was not "
                         "checked (pass -i/--istio-namespace)")
    return SnapshotInputs(parts, objects, istiod, findings, notes)


def check_snapshot(snapshot: Snapshot, options: CheckOptions) -> CheckReport:
    """The CheckReport for a snapshot, exactly as the engine gives it for the same inputs."""
    inputs = snapshot_inputs(snapshot)
    sources = tuple(t.label for t in snapshot.targets)
    return check_inputs(inputs.parts, inputs.objects, inputs.istiod, inputs.unread, options, services_given=True,
                        sources=sources, notes=tuple(inputs.notes))
