"""STK0104: a session label on the wrong object (or as an annotation), or a look-alike key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from stickyctl.catalog import LabelMisplaced, MisplacedKey
from stickyctl.checks.context import CheckContext
from stickyctl.findings import Finding, Resource
from stickyctl.istio.labels import LOOKALIKE_KEY
from stickyctl.istio.manifests import SERVICE_KINDS, K8sObject

CODE = "STK0104"

_LOOKALIKE = LOOKALIKE_KEY  # keys seen in blog posts that istiod never reads (stickyctl.istio.labels)


# Objects whose pod template labels someone may have mistaken for the place istiod reads.
_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                             "Rollout", "DeploymentConfig"})


def _lookalike(key: str) -> bool:
    return _LOOKALIKE.search(key) is not None


def _template_labels(obj: K8sObject) -> dict[str, str]:
    if obj.kind not in _WORKLOAD_KINDS:
        return {}
    spec = obj.raw.get("spec")
    if not isinstance(spec, dict):
        return {}
    for path in (("template",), ("jobTemplate", "spec", "template")):
        node: Any = spec
        for p in path:
            node = node.get(p) if isinstance(node, dict) else None
        meta = node.get("metadata") if isinstance(node, dict) else None
        labels = meta.get("labels") if isinstance(meta, dict) else None
        if isinstance(labels, dict):
            return {str(k): str(v) for k, v in labels.items()}
    return {}


def _problems(obj: K8sObject, keys: tuple[str, str]) -> list[MisplacedKey]:
    out: list[MisplacedKey] = []
    service = obj.kind in SERVICE_KINDS
    mappings: list[tuple[Literal["label", "annotation", "pod template label"], dict[str, str]]] = [
        ("label", obj.labels), ("annotation", obj.annotations)]
    if obj.kind in _WORKLOAD_KINDS:
        mappings.append(("pod template label", _template_labels(obj)))
    for where, mapping in mappings:
        # Most keys are neither: filter first, sort only what is reported (40k Services per mesh).
        hits = [k for k in mapping if k in keys or _lookalike(k)] if mapping else None
        for key in sorted(hits) if hits else ():
            if key not in keys:
                out.append(MisplacedKey(where, key, istiod_key=False))
            elif not (service and where == "label"):
                out.append(MisplacedKey(where, key, istiod_key=True))
    return out


def check(ctx: CheckContext) -> Iterator[Finding]:
    keys = (ctx.keys.cookie, ctx.keys.header)
    for obj in ctx.objects:
        problems = _problems(obj, keys)
        if problems:
            message = LabelMisplaced(obj.kind, f"{obj.namespace}/{obj.name}", keys, tuple(problems))
            yield Finding.of(message, Resource(object=obj.ref))
