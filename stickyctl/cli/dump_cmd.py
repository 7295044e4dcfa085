"""`stickyctl dump`: record what a live check reads into a snapshot directory (for the CI gate)."""

from __future__ import annotations

import typer

from stickyctl.cli import live_opts
from stickyctl.cli.help import Command
from stickyctl.environment import Environment
from stickyctl.errors import check_seconds
from stickyctl.exitcodes import ExitStatus
from stickyctl.istio.labels import COOKIE_LABEL, HEADER_LABEL, LabelKeys

CLUSTER = "Cluster"
"""dump's help panel for the live flags (check's says they apply without -f/--admin-url/--sample)."""


def register(app: typer.Typer) -> None:
    @app.command(
        "dump",
        cls=Command,
        epilog=(
            "Exit status: 0 written; 2 usage error; 3 the cluster could not be reached (nothing written), or a pod "
            "could not be read (the snapshot is written all the same; see --allow-partial); 130 interrupted "
            "(nothing written)."
        ),
    )
    def dump(
        ctx: typer.Context,
        out_dir: str = typer.Option(
            ..., "--out-dir", metavar="DIR",
            help="Directory to create (must not exist, or be empty); written atomically.",
        ),
        timeout: float = typer.Option(10.0, "--timeout", metavar="SECONDS",
                                      help="Seconds to wait for each request (API server, Envoy admin)."),
        cookie_label: str = typer.Option(COOKIE_LABEL, "--cookie-label", metavar="KEY",
                                         help="Label key istiod reads for cookies."),
        header_label: str = typer.Option(HEADER_LABEL, "--header-label", metavar="KEY",
                                         help="Label key istiod reads for headers."),
        # dump reads the cluster only: its flags are not an alternative to -f/--admin-url there.
        namespace: str | None = live_opts.namespace(CLUSTER),
        all_namespaces: bool = live_opts.all_namespaces(CLUSTER),
        selector: str | None = live_opts.selector(CLUSTER),
        pods: list[str] = live_opts.pods(CLUSTER),
        contexts: list[str] = live_opts.contexts(CLUSTER),
        kubeconfig: str | None = live_opts.kubeconfig(CLUSTER),
        istio_namespace: str = live_opts.istio_namespace(CLUSTER),
        proxy_admin_port: int = live_opts.proxy_admin_port(CLUSTER),
        concurrency: int = live_opts.concurrency(CLUSTER),
        via: str = live_opts.via(CLUSTER),
        allow_partial: bool = live_opts.allow_partial(
            CLUSTER, help="Exit 0 when some pods cannot be read but one was (the snapshot is written either way; "
                          "`check --from` reports the unread pods as STK0001)."),
    ) -> None:
        """Record what `check` reads from the cluster into DIR; `check --from DIR` gives the same findings.

        DIR gets the pods' config dumps (never secrets), the Services and objects checked, istiod's settings.
        """
        env = ctx.ensure_object(Environment)
        check_seconds(timeout)
        live_opts.require_live_dependencies("stickyctl dump")
        from stickyctl.kube.collect import collect
        from stickyctl.kube.snapshot import check_out_dir, write_snapshot

        check_out_dir(out_dir)  # before minutes of reading, not after

        cluster = live_opts.live_options(
            namespace=namespace, all_namespaces=all_namespaces, selector=selector, pods=pods, contexts=contexts,
            kubeconfig=kubeconfig, istio_namespace=istio_namespace, proxy_admin_port=proxy_admin_port,
            concurrency=concurrency, via=via, timeout=timeout)
        snapshot = collect(cluster, LabelKeys(cookie=cookie_label, header=header_label), env)
        path = write_snapshot(snapshot, out_dir)
        failed = [t for t in snapshot.targets if t.error is not None]
        failed_clusters = [c for c in snapshot.clusters if c.error is not None]
        for t in failed:
            env.error(f"{t.label}: {t.error}")
        for c in failed_clusters:
            env.error(f"context/{c.context}: {c.error}")
        read = len(snapshot.targets) - len(failed)
        env.write(f"wrote {path}: {read} of {len(snapshot.targets)} pod(s) read, {len(snapshot.objects)} object(s), "
                  f"{len(snapshot.istiod)} istiod Deployment(s), taken {snapshot.taken_at}\n")
        if (failed or failed_clusters) and not (allow_partial and read):
            raise typer.Exit(int(ExitStatus.UNCHECKED))
