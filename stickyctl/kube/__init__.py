"""Live cluster access: gateway discovery, config dumps through port-forward or exec, snapshots.

Nothing here is imported by the offline commands (decode, explain, --help, ``check -f``): the
official ``kubernetes`` client (and websocket-client, which it depends on) are imported only
inside these modules, which only the live paths import.

Modules:

- :mod:`stickyctl.kube.client`     one API connection per kube context (GET only), errors that
  name the missing permission.
- :mod:`stickyctl.kube.streams`    websocket subresources: port-forward relay, exec.
- :mod:`stickyctl.kube.discovery`  gateway pods, Services, ServiceEntries, workloads, istiod.
- :mod:`stickyctl.kube.collect`    the whole read: a :class:`~stickyctl.kube.snapshot.Snapshot`.
- :mod:`stickyctl.kube.snapshot`   the snapshot on disk (``stickyctl dump``) and as check input.
- :mod:`stickyctl.kube.resolve`    ``decode --resolve`` against the API.
"""
