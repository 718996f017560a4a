"""Wire a simulated market, a SimBroker and a SimGateway together with the CLI's defaults."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

from tradelib.broker.sim import SimBroker
from tradelib.gateway.faults import DEFAULT_LINE_LIMIT
from tradelib.gateway.server import SimGateway
from tradelib.markethours import NEW_YORK, MarketHours
from tradelib.sim import SimMarketConfig, SimulatedMarket

DEFAULT_START_NY = time(9, 45)


def gateway_start(day: date, hours: MarketHours | None = None) -> datetime:
    """09:45 New York on ``day`` if it trades, else on the next trading day (UTC)."""
    cal = hours or MarketHours()
    trading_day = day if cal.is_trading_day(day) else cal.next_trading_day(day)
    return datetime.combine(trading_day, DEFAULT_START_NY, tzinfo=NEW_YORK).astimezone(UTC)


def build_gateway(
    *,
    seed: int = 7,
    day: date | None = None,
    host: str = "127.0.0.1",
    port: int = 7497,
    speed: float = 1.0,
    initial_cash: float = 100_000.0,
    account: str = "DU0000001",  # a fake paper-style account of the simulated gateway
    hours: MarketHours | None = None,
    line_limit: int = DEFAULT_LINE_LIMIT,
    control_port: int | None = None,
    wall_clock: bool = False,
    accounts: Sequence[str] | None = None,
) -> SimGateway:
    """A gateway over a fresh seeded market.

    By default the market starts at 09:45 New York of ``day`` (today, or the
    next trading day) and runs at ``speed``; with ``wall_clock`` it starts now
    and follows the wall clock (speed 1), so exchange hours are the real ones.
    ``accounts`` (default: ``account`` alone) are the accounts it manages.
    """
    cal = hours or MarketHours()
    if wall_clock:
        if day is not None or speed != 1.0:
            raise ValueError("wall_clock follows today's wall clock: it takes no day and speed 1")
        start = datetime.now(UTC).replace(microsecond=0)
    else:
        today = day or datetime.now(UTC).astimezone(NEW_YORK).date()
        start = gateway_start(today, cal)
    market = SimulatedMarket(SimMarketConfig(seed=seed, start=start), cal)
    broker = SimBroker(market, initial_cash=initial_cash)
    return SimGateway(
        broker,
        host=host,
        port=port,
        speed=speed,
        account=account,
        line_limit=line_limit,
        control_port=control_port,
        accounts=accounts,
    )
