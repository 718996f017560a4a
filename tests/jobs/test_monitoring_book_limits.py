"""Monitoring on a book already over a limit: the breach is recorded each cycle and, by default,
the strategy that cuts it most is closed (SimBroker, real lake)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.domain import (
    Contract,
    DecisionAction,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderType,
    Right,
    make_order_ref,
    utc,
)
from tradelib.jobs.context import JobContext
from tradelib.jobs.monitoring import MonitoringWorkflow
from tradelib.jobs.monitoring_report import ActionOutcome
from tradelib.jobs.sync import run_sync
from tradelib.lake import Lake
from tradelib.rules.book import BOOK_LIMIT_RULE
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket

START = utc(2026, 11, 24, 15)


def _sell_put(broker: SimBroker, sid: str, symbol: str, otm: float) -> None:
    spot = broker.snapshot([Contract.stock(symbol)])[0].mid
    chain = broker.option_chain(symbol)
    expiry = next(e for e in chain.expiries if (e - date(2026, 11, 24)).days >= 30)
    strike = min(chain.strikes_for(expiry), key=lambda k: abs(k - spot * otm))
    put = broker.resolve(Contract.option(symbol, expiry, strike, Right.PUT))
    bid = broker.snapshot([put])[0].bid
    broker.place_order(
        OrderIntent(
            order_ref=make_order_ref(sid, OrderPurpose.OPEN),
            strategy_id=sid,
            purpose=OrderPurpose.OPEN,
            legs=(Leg(put, -1),),
            quantity=1,
            limit_price=round(bid - 0.05, 2),
            created_at=broker.now(),
            order_type=OrderType.LIMIT,
        )
    )
    broker.wait(5)


@pytest.fixture
def book(tmp_path: Path) -> tuple[SimBroker, Lake]:
    broker = SimBroker(
        SimulatedMarket(SimMarketConfig(seed=7, start=START, forced_regime=SimRegime.CALM))
    )
    broker.connect()
    _sell_put(broker, "qqq-near", "QQQ", 0.97)  # the more at risk of the two
    _sell_put(broker, "qqq-far", "QQQ", 0.90)
    _sell_put(broker, "spy-1", "SPY", 0.93)
    lake = Lake(tmp_path / "lake")
    assert len(run_sync(JobContext.of(broker, lake)).opened) == 3
    return broker, lake


def _cfg(lake: Lake, **overrides: object) -> TradingConfig:
    # Two QQQ puts are well over a fifth of the risk budget; no profit exit in the way.
    return TradingConfig().with_overrides(
        {
            "storage.lake_uri": str(lake.root),
            "risk.max_underlying_concentration": 0.2,
            "risk.max_correlated_exposure": 1.0,
            **overrides,
        }
    )


def test_a_book_over_its_concentration_limit_closes_what_cuts_it_most(
    book: tuple[SimBroker, Lake],
) -> None:
    broker, lake = book
    report = MonitoringWorkflow.from_config(_cfg(lake), broker, lake).run_cycle(broker.now())

    breaches = lake.read("limit_breaches").collect()
    qqq = breaches.filter(pl.col("limit") == "max_underlying_concentration")
    assert qqq.height >= 1 and "QQQ" in qqq["underlyings"][0]
    assert (qqq["measured"] > qqq["threshold"]).all() and (qqq["action"] == "reduce").all()
    limited = [d for d in report.decisions if d.rule == BOOK_LIMIT_RULE]
    assert limited and all(d.action is DecisionAction.CLOSE for d in limited)
    assert {d.strategy_id for d in limited} <= {"qqq-near", "qqq-far"}
    closed = {a.strategy_id for a in report.actions if a.outcome is ActionOutcome.CLOSED}
    assert {d.strategy_id for d in limited} <= closed
    assert "spy-1" not in closed


def test_with_reductions_off_the_breach_is_only_recorded(book: tuple[SimBroker, Lake]) -> None:
    broker, lake = book
    cfg = _cfg(lake, **{"risk.reduce_on_breach": False})
    report = MonitoringWorkflow.from_config(cfg, broker, lake).run_cycle(broker.now())

    assert lake.read("limit_breaches").collect()["action"].to_list()[0] == "recorded"
    assert not [d for d in report.decisions if d.rule == BOOK_LIMIT_RULE]
