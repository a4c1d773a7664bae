"""``raylane cluster``: render and validate the KubeRay deployment, offline.

Server-side modules are imported inside the commands, so ``raylane --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_VALUES = Path("cluster/values/dev.yaml")

ValuesOption = Annotated[
    Path, typer.Option("--values", "-f", help="Values file of the stack to render.")
]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")
]


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def render_command(values: ValuesOption = DEFAULT_VALUES, out: OutOption = None) -> None:
    """Render every manifest of one stack as multi-document YAML."""
    from raylane.deploy.render import render_yaml
    from raylane.deploy.values import load_values

    try:
        text = render_yaml(load_values(values), source=values.as_posix())
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(exc) from exc
    _emit(text, out)


def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Manifest files (multi-document YAML).")],
    crds: Annotated[
        Path | None,
        typer.Option(
            help="KubeRay CRD folder (default: $RAYLANE_KUBERAY_CRDS, else ../shared/kuberay-crds)."
        ),
    ] = None,
    kubernetes_version: Annotated[
        str | None, typer.Option(help="Kubernetes version of the core schemas.")
    ] = None,
) -> None:
    """Validate manifests offline: KubeRay kinds against the CRDs, core kinds strictly."""
    from raylane.deploy.validate import KUBERNETES_VERSION, validate_files

    errors = validate_files(
        files, crd_dir=crds, kubernetes_version=kubernetes_version or KUBERNETES_VERSION
    )
    for error in errors:
        typer.echo(error)
    if errors:
        typer.echo(f"{len(errors)} error(s)", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"valid: {len(files)} file(s)")


def rayjob_command(
    job: Annotated[str, typer.Option(help="Job module under raylane.jobs, e.g. ingest.")],
    run_id: Annotated[str, typer.Option(help="Id of the Run this job executes.")],
    values: ValuesOption = DEFAULT_VALUES,
    gpu: Annotated[bool, typer.Option(help="Add the GPU worker group.")] = False,
    out: OutOption = None,
) -> None:
    """Render a RayJob that runs `python -m raylane.jobs.<job> --run-id <id>` once."""
    from raylane.deploy.render import render_rayjob, to_yaml
    from raylane.deploy.values import load_values

    try:
        manifest = render_rayjob(load_values(values), job=job, run_id=run_id, gpu=gpu)
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(exc) from exc
    _emit(to_yaml([manifest]), out)


def dashboard_command(out: OutOption = None) -> None:
    """Print the Grafana dashboard JSON (committed as cluster/grafana/raylane-dashboard.json)."""
    from raylane.deploy.dashboard import dashboard_json

    _emit(dashboard_json(), out)


def register(app: typer.Typer) -> None:
    """Add the ``cluster`` sub-app (render, validate, rayjob, dashboard) to ``app``."""
    cluster = typer.Typer(
        name="cluster",
        help="Render and validate the KubeRay deployment (offline).",
        no_args_is_help=True,
    )
    cluster.command("render")(render_command)
    cluster.command("validate")(validate_command)
    cluster.command("rayjob")(rayjob_command)
    cluster.command("dashboard")(dashboard_command)
    app.add_typer(cluster, name="cluster")
