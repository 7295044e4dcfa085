"""Read a live cluster into a :class:`~stickyctl.kube.snapshot.Snapshot`.

One API connection per ``--context``; the gateway pods, the Services (and, when installed and
allowed, ServiceEntries, Gateway API routes, workloads) and istiod; then every pod's config dump,
fetched concurrently (``--concurrency``) through a port-forward relay (or ``--via exec``) with the
GET-only ``AdminClient``. A pod that cannot be read becomes a target with an error (STK0001) and
the others are still read; a cluster that cannot be reached at all ends the run with one line
(with several contexts: that cluster becomes STK0001 and the others are read).
"""

from __future__ import annotations

import functools
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from stickyctl import __version__
from stickyctl.errors import InputError
from stickyctl.istio.labels import LabelKeys
from stickyctl.kube.client import Cluster, KubeError, connect
from stickyctl.kube.discovery import ObjectsRead, PodInfo, PodSelection, read_objects, select_pods, server_version
from stickyctl.kube.options import LiveOptions
from stickyctl.kube.snapshot import ClusterRecord, Snapshot, TargetRecord
from stickyctl.sanitize import scrub

if TYPE_CHECKING:
    import httpx

    from stickyctl.environment import Environment

T = TypeVar("T")
R = TypeVar("R")


# ---------------------------------------------------------------------------------------------
# Bounded concurrency that Ctrl-C can interrupt


def run_bounded(items: Sequence[T], fn: Callable[[T], R], *, concurrency: int,
                on_done: Callable[[int, T], None] | None = None,
                check: Callable[[], None] | None = None) -> list[R]:
    """``[fn(item) for item in items]`` on at most ``concurrency`` daemon threads, in order.

    ``fn`` must not raise (it reports failures in its result). The calling thread only waits, in
    short steps, so a KeyboardInterrupt ends the run at once; the daemon threads die with the process.
    ``check`` is called at every step: what it raises ends the wait (e.g. work running alongside failed).
    """
    results: list[Any] = [None] * len(items)
    if not items:
        if check is not None:
            check()
        return []
    todo: queue.Queue[int] = queue.Queue()
    for i in range(len(items)):
        todo.put(i)
    done: queue.Queue[int] = queue.Queue()

    def worker() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:  # fn reports its own failures; this only keeps the run from hanging
                results[i] = exc
            finally:
                done.put(i)

    for n in range(min(concurrency, len(items))):
        threading.Thread(target=worker, name=f"stickyctl fetch {n}", daemon=True).start()
    finished = 0
    while finished < len(items):
        if check is not None:
            check()
        try:
            i = done.get(timeout=0.1)
        except queue.Empty:
            continue
        finished += 1
        if isinstance(results[i], BaseException):
            raise results[i]
        if on_done is not None:
            on_done(i, items[i])
    return results


class _InBackground(Generic[R]):
    """``fn()`` on a daemon thread; its result (or what it raised) is taken later."""

    def __init__(self, fn: Callable[[], R], name: str) -> None:
        self._result: R | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, args=(fn,), name=name, daemon=True).start()

    def _run(self, fn: Callable[[], R]) -> None:
        try:
            self._result = fn()
        except BaseException as exc:  # handed to the thread that takes the result
            self._error = exc
        finally:
            self._done.set()

    def raise_if_failed(self) -> None:
        if self._done.is_set() and self._error is not None:
            raise self._error

    def result(self) -> R:
        while not self._done.wait(0.1):  # in short steps: Ctrl-C still ends the run at once
            pass
        self.raise_if_failed()
        return cast("R", self._result)


# ---------------------------------------------------------------------------------------------
# One pod's config dump


class ExecTransport:
    """An httpx transport that answers each GET by running ``pilot-agent request GET <path>`` in the
    pod's istio-proxy container (``--via exec``, for clusters that forbid port-forward)."""

    def __init__(self, cluster: Cluster, namespace: str, pod: str, *, port: int, timeout: float) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.pod = pod
        self.port = port
        self.timeout = timeout

    def build(self) -> httpx.BaseTransport:
        import httpx

        outer = self

        class _Transport(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                return outer.handle(request)

        return _Transport()

    def handle(self, request: httpx.Request) -> httpx.Response:
        import httpx

        from stickyctl.kube.streams import exec_command

        if request.method != "GET":  # AdminClient never sends anything else; this never will
            raise httpx.UnsupportedProtocol(f"refusing {request.method}: GET only")
        target = request.url.raw_path.decode("ascii").lstrip("/")
        command = ["pilot-agent", "request", "GET", target]
        if self.port != 15000:
            command += ["--debug-port", str(self.port)]
        result = exec_command(self.cluster, self.namespace, self.pod, "istio-proxy", command, timeout=self.timeout)
        if result.exit_code == 0:
            return httpx.Response(200, content=result.stdout, request=request)
        text = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        m = re.search(r"status code:? (\d{3})", text)
        if m:
            return httpx.Response(int(m.group(1)), content=text.encode(), request=request)
        first = text.splitlines()[0] if text else f"exit status {result.exit_code}"
        raise KubeError(f"pilot-agent request GET {target} in pod {self.namespace}/{self.pod} failed: {first}")


def _bootstrap_identity(configs: list[Any]) -> tuple[str | None, str | None, str | None]:
    from stickyctl.envoy.model import identity_from_node

    for entry in configs:
        if isinstance(entry, dict) and "Bootstrap" in str(entry.get("@type")):
            node = (entry.get("bootstrap") or {}).get("node")
            if isinstance(node, dict):
                ident = identity_from_node(node, "")
                return ident.node_id, ident.istio_version, ident.envoy_version
    return None, None, None


def fetch_target(cluster: Cluster, target: TargetRecord, *, has_proxy: bool, via: str, port: int,
                 timeout: float) -> TargetRecord:
    """Read one pod's config dump into ``target`` (configs, identity) or set its error."""
    from stickyctl.envoy.admin import AdminClient

    if not has_proxy:
        target.error = "has no istio-proxy container: not an Istio proxy, no Envoy to read"
        return target
    if target.phase not in ("Running", None):
        target.error = f"is {target.phase}: no running Envoy to read"
        return target
    relay = None
    client = None
    try:
        if via == "exec":
            transport = ExecTransport(cluster, target.namespace, target.pod, port=port, timeout=timeout).build()
            client = AdminClient(f"http://localhost:{port}", timeout=timeout, transport=transport, label=target.label)
        else:
            from stickyctl.kube.streams import PortForwardRelay

            relay = PortForwardRelay(cluster, target.namespace, target.pod, port)
            client = AdminClient(relay.url, timeout=timeout, label=target.label)
        configs = client.fetch_configs()
    except InputError as exc:
        # Behind the relay, what the port-forward saw says more than "server disconnected".
        target.error = relay.errors[0] if relay is not None and relay.errors else exc.detail
        if "timed out" in exc.detail and relay is not None and not relay.errors:
            target.error = f"{exc.detail} (--timeout {timeout:g}s) through the port-forward to port {port}"
        return target
    except KubeError as exc:
        target.error = str(exc)
        return target
    except Exception as exc:  # never a traceback, never a silent pass
        target.error = f"unexpected error: {type(exc).__name__}: {exc}"
        return target
    finally:
        if client is not None:
            client.close()
        if relay is not None:
            relay.close()
    target.configs = configs
    target.node_id, target.istio_version, target.envoy_version = _bootstrap_identity(configs)
    return target


# ---------------------------------------------------------------------------------------------
# The whole read


def _target(cluster: Cluster, pod: PodInfo, multi: bool) -> TargetRecord:
    label = f"pod/{pod.namespace}/{pod.name}"
    return TargetRecord(
        label=f"{cluster.context}:{label}" if multi else label,
        context=cluster.context, namespace=pod.namespace, pod=pod.name, node=pod.node, pod_ip=pod.pod_ip,
        phase=pod.phase, ready=pod.ready, revision=pod.revision, proxy_image=pod.proxy_image,
    )


def _no_gateways(cluster: Cluster, opts: LiveOptions, namespace: str | None) -> str:
    where = f"namespace {namespace}" if namespace else "any namespace"
    if opts.selector:
        return f"no pods match -l {opts.selector!r} in {where} (context {cluster.context})"
    hint = ""
    if opts.namespace is None and namespace is not None:
        hint = f" ({namespace} is the context's namespace: pass -n istio-ingress, -n istio-system or -A)"
    return (f"no gateway pods in {where} (context {cluster.context}): no pod's istio-proxy container runs "
            f"`proxy router`{hint}; use -l SELECTOR or --pod NAME to pick proxies")


def collect(opts: LiveOptions, keys: LabelKeys, env: Environment | None = None) -> Snapshot:
    opts.validate()
    contexts: list[str | None] = list(opts.contexts) or [None]
    multi = len(contexts) > 1
    snapshot = Snapshot(
        taken_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        stickyctl_version=__version__,
        label_keys={"cookie": keys.cookie, "header": keys.header},
    )
    jobs: list[tuple[Cluster, TargetRecord, bool]] = []
    opened: list[Cluster] = []
    # Per reachable cluster: its record, the pods selected, and its objects being read.
    reading: list[tuple[Cluster, ClusterRecord, PodSelection, _InBackground[ObjectsRead]]] = []
    failed: set[str] = set()
    """Contexts whose objects could not be read (several contexts): their pods are not fetched."""
    for name in contexts:
        cluster = connect(kubeconfig=opts.kubeconfig, context=name, timeout=opts.timeout)
        opened.append(cluster)
        namespace = None if opts.all_namespaces else (opts.namespace or cluster.namespace)
        record = ClusterRecord(context=cluster.context, server=cluster.server, namespace=namespace,
                               selector=opts.selector, pods=list(opts.pods), istio_namespace=opts.istio_namespace,
                               via=opts.via, proxy_admin_port=opts.proxy_admin_port)
        snapshot.clusters.append(record)
        try:
            record.kubernetes_version = server_version(cluster)
            selection = select_pods(cluster, namespace=namespace, selector=opts.selector, names=opts.pods)
            if not selection.pods and not selection.missing:
                raise KubeError(_no_gateways(cluster, opts, namespace))
        except KubeError as exc:
            if not multi:
                raise
            record.error = str(exc)
            continue
        # The cluster's objects (a dozen API lists, one after the other) are read while the pods'
        # config dumps are fetched: both mostly wait on the network, and a fleet's fetches then start
        # at once instead of after them.
        read = _InBackground(functools.partial(read_objects, cluster, istio_namespace=opts.istio_namespace,
                                               keys=keys), f"stickyctl read {cluster.context}")
        reading.append((cluster, record, selection, read))
        for pod in selection.pods:
            jobs.append((cluster, _target(cluster, pod, multi), pod.has_proxy))

    def run(job: tuple[Cluster, TargetRecord, bool]) -> TargetRecord:
        cluster, target, has_proxy = job
        if cluster.context in failed:
            return target
        done = fetch_target(cluster, target, has_proxy=has_proxy, via=opts.via, port=opts.proxy_admin_port,
                            timeout=opts.timeout)
        if done.error is not None:  # it is written to snapshots and reports: never a credential
            done.error = scrub(done.error)
        return done

    def check_reads() -> None:
        for cluster, _record, _selection, read in reading:
            try:
                read.raise_if_failed()
            except KubeError:
                if not multi:
                    raise  # one cluster: its objects cannot be read, the run ends now as before
                failed.add(cluster.context)

    try:
        with _progress(env, len(jobs)) as advance:
            run_bounded(jobs, run, concurrency=opts.concurrency, on_done=lambda _i, job: advance(job[1]),
                        check=check_reads)
        # In context order, as when each cluster was read before the next.
        for cluster, record, selection, read in reading:
            try:
                objects = read.result()
            except KubeError as exc:
                if not multi:
                    raise
                record.error = str(exc)
                continue
            prefix = f"{cluster.context}: " if multi else ""
            for w in objects.warnings:
                snapshot.notes.append(scrub(prefix + w))
                if env is not None:
                    env.warn(prefix + w)
            snapshot.objects.extend(objects.objects)
            snapshot.istiod.extend(objects.istiod)
            for ns, pod_name in selection.missing:
                label = f"pod/{ns}/{pod_name}"
                snapshot.targets.append(TargetRecord(label=f"{cluster.context}:{label}" if multi else label,
                                                     context=cluster.context, namespace=ns, pod=pod_name,
                                                     error="no such pod"))
            snapshot.targets.extend(target for c, target, _proxy in jobs if c is cluster)
    finally:
        for cluster in opened:
            cluster.close()
    return snapshot


class _NoProgress:
    def __enter__(self) -> Callable[[TargetRecord], None]:
        return lambda _t: None

    def __exit__(self, *exc: object) -> None:
        return None


class _RichProgress:
    """A transient progress bar on stderr (terminals only) while pods are read."""

    def __init__(self, env: Environment, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("reading config dumps"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.description}"), TimeElapsedColumn(),
                                  console=env.err_console(), transient=True)
        self._task = self._progress.add_task("", total=total)
        self._started = time.monotonic()

    def __enter__(self) -> Callable[[TargetRecord], None]:
        self._progress.start()

        def advance(t: TargetRecord) -> None:
            self._progress.update(self._task, advance=1, description=t.label)

        return advance

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


def _progress(env: Environment | None, total: int) -> _NoProgress | _RichProgress:
    if env is None or total < 2:
        return _NoProgress()
    isatty = getattr(env.stderr, "isatty", None)
    if not (callable(isatty) and isatty()):
        return _NoProgress()
    return _RichProgress(env, total)
