"""The kubectl-style flags of a live check or dump (-n, -A, -l, --pod, --context, …), checked.

Apart from stickyctl.kube.collect so that the command line can hold them without importing the
cluster code: `check -f` never reads a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stickyctl.errors import UsageError, check_seconds

VIAS = ("port-forward", "exec")


@dataclass
class LiveOptions:
    """The kubectl-style flags of a live check or dump."""

    namespace: str | None = None
    all_namespaces: bool = False
    selector: str | None = None
    pods: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    kubeconfig: str | None = None
    istio_namespace: str = "istio-system"
    proxy_admin_port: int = 15000
    timeout: float = 10.0
    concurrency: int = 8
    via: str = "port-forward"

    def validate(self) -> None:
        if self.all_namespaces and self.pods:
            raise UsageError("--pod names a pod in one namespace: use -n NAMESPACE, not -A")
        if self.all_namespaces and self.namespace:
            raise UsageError("-A/--all-namespaces and -n/--namespace exclude each other")
        if self.pods and self.selector:
            raise UsageError("--pod and -l/--selector exclude each other")
        if self.via not in VIAS:
            raise UsageError(f"--via {self.via!r}: expected port-forward or exec")
        if not 0 < self.proxy_admin_port < 65536:
            raise UsageError("--proxy-admin-port must be a TCP port (1-65535)")
        if self.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        check_seconds(self.timeout)
        if len(set(self.contexts)) != len(self.contexts):
            raise UsageError("--context: a context is named twice")
