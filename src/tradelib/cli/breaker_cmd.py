"""`tradelib breaker status | reset`: read and reset the circuit breaker in the lake.

``status`` only reads (a cooldown that has come due is shown as closed but
recorded by the next process that trades); ``reset`` records a manual reset
event with who did it. Both use the wall clock: they are run by a person.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from tradelib.cli.params import LakeOption as _LakeOption
from tradelib.cli.params import check_name

if TYPE_CHECKING:
    from tradelib.config import TradingConfig
    from tradelib.lake import Lake

app = typer.Typer(help="Show or reset the circuit breaker.", no_args_is_help=True)

FALLBACK_LAKE = "data/lake"

LakeOption = _LakeOption


def _settings(uri: str | None) -> tuple[Lake, TradingConfig]:
    """Open the lake (``uri``, else the configured one) and the config (breaker, alerts)."""
    from tradelib.config import TradingConfig, load_config
    from tradelib.errors import TradelibError
    from tradelib.lake import Lake

    try:
        cfg = load_config()
    except TradelibError as exc:
        if uri is None:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        # An explicit lake needs no config file; a broken one only costs the defaults.
        typer.echo(f"warning: {exc}; using the default breaker settings", err=True)
        cfg = TradingConfig()
    lake = Lake.open(uri, cfg.storage) if uri is not None else Lake.from_config(cfg)
    return lake, cfg


def _fmt(ts: datetime | None) -> str:
    return "-" if ts is None else ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@app.command("status")
def status(lake: LakeOption = None) -> None:
    """Print the breaker's state, trigger, reason and since when."""
    from tradelib.risk import BreakerPolicy
    from tradelib.stores.risk import LakeBreakerStore

    opened, cfg = _settings(lake)
    store = LakeBreakerStore(opened)
    st = BreakerPolicy(cfg.risk.circuit_breaker).status(store.latest(), datetime.now(UTC))
    typer.echo(f"state:    {st.state.value.upper()}")
    typer.echo(f"trigger:  {st.trigger.value}")
    typer.echo(f"reason:   {st.reason}")
    typer.echo(f"since:    {_fmt(st.since)}")
    if st.value is not None and st.limit is not None:
        typer.echo(f"value:    {st.value:g} (limit {st.limit:g})")
    if st.reset_by:
        typer.echo(f"reset by: {st.reset_by}")
    if st.closes_at is not None:
        typer.echo(f"closes:   {_fmt(st.closes_at)} by rule, or by hand: tradelib breaker reset")


@app.command("reset")
def reset(
    by: Annotated[
        str, typer.Option("--by", help="Who is resetting (recorded).", callback=check_name)
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    lake: LakeOption = None,
) -> None:
    """Close the breaker by hand; the reset is recorded with your name."""
    from tradelib.stores.risk import lake_breaker

    if not by.strip():
        typer.echo("error: --by needs a name", err=True)
        raise typer.Exit(2)
    opened, cfg = _settings(lake)
    # lake_breaker wires the configured alert channels: a hand reset alerts like a rule's
    breaker = lake_breaker(cfg, opened)
    before = breaker.status(datetime.now(UTC))
    event = breaker.reset(datetime.now(UTC), by=by, reason=reason)
    typer.echo(
        f"breaker reset by {event.reset_by} at {_fmt(event.ts)} "
        f"(was {before.state.value}: {before.reason})"
    )
