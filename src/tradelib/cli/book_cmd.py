"""`tradelib book check | summary | compare`: the invariants, a run's figures, two runs side by side."""

from __future__ import annotations

import typer

from tradelib.cli.params import ConfigPathOption as ConfigOption
from tradelib.cli.params import ExistingLakeOption as LakeOption
from tradelib.cli.params import ExistingLakePath

app = typer.Typer(help="Check the book's invariants, or summarize what a run traded.")


@app.command("check")
def check(lake: LakeOption = None, config: ConfigOption = None) -> None:
    """Check every book invariant against the configured broker; exit 1 on a violation."""
    from tradelib.book import check_book
    from tradelib.broker.factory import open_broker
    from tradelib.config import load_config
    from tradelib.domain import NEW_YORK
    from tradelib.lake.workspace import job_lake

    cfg = load_config(config)
    store = job_lake(cfg, lake or "")
    # The simulated account's starting cash is known; a real account's is not (cash skipped).
    start = cfg.simulation.initial_cash if cfg.ib.mode == "sim" else None
    with open_broker(cfg, role="research") as broker:
        day = broker.now().astimezone(NEW_YORK).date()
        report = check_book(broker, store, day=day, starting_cash=start)
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


@app.command("summary")
def summary(lake: LakeOption = None, config: ConfigOption = None) -> None:
    """Entries, closes by reason and rule, realized P&L, negative-edge entries, margin use."""
    from tradelib.book.summary import summarize
    from tradelib.config import load_config
    from tradelib.lake.workspace import job_lake

    store = job_lake(load_config(config), lake or "")
    for line in summarize(store).lines():
        typer.echo(line)


@app.command("compare")
def compare(
    first: ExistingLakePath,
    second: ExistingLakePath,
) -> None:
    """Compare two runs' strategies, orders, fills, decisions and predictions; exit 1 if they differ."""
    from tradelib.book.compare import compare_lakes
    from tradelib.lake import Lake

    result = compare_lakes(Lake(first), Lake(second))
    for line in result.lines():
        typer.echo(line)
    if not result.same:
        raise typer.Exit(1)
