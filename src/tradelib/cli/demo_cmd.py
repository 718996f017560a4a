"""`tradelib demo`: run the main job on the embedded simulated market."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer


def demo(
    config: Annotated[
        Path | None, typer.Option(help="Config file (default: config/trading_config.yaml).")
    ] = None,
    lake: Annotated[
        str | None, typer.Option(help="Lake root or URI (default: storage.lake_uri).")
    ] = None,
    day: Annotated[
        str | None, typer.Option(help="Trading day to simulate, YYYY-MM-DD (default: the latest).")
    ] = None,
    broker: Annotated[
        str,
        typer.Option(
            help="sim: SimBroker directly; ib: through ib_async and the simulated TWS gateway."
        ),
    ] = "sim",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
) -> None:
    """Simulate one trading day on the embedded market and record it in the lake."""
    from tradelib.config import load_config
    from tradelib.jobs.demo import run_demo
    from tradelib.lake import Lake
    from tradelib.secrets import install_log_masking

    install_log_masking()
    cfg = load_config(config)
    if cfg.ib.mode != "sim":
        raise typer.BadParameter(
            f"the demo runs on the simulated market only (ib.mode is {cfg.ib.mode!r})"
        )
    target = Lake(lake) if lake else Lake.from_config(cfg)
    sim_day = date.fromisoformat(day) if day else None
    if broker not in ("sim", "ib"):
        raise typer.BadParameter(f"--broker must be sim or ib, got {broker!r}")
    summary = run_demo(
        cfg,
        lake=target,
        day=sim_day,
        broker_kind=broker,
        progress=(lambda _m: None) if quiet else typer.echo,
    )
    for line in summary.lines():
        typer.echo(line)
