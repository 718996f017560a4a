"""`tradelib sync`: reconcile the broker's positions, orders and fills into the lake once."""

from __future__ import annotations

from typing import Annotated

import typer

from tradelib.cli.params import LakeOption


def sync(
    config: Annotated[
        str | None,
        typer.Option(
            "--config", help="Config file (default: $TRADELIB_CONFIG or the workspace's)."
        ),
    ] = None,
    lake: LakeOption = None,
    accept_empty: Annotated[
        bool,
        typer.Option(
            "--accept-empty",
            help="Believe an empty position list even though the lake holds open positions "
            "(only after checking the account really is flat).",
        ),
    ] = False,
) -> None:
    """Sync broker positions, orders and executions into the lake; record every difference."""
    from tradelib.jobs.sync import sync_job

    report = sync_job(config or "", lake or "", accept_empty=accept_empty)
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)
