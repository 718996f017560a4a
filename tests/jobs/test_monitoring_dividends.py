"""Rule 1.4 fed by the broker's dividends: an in-the-money short call whose time value is
below the next dividend is closed the day before the ex-date (SimBroker, real monitoring)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.domain import Contract, Leg, OrderPurpose, Right, make_order_ref, utc
from tradelib.jobs.context import JobContext
from tradelib.jobs.monitoring import MonitoringWorkflow
from tradelib.jobs.sync import run_sync
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket
from tradelib.sim.dividends import ex_dates, next_dividend, third_friday

EVE = utc(2026, 12, 17, 15)  # Thursday 10:00 New York; SPY goes ex on Friday the 18th


def test_the_simulated_schedule_is_quarterly_on_real_shaped_dates() -> None:
    days = [d.ex_date for d in ex_dates("SPY", date(2026, 1, 1), date(2026, 12, 31))]
    assert days == [third_friday(2026, m) for m in (3, 6, 9, 12)]
    assert third_friday(2026, 12) == date(2026, 12, 18)
    div = next_dividend("SPY", date(2026, 12, 17))
    assert div is not None and (div.ex_date, div.amount) == (date(2026, 12, 18), 1.75)
    after = next_dividend("SPY", date(2026, 12, 19))
    assert after is not None and after.ex_date == date(2027, 3, 19)
    assert next_dividend("VIX", date(2026, 12, 17)) is None


def _short_itm_call(broker: SimBroker) -> Contract:
    spot = broker.snapshot([Contract.stock("SPY")])[0].mid
    chain = broker.option_chain("SPY")
    expiry = next(e for e in chain.expiries if e > date(2026, 12, 18))
    strike = min(chain.strikes_for(expiry), key=lambda k: abs(k - spot * 0.95))
    call = broker.resolve(Contract.option("SPY", expiry, strike, Right.CALL))
    from tradelib.domain import OrderIntent, OrderType

    q = broker.snapshot([call])[0]
    order = OrderIntent(
        order_ref=make_order_ref("cc-1", OrderPurpose.OPEN),
        strategy_id="cc-1",
        purpose=OrderPurpose.OPEN,
        legs=(Leg(call, -1),),
        quantity=1,
        limit_price=round(q.bid - 0.05, 2),
        created_at=broker.now(),
        order_type=OrderType.LIMIT,
    )
    broker.place_order(order)
    broker.wait(5)
    return call


@pytest.mark.parametrize("breach_rules_on", [False, True])
def test_a_short_call_with_less_time_value_than_the_dividend_is_closed_before_ex_date(
    tmp_path: Path, breach_rules_on: bool
) -> None:
    broker = SimBroker(
        SimulatedMarket(SimMarketConfig(seed=7, start=EVE, forced_regime=SimRegime.CALM))
    )
    broker.connect()
    call = _short_itm_call(broker)
    lake = Lake(tmp_path / "lake")
    assert run_sync(JobContext.of(broker, lake)).opened == ("cc-1",)
    overrides: dict[str, object] = {"storage.lake_uri": str(tmp_path / "lake")}
    if not breach_rules_on:
        # A trader who manages in-the-money calls (e.g. covered) turns the breach rules off:
        # then the dividend is what says to close.
        overrides["rules.enabled"] = {"short_strike_breached": False, "delta_breach": False}
    cfg = TradingConfig().with_overrides(overrides)

    report = MonitoringWorkflow.from_config(cfg, broker, lake).run_cycle(broker.now())

    (decision,) = [d for d in report.decisions if d.strategy_id == "cc-1"]
    assert decision.action.value == "close"
    if breach_rules_on:
        assert decision.rule == "short_strike_breached"  # priority 1.2 decides first
    else:
        assert decision.rule == "assignment_risk"
        assert "dividend 1.75 before ex-date 2026-12-18" in decision.reason
        assert decision.inputs["dividend"] == 1.75
    assert call.strike is not None
