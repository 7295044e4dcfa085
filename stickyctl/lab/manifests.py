"""Kubernetes manifests for the lab and the fixtures: Services, a Deployment, istiod, an HTTPRoute.

What ``kubectl get svc -A -o yaml`` would show for the objects a scenario stands for (Istio's
helloworld sample), as plain JSON-able dicts. ``stickyctl lab`` writes them next to a running lab
(``services.yaml``); ``scripts/record_fixtures.py`` writes them into each fixture case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from stickyctl.lab import xds
from stickyctl.lab.xds import JSON

__all__ = [
    "COOKIE_LABEL",
    "HEADER_LABEL",
    "HW_COOKIE",
    "HW_HEADER",
    "HW_PLAIN",
    "helloworld_v1_deployment",
    "httproute_with_session_persistence",
    "istiod_deployment",
    "service",
    "version_service",
    "write_yaml",
    "yaml_text",
]

COOKIE_LABEL = "istio.io/persistent-session"
HEADER_LABEL = "istio.io/persistent-session-header"
"""istiod's default label keys (the same as stickyctl.istio.manifests'; kept here so that the lab's
supervisor does not import the manifest loader)."""


def service(
    name: str,
    namespace: str = xds.HELLOWORLD_NAMESPACE,
    *,
    port: int = xds.HELLOWORLD_PORT,
    session_labels: Mapping[str, str] | None = None,
    sample_labels: bool = True,
    selector: Mapping[str, str] | None = None,
) -> JSON:
    """A Service as the helloworld sample defines it (labels ``app``/``service``), plus ``session_labels``."""
    labels: dict[str, str] = {"app": name, "service": name} if sample_labels else {}
    labels.update(session_labels or {})
    metadata: JSON = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"ports": [{"port": port, "name": "http"}], "selector": dict(selector or {"app": name})},
    }


HW_HEADER = service("helloworld", session_labels={HEADER_LABEL: xds.HEADER_NAME})
HW_COOKIE = service("helloworld", session_labels={COOKIE_LABEL: xds.COOKIE_NAME})
HW_PLAIN = service("helloworld")


def version_service(version: str, labelled: bool, *, label: str = HEADER_LABEL, value: str = xds.HEADER_NAME) -> JSON:
    """``helloworld-<version>`` (samples/helloworld/gateway-api/helloworld-versions.yaml: no labels of
    its own), with the session label when ``labelled``."""
    return service(
        f"helloworld-{version}",
        session_labels={label: value} if labelled else None,
        sample_labels=False,
        selector={"app": "helloworld", "version": version},
    )


def helloworld_v1_deployment(pod_labels: Mapping[str, str]) -> JSON:
    labels = {"app": "helloworld", "version": "v1"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "helloworld-v1", "namespace": xds.HELLOWORLD_NAMESPACE, "labels": dict(labels)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": {**labels, **pod_labels}},
                "spec": {
                    "containers": [
                        {
                            "name": "helloworld",
                            "image": "registry.istio.io/release/examples-helloworld-v1:1.0",
                            "resources": {"requests": {"cpu": "100m"}},
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 5000}],
                        }
                    ]
                },
            },
        },
    }


def istiod_deployment() -> JSON:
    """istiod 1.24 as the default profile installs it: no PILOT_ENABLE_PERSISTENT_SESSION_FILTER."""
    labels = {"app": "istiod", "istio": "pilot", "istio.io/rev": "default"}
    env: list[JSON] = [
        {"name": "REVISION", "value": "default"},
        {"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
        {
            "name": "SERVICE_ACCOUNT",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.serviceAccountName"}},
        },
        {"name": "KUBECONFIG", "value": "/var/run/secrets/remote/config"},
        {"name": "PILOT_TRACE_SAMPLING", "value": "1"},
        {"name": "PILOT_ENABLE_ANALYSIS", "value": "false"},
        {"name": "CLUSTER_ID", "value": "Kubernetes"},
        {"name": "PLATFORM", "value": ""},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "istiod", "namespace": "istio-system", "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"istio": "pilot"}},
            "template": {
                "metadata": {"labels": {**labels, "sidecar.istio.io/inject": "false"}},
                "spec": {
                    "serviceAccountName": "istiod",
                    "containers": [
                        {
                            "name": "discovery",
                            "image": "docker.io/istio/pilot:1.24.0",
                            "args": [
                                "discovery",
                                "--monitoringAddr=:15014",
                                "--log_output_level=default:info",
                                "--domain",
                                "cluster.local",
                                "--keepaliveMaxServerConnectionAge",
                                "30m",
                            ],
                            "env": env,
                            "ports": [
                                {"containerPort": 8080, "protocol": "TCP"},
                                {"containerPort": 15010, "protocol": "TCP"},
                                {"containerPort": 15017, "protocol": "TCP"},
                            ],
                        }
                    ],
                },
            },
        },
    }


def gateway_api_gateway() -> JSON:
    """The Gateway API Gateway the HTTPRoute below attaches to, of Istio's built-in class ``istio``."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "helloworld-gateway", "namespace": xds.HELLOWORLD_NAMESPACE},
        "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
    }


def httproute_with_session_persistence() -> JSON:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "helloworld", "namespace": xds.HELLOWORLD_NAMESPACE},
        "spec": {
            "parentRefs": [{"name": "helloworld-gateway"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "Exact", "value": "/hello"}}],
                    "backendRefs": [{"name": "helloworld", "port": 5000}],
                    "sessionPersistence": {"sessionName": "session", "type": "Cookie"},
                }
            ],
        },
    }


def yaml_text(docs: Sequence[JSON]) -> str:
    """Multi-document YAML; strings holding ``:`` are double-quoted so no reader takes them for syntax
    (e.g. the invalid label value ``cart:/api``)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = '"' if ":" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    text: str = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=110)
    return text


def write_yaml(path: Path, docs: Sequence[JSON], *, header: str) -> None:
    path.write_text(header + yaml_text(docs))
