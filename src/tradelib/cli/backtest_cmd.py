"""`tradelib backtest`: the real jobs over years of simulated trading days, in memory."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradelib.cli.params import ConfigPathOption, LakeOption, check_name, choice, parse_day

if TYPE_CHECKING:
    from tradelib.lake import Lake

MAX_BACKTEST_DAYS = 252 * 30


SourceOpt = Annotated[
    str,
    typer.Option(
        parser=choice("sim", "history", "lake"),
        help="Market: sim = the simulated market (regime-switching, any seed); history = "
        "option quotes MODELLED over your daily OHLC files and a volatility index (--history "
        "DIR, or without it the bars imported into the lake: `tradelib lake import-history`); "
        "lake = replay a recorded day (--day) from the lake and compare with what it did.",
    ),
]

HistoryOpt = Annotated[
    Path | None,
    typer.Option(
        exists=True,
        file_okay=False,
        dir_okay=True,
        help="Folder of SYMBOL.csv/.parquet daily bars (Date,Open,High,Low,Close[,Adj Close,"
        "Volume]) and VIX.csv, for --source history (default: the lake's imported bars).",
    ),
]

StartOpt = Annotated[
    date | None,
    typer.Option(
        help="First trading day, YYYY-MM-DD (history; default: after the warm-up bars).",
        parser=parse_day,
        metavar="YYYY-MM-DD",
    ),
]

DaysOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=MAX_BACKTEST_DAYS,
        help="Trading days to run (252 = a year; history: at most, default all to --end).",
    ),
]

EndOpt = Annotated[
    date | None,
    typer.Option(
        help="Last trading day, YYYY-MM-DD (default: yesterday).",
        parser=parse_day,
        metavar="YYYY-MM-DD",
    ),
]

DayOpt = Annotated[
    date | None,
    typer.Option(
        help="The recorded day to replay, YYYY-MM-DD (--source lake).",
        parser=parse_day,
        metavar="YYYY-MM-DD",
    ),
]

SeedOpt = Annotated[
    int | None, typer.Option(min=0, help="Market and fill seed (default: simulation.seed).")
]

CyclesOpt = Annotated[int, typer.Option(min=1, max=78, help="Monitoring cycles per trading day.")]

RunIdOpt = Annotated[
    str | None,
    typer.Option(
        "--run-id", callback=lambda v: None if v is None else check_name(v), help="Run id."
    ),
]

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")]


def backtest(
    source: SourceOpt = "sim",
    history: HistoryOpt = None,
    start: StartOpt = None,
    days: DaysOpt = None,
    end: EndOpt = None,
    day: DayOpt = None,
    seed: SeedOpt = None,
    cycles: CyclesOpt = 5,
    run_id: RunIdOpt = None,
    config: ConfigPathOption = None,
    lake: LakeOption = None,
    quiet: QuietOpt = False,
) -> None:
    """Backtest the configured rules day by day through the real jobs; results go to the lake.

    Exits 1 when the book breaks an invariant (the day, strategy and numbers are
    printed) or a replay differs from the live day, and 2 on bad input.
    """
    from tradelib.backtest.run import run_backtest
    from tradelib.config import load_config
    from tradelib.errors import BacktestDataError, BacktestError, BookInvariantError
    from tradelib.lake.workspace import job_lake
    from tradelib.secrets import install_log_masking

    install_log_masking()
    _check_sources(source, history, start, day)
    cfg = load_config(config)
    results = job_lake(cfg, lake or "")
    silent = quiet or os.environ.get("CI") == "true"
    if day is not None:
        _replay(results, day, silent)
        return
    try:
        result = run_backtest(
            cfg,
            days=days if days is not None or source == "history" else 252,
            end=end,
            start=start,
            history=(history or results) if source == "history" else None,
            seed=seed,
            cycles_per_day=cycles,
            run_id=run_id,
            results=results,
            progress=None if silent else typer.echo,
        )
    except BookInvariantError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except (BacktestError, BacktestDataError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"run id: {result.run_id}")
    for line in result.lines():
        typer.echo(line)
    typer.echo(f"results in {results.root} (backtest_runs, backtest_trades, backtest_equity)")


def _check_sources(source: str, history: Path | None, start: date | None, day: date | None) -> None:
    """Exit 2 naming the option when the market options do not fit together."""
    problems = (
        (
            history is not None and source != "history",
            "--history is for --source history",
        ),
        (
            start is not None and source != "history",
            "--start is for --source history (sim runs --days up to --end)",
        ),
        (
            (source == "lake") != (day is not None),
            "--source lake needs --day DATE (and --day is for it)",
        ),
    )
    for bad, message in problems:
        if bad:
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2)


def _replay(lake: Lake, day: date, quiet: bool) -> None:
    """Replay ``day`` from ``lake``; exit 1 without parity, 2 when the day cannot be replayed."""
    from tradelib.backtest.replay import ReplayError, replay_day
    from tradelib.stores.replay import ReplayDataError

    try:
        result = replay_day(lake, day, progress=None if quiet else typer.echo)
    except (ReplayError, ReplayDataError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for line in result.lines():
        typer.echo(line)
    if not result.parity:
        raise typer.Exit(1)
