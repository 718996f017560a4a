"""`tradelib sweep GRID.yaml`: a parameter grid of backtests on dask.distributed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tradelib.cli.params import ConfigPathOption, LakeOption

SCHEDULER_ENV = "TRADELIB_SWEEP_SCHEDULER"


def sweep(
    grid: Annotated[
        Path,
        typer.Argument(
            exists=True,
            file_okay=True,
            dir_okay=False,
            help="Sweep definition: grid (dotted config keys -> values), seeds, markets, split.",
        ),
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=256,
            help="LocalCluster worker processes (0 = run here, one at a time; "
            "default: sweeps.workers of the config, 2).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            envvar=SCHEDULER_ENV,
            help="Run on an existing dask cluster (tcp://host:8786) instead of a LocalCluster "
            "(default: sweeps.scheduler of the config).",
        ),
    ] = None,
    sweep_id: Annotated[
        str | None,
        typer.Option("--sweep-id", help="Sweep id (default: the grid's, else its hash)."),
    ] = None,
    batch: Annotated[
        int, typer.Option(min=1, max=10_000, help="Points stored per lake write.")
    ] = 8,
    max_points: Annotated[
        int | None,
        typer.Option(min=1, help="Run at most this many points now (the rest on a later run)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Validate and count the points; run nothing.")
    ] = False,
    config: ConfigPathOption = None,
    lake: LakeOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
) -> None:
    """Run one backtest per grid point (not yet stored) and store them in the backtest tables.

    A re-run of the same sweep id adds nothing; an interrupted sweep, run again,
    runs only its missing points. Exits 2 on a bad grid, 1 when a point failed.
    """
    from tradelib.config import load_config
    from tradelib.lake.workspace import job_lake
    from tradelib.secrets import install_log_masking
    from tradelib.sweep import load_grid, run_sweep

    install_log_masking()
    cfg = load_config(config)
    spec = load_grid(grid, sweep_id=sweep_id, base=cfg if config is not None else None)
    if check:
        typer.echo(f"sweep {spec.sweep_id}: {len(spec.points)} points over {spec.keys or '-'}")
        return
    results = job_lake(cfg, lake or "")
    silent = quiet or os.environ.get("CI") == "true"
    result = run_sweep(
        spec,
        lake=results,
        workers=cfg.sweeps.workers if workers is None else workers,
        scheduler=scheduler or cfg.sweeps.scheduler,
        batch=batch,
        max_points=max_points,
        progress=None if silent else typer.echo,
    )
    for line in result.lines():
        typer.echo(line)
    typer.echo(f"results in {results.root} (backtest_sweeps, backtest_runs, ...)")
    if result.failed:
        raise typer.Exit(1)
