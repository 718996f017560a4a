"""`tradelib lake ...` commands: list, show and maintain the Delta tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from tradelib.cli.params import MAX_RETENTION_HOURS, MAX_SHOW_ROWS
from tradelib.cli.params import LakeOption as _LakeOption
from tradelib.errors import TradelibError
from tradelib.lake import TABLES, Lake

app = typer.Typer(help="Inspect and maintain the Delta Lake tables.", no_args_is_help=True)

FALLBACK_LAKE = "data/lake"

LakeOption = _LakeOption


def _open_lake(uri: str | None) -> Lake:
    """Open the lake at ``uri``, or the configured one, or ``data/lake``.

    An explicit object-store ``uri`` takes the config's endpoint, region and path
    style when a config loads (credentials always come from the environment).
    """
    from tradelib.config import load_config

    try:
        cfg = load_config()
    except TradelibError as exc:
        if uri is not None:
            return Lake(uri)  # an explicit lake needs no config file
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    return Lake.open(uri, cfg.storage)


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@app.command("ls")
def ls(lake: LakeOption = None) -> None:
    """List every table with its rows, version, files and size."""
    opened = _open_lake(lake)
    typer.echo(f"lake: {opened.root}")
    typer.echo(f"{'table':<24} {'rows':>10} {'version':>8} {'files':>6} {'size':>10}")
    for info in opened.tables():
        if not info.exists:
            typer.echo(f"{info.name:<24} {'(not created yet)':>37}")
            continue
        typer.echo(
            f"{info.name:<24} {info.rows:>10,} {info.version:>8} {info.files:>6} "
            f"{_human_size(info.size_bytes):>10}"
        )


@app.command("show")
def show(
    table: Annotated[str, typer.Argument(help="Table name.")],
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=MAX_SHOW_ROWS, help="Rows to show.")
    ] = 20,
    lake: LakeOption = None,
) -> None:
    """Print the newest rows of TABLE (by its time column)."""
    if table not in TABLES:
        raise typer.BadParameter(
            f"unknown table '{table}'; known tables: {', '.join(sorted(TABLES))}",
            param_hint="TABLE",
        )
    opened = _open_lake(lake)
    spec = TABLES[table]
    frame = (
        opened.read(table).sort(spec.time_column, descending=True, nulls_last=True).head(limit)
    ).collect()
    if not opened.exists(table):
        typer.echo(f"table '{table}' has not been created yet in {opened.root}")
    with pl.Config(tbl_rows=limit, tbl_cols=-1, fmt_str_lengths=40, tbl_width_chars=200):
        typer.echo(str(frame))


@app.command("maintain")
def maintain(
    lake: LakeOption = None,
    retention_hours: Annotated[
        int,
        typer.Option(
            min=0,
            max=MAX_RETENTION_HOURS,
            help="Vacuum files unreferenced for longer than this.",
        ),
    ] = 168,
) -> None:
    """Compact, checkpoint and vacuum every existing table."""
    opened = _open_lake(lake)
    reports = opened.maintain(retention_hours=retention_hours)
    if not reports:
        typer.echo(f"no tables yet in {opened.root}")
    for report in reports:
        typer.echo(
            f"{report.table:<24} files {report.files_before} -> {report.files_after}, "
            f"rows {report.rows:,}, version {report.version}, "
            f"vacuumed {report.vacuumed_files} file(s)"
        )


@app.command("import-history")
def import_history_cmd(
    folder: Annotated[
        Path,
        typer.Argument(
            exists=True,
            file_okay=False,
            dir_okay=True,
            help="Folder of SYMBOL.csv/.parquet daily bars (Date,Open,High,Low,Close[,Adj Close,"
            "Volume]) and VIX.csv.",
        ),
    ],
    lake: LakeOption = None,
) -> None:
    """Validate a folder of daily bars and keep it in the lake for backtests and sweeps.

    Every machine and sweep worker then reads the same history
    (`tradelib backtest --source history` without --history, a sweep market
    `source: history` without `folder`). Re-importing adds nothing; a corrected file
    replaces its rows. Nothing is written when a file is invalid (exit 2).
    """
    from tradelib.backtest.history_store import import_history
    from tradelib.errors import BacktestDataError

    opened = _open_lake(lake)
    try:
        result = import_history(opened, folder)
    except BacktestDataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for line in result.lines():
        typer.echo(line)
