"""`stickyctl check`: check recorded config dumps (and the Services they serve)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from stickyctl.catalog import Severity
from stickyctl.cli import env as envmod
from stickyctl.errors import UsageError
from stickyctl.istio.manifests import COOKIE_LABEL, HEADER_LABEL, LabelKeys

SAMPLES = ("helloworld",)

_THRESHOLDS = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO, "none": None}


def sample_paths(name: str) -> tuple[str, str]:
    """The bundled sample's dump and Services (package data, so it works after a plain pip install)."""
    if name not in SAMPLES:
        raise UsageError(f"--sample {name!r}: unknown sample (available: {', '.join(SAMPLES)})")
    base = resources.files("stickyctl") / "samples" / name
    return str(Path(str(base / "dump.json"))), str(Path(str(base / "services.yaml")))


def _complete_sample(incomplete: str) -> list[str]:
    return [s for s in SAMPLES if s.startswith(incomplete)]


def register(app: typer.Typer) -> None:
    @app.command(
        "check",
        epilog=(
            "Exit status: 0 nothing at or above the failure threshold; 1 findings at or above it; "
            "2 usage error; 3 a target could not be checked (STK0001/STK0002)."
        ),
    )
    def check(
        files: list[str] = typer.Option(
            [], "-f", "--file", metavar="FILE",
            help="Envoy config dump (admin /config_dump JSON/YAML, istioctl proxy-config output); repeatable; "
                 "'-' reads stdin.",
        ),
        admin_urls: list[str] = typer.Option(
            [], "--admin-url", metavar="URL",
            help="A running Envoy's admin API (e.g. after `kubectl port-forward POD 15000`); GET only, never "
                 "secrets; repeatable.",
        ),
        timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for each admin request."),
        services: list[str] = typer.Option(
            [], "--services", metavar="FILE",
            help="Kubernetes manifests with the Services/ServiceEntries (kubectl get svc -A -o yaml, GitOps "
                 "files); repeatable. Without it, label agreement is not checked.",
        ),
        istiod: list[str] = typer.Option(
            [], "--istiod", metavar="FILE", help="istiod Deployment manifest(s), to check the persistent-session flag."
        ),
        sample: str | None = typer.Option(
            None, "--sample", help="Check a bundled recorded sample instead of files (helloworld).",
            autocompletion=_complete_sample,
        ),
        cookie_label: str = typer.Option(COOKIE_LABEL, "--cookie-label", help="Label key istiod reads for cookies."),
        header_label: str = typer.Option(HEADER_LABEL, "--header-label", help="Label key istiod reads for headers."),
        output: str = typer.Option("table", "-o", "--output", help="table | wide | json | yaml"),
        query: str | None = typer.Option(None, "--query", help="JMESPath expression applied to the json/yaml output."),
        failure_threshold: str = typer.Option(
            "error", "--failure-threshold",
            help="Lowest severity that makes the exit status 1: error|warning|info|none.",
        ),
        suppress: list[str] = typer.Option(
            [], "--suppress", metavar="CODE[=GLOB]",
            help="Drop findings of CODE (optionally only those whose resource_id matches GLOB); repeatable.",
        ),
        color: str = typer.Option("auto", "--color", help="auto | always | never (NO_COLOR/FORCE_COLOR honoured)."),
    ) -> None:
        """Check config dumps for sticky-session mistakes: filter, per-route config, clusters, labels."""
        from stickyctl.checks.engine import CheckOptions, Suppression
        from stickyctl.checks.engine import check as run
        from stickyctl.report.render import render

        env = envmod.current()
        if color not in ("auto", "always", "never"):
            raise UsageError(f"--color {color!r}: expected auto, always or never")
        env.color = color
        if failure_threshold not in _THRESHOLDS:
            raise UsageError(f"--failure-threshold {failure_threshold!r}: expected error, warning, info or none")
        if query is not None and output not in ("json", "yaml"):
            raise UsageError("--query applies to -o json or -o yaml")
        dumps = list(files)
        svc_files = list(services)
        if sample is not None:
            dump, svc = sample_paths(sample)
            dumps.append(dump)
            svc_files.append(svc)
        if not dumps and not admin_urls:
            raise UsageError(
                "no input: give -f DUMP (repeatable, '-' for stdin), --admin-url URL, or --sample helloworld"
            )
        if timeout <= 0:
            raise UsageError("--timeout must be positive")
        if sum(1 for p in [*dumps, *svc_files, *istiod] if p == "-") > 1:
            raise UsageError("stdin ('-') can be read only once")
        options = CheckOptions(
            dumps=dumps,
            admin_urls=list(admin_urls),
            timeout=timeout,
            services=svc_files,
            istiod=list(istiod),
            keys=LabelKeys(cookie=cookie_label, header=header_label),
            failure_threshold=_THRESHOLDS[failure_threshold],
            suppress=[Suppression.parse(s) for s in suppress],
        )
        report = run(options)
        for f in report.findings:
            if f.code in ("STK0001", "STK0002"):
                env.error(f.message)
        render(report, output, env, query=query)
        raise typer.Exit(int(report.exit_status))
