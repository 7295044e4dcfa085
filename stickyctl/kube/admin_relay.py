"""One proxy's admin API through a port-forward, as a local URL (``stickyctl why -n NS [--pod P]``).

The admin listener is bound to localhost inside the pod, so the apiserver's pod proxy cannot reach
it; like istioctl, stickyctl port-forwards to it (``create pods/portforward``) and puts a local relay
socket in front, so the HTTP side is the same GET-only AdminClient as ``--admin-url``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from stickyctl.kube.client import KubeError, connect
from stickyctl.kube.discovery import select_pods


@contextlib.contextmanager
def proxy_admin_url(*, namespace: str | None, pod: str | None, context: str | None, kubeconfig: str | None,
                    port: int, timeout: float) -> Iterator[tuple[str, str]]:
    """Yield (local admin URL, ``pod/NS/NAME``) for ``pod``, or for the first gateway pod of the
    namespace (in name order) when no pod is named."""
    from stickyctl.kube.streams import PortForwardRelay

    cluster = connect(kubeconfig=kubeconfig, context=context, timeout=timeout)
    try:
        ns = namespace or cluster.namespace
        selection = select_pods(cluster, namespace=ns, selector=None, names=[pod] if pod else [])
        if selection.missing:
            raise KubeError(f"pod {ns}/{pod} not found")
        if not selection.pods:
            raise KubeError(f"no gateway pods in namespace {ns} (an istio-proxy container running as a router); "
                            "name one with --pod")
        chosen = selection.pods[0]
        if not chosen.has_proxy:
            raise KubeError(f"pod {chosen.namespace}/{chosen.name} has no istio-proxy container: no Envoy to read")
        relay = PortForwardRelay(cluster, chosen.namespace, chosen.name, port)
        try:
            yield relay.url, f"pod/{chosen.namespace}/{chosen.name}"
        finally:
            relay.close()
    finally:
        cluster.close()
