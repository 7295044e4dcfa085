"""`stickyctl dump`: record what a live check reads into a snapshot directory (for the CI gate)."""

from __future__ import annotations

import typer

from stickyctl.cli import env as envmod
from stickyctl.cli import live_opts
from stickyctl.errors import check_seconds
from stickyctl.exitcodes import ExitStatus
from stickyctl.istio.labels import COOKIE_LABEL, HEADER_LABEL, LabelKeys


def register(app: typer.Typer) -> None:
    @app.command(
        "dump",
        cls=live_opts.LiveDumpCommand,
        epilog=(
            "Exit status: 0 written; 2 usage error; 3 the cluster could not be reached (nothing written), or a pod "
            "could not be read (the snapshot is written all the same; see --allow-partial); 130 interrupted "
            "(nothing written)."
        ),
    )
    def dump(
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
    ) -> None:
        """Record what `check` reads from the cluster into DIR; `check --from DIR` gives the same findings.

        DIR gets the pods' config dumps (never secrets), the Services and objects checked, istiod's settings.
        """
        env = envmod.current()
        f = live_opts.flags()
        check_seconds(timeout)
        live_opts.require_live_dependencies("stickyctl dump")
        from stickyctl.kube.collect import collect
        from stickyctl.kube.snapshot import check_out_dir, write_snapshot

        check_out_dir(out_dir)  # before minutes of reading, not after

        snapshot = collect(live_opts.live_options(f, timeout), LabelKeys(cookie=cookie_label, header=header_label),
                           env)
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
        if (failed or failed_clusters) and not (f.get("allow_partial") and read):
            raise typer.Exit(int(ExitStatus.UNCHECKED))
