"""`tradelib alerts test | ls`: send a test alert through every channel; list recent alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradelib.cli.params import ConfigPathOption as ConfigOption
from tradelib.cli.params import LakeOption, finite

if TYPE_CHECKING:
    from tradelib.config import TradingConfig
    from tradelib.lake import Lake

app = typer.Typer(help="Send a test alert or list recent alerts.", no_args_is_help=True)


def _open(config: Path | None, lake: str | None) -> tuple[TradingConfig, Lake]:
    from tradelib.config import load_config
    from tradelib.lake import Lake

    cfg = load_config(config)
    return cfg, (Lake(lake) if lake is not None else Lake.from_config(cfg))


@app.command("test")
def test(config: ConfigOption = None, lake: LakeOption = None) -> None:
    """Send a test message through every configured channel; exit 1 unless one delivered."""
    from tradelib.alerts import Alerter, AlertStatus

    cfg, opened = _open(config, lake)
    alerter = Alerter.from_config(cfg, opened)
    if not alerter.channels:
        typer.echo("no alert channel configured (alerts.email / alerts.webhooks)", err=True)
    record = alerter.test()
    typer.echo(record.summary())
    if record.status is not AlertStatus.SENT or record.reason:
        raise typer.Exit(1)


@app.command("ls")
def ls(
    hours: Annotated[
        float, typer.Option("--hours", help="How far back.", callback=finite(0, 24 * 366))
    ] = 24.0,
    config: ConfigOption = None,
    lake: LakeOption = None,
) -> None:
    """List the alerts of the last N hours (newest first), with what became of each."""
    from tradelib.alerts import read_alerts

    _, opened = _open(config, lake)
    frame = read_alerts(opened, datetime.now(UTC) - timedelta(hours=hours))
    if frame.is_empty():
        typer.echo("no alerts")
        return
    for row in frame.iter_rows(named=True):
        line = (
            f"{row['ts']:%Y-%m-%d %H:%M:%S}Z {row['status']:<10} {row['kind']:<20} {row['title']}"
        )
        if row["reason"]:
            line += f"  ({row['reason']})"
        typer.echo(line)
