"""SimBroker runs unchanged over the backtest sources (it only reads the MarketSource surface).

The broker is annotated for ``SimulatedMarket`` today; these scenarios pin
that the historical and recorded-chain sources already serve everything it
asks: listings, snapshots, fills at the source's quotes, marks, expiry settlement.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from tests.backtest.conftest import DATA, chain_rows

from tradelib.backtest import HistoricalSource, RecordedChainSource, load_chains
from tradelib.backtest.source import MarketSource
from tradelib.broker.sim import SimBroker
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Right,
    make_order_ref,
)


def broker_over(src: MarketSource) -> SimBroker:
    broker = SimBroker(src)  # type: ignore[arg-type]  # annotated SimulatedMarket until wired
    broker.connect()
    return broker


def sell_put(
    broker: SimBroker, src: MarketSource, expiry: date, strike: float, seq: int = 1
) -> OrderIntent:
    leg = Leg(Contract.option("SPY", expiry, strike, Right.PUT), -1)
    quote = broker.snapshot([leg.contract])[0]
    return OrderIntent(
        order_ref=make_order_ref("bt-test", OrderPurpose.OPEN, seq),
        strategy_id="bt-test",
        purpose=OrderPurpose.OPEN,
        legs=(leg,),
        quantity=1,
        limit_price=round(-quote.bid, 2),  # sell at the bid: marketable
        created_at=src.now(),
        order_type=OrderType.LIMIT,
    )


def test_a_put_sold_over_history_fills_at_modelled_quotes_and_settles_at_expiry() -> None:
    src = HistoricalSource.from_dir(DATA, start=date(2022, 3, 1))
    broker = broker_over(src)
    broker.wait(3600)
    expiry = date(2022, 3, 4)
    assert expiry in broker.option_chain("SPY").expiries
    strike = float(round(src.spot("SPY") * 0.99))
    state = broker.place_order(sell_put(broker, src, expiry, strike))
    assert state.status is OrderStatus.FILLED
    [position] = broker.positions()
    assert position.quantity == -1 and position.contract.con_id == src.con_id(
        "SPY", expiry=expiry, strike=strike, right="P"
    )
    broker.wait((src.hours.session_bounds(expiry)[1] - src.now()).total_seconds() + 60)
    held = {p.contract.sec_type.value: p.quantity for p in broker.positions()}
    close = src.spot("SPY")
    if close < strike:
        assert held == {"STK": 100.0}  # assigned at the strike
    else:
        assert held == {}
    assert broker.account().net_liquidation > 0


def test_an_order_at_the_recorded_snapshot_fills_and_the_quote_goes_stale_after(
    tmp_path: Path,
) -> None:
    rows = chain_rows("SPY", [date(2022, 3, 1), date(2022, 3, 2)], max_expiries=3)
    path = tmp_path / "c.parquet"
    rows.write_parquet(path)
    src = RecordedChainSource(load_chains(path))
    broker = broker_over(src)
    expiry = src.expiries("SPY")[2]
    strikes = rows.filter(
        (pl.col("expiry") == expiry) & (pl.col("quote_date") == date(2022, 3, 1))
    )["strike"]
    strike = float(strikes[len(strikes) // 3])
    assert broker.place_order(sell_put(broker, src, expiry, strike)).status is OrderStatus.FILLED
    broker.wait(120)
    late = broker.place_order(sell_put(broker, src, expiry, strike, seq=2))
    assert late.status is OrderStatus.REJECTED and "stale" in (late.reason or "")


@pytest.mark.parametrize("kind", ["history", "chains"])
def test_the_broker_lists_what_the_source_lists(kind: str, tmp_path: Path) -> None:
    if kind == "history":
        src: MarketSource = HistoricalSource.from_dir(DATA, start=date(2022, 3, 1))
    else:
        path = tmp_path / "c.csv"
        chain_rows("SPY", [date(2022, 3, 1)], max_expiries=3).write_csv(path)
        src = RecordedChainSource(load_chains(path))
    broker = broker_over(src)
    info = broker.option_chain("SPY")
    assert list(info.expiries) == src.expiries("SPY")
    assert broker.now() == src.now()
    src_spot = src.spot("SPY")
    quote = broker.snapshot([Contract.stock("SPY")])[0]
    assert quote.bid <= src_spot <= quote.ask
    assert broker.now() - src.now() == timedelta(0)
