"""Small shared pieces for rule modules."""

from __future__ import annotations

from stickyctl.findings import Resource
from stickyctl.istio.manifests import K8sObject


def object_resource(obj: K8sObject) -> Resource:
    if obj.kind in ("Service", "ServiceEntry"):
        return Resource(service=f"{obj.namespace}/{obj.name}")
    return Resource(object=obj.ref)
