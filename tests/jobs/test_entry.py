"""The entry job on the simulated market: real SimBroker, real Delta tables in tmp_path.

One module fixture runs the job once on a market seeded at 2026-11-24 15:00 UTC
and keeps the simulated account (its state file) and the lake; tests that go
on from there work on their own copy of both.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import load_sim_broker, save_sim_broker
from tradelib.config import TradingConfig
from tradelib.domain import Contract, Leg, OrderPurpose, Quote, StrategyType, Urgency, utc
from tradelib.entry.edge import EntryCosts
from tradelib.execution import ExecutionOutcome, ExecutionPlan, TransactionalExecutor
from tradelib.jobs.context import run_once
from tradelib.jobs.entry import EntryWorkflow, run_entry
from tradelib.jobs.entry_report import (
    EntryReport,
    EntryStatus,
    Outcome,
    is_entry_strategy_id,
    strategy_id_for,
    strategy_type_of,
)
from tradelib.lake import Lake
from tradelib.risk import BreakerTrigger
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.stores.orders import legs_from_json, legs_json
from tradelib.stores.risk import lake_breaker
from tradelib.stores.sync import strategy_from_row

START = utc(2026, 11, 24, 15)
LAKE, STATE = "lake", "sim.pkl"
# Scenarios that need no whole market look at one underlying and a short DTE window.
SMALL = {"strategies.underlyings": ["SPY"], "strategies.dte_max": 35}


def _cfg(root: Path, **overrides: object) -> TradingConfig:
    return TradingConfig().with_overrides(
        {
            "storage.lake_uri": str(root / LAKE),
            "simulation.state_path": str(root / STATE),
            "simulation.start_date": "2026-11-24",
            # SPY, QQQ and IWM form one correlated group: with the default 60% of the risk
            # budget the fourth naked put already fills it; these scenarios want the daily cap.
            "risk.max_correlated_exposure": 0.95,
            **overrides,
        }
    )


def _market(start: datetime = START) -> SimulatedMarket:
    return SimulatedMarket(SimMarketConfig(seed=7, start=start))


def _table(root: Path, name: str) -> pl.DataFrame:
    path = root / LAKE / name
    return pl.read_delta(str(path)) if path.exists() else pl.DataFrame()


def _order_legs(root: Path) -> set[str]:
    orders = _table(root, "orders")
    if orders.is_empty():
        return set()
    return {leg["key"] for text in orders["legs_json"] for leg in json.loads(text)}


@dataclass(frozen=True)
class FirstRun:
    root: Path
    report: EntryReport


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    root = tmp_path_factory.mktemp("entry")
    save_sim_broker(SimBroker(_market()), root / STATE)
    return FirstRun(root, run_once(run_entry, _cfg(root)))


def _fork(first: FirstRun, dest: Path) -> Path:
    """A private copy of the first run's simulated account and lake."""
    shutil.copytree(first.root, dest, dirs_exist_ok=True)
    return dest


def test_the_entry_job_opens_positions_in_the_simulated_market(first_run: FirstRun) -> None:
    report, root = first_run.report, first_run.root
    assert report.status is EntryStatus.COMPLETED and report.regime is not None
    entered = report.entered
    assert len(entered) == TradingConfig().trading_limits.max_new_entries_per_day
    ids = {o.strategy_id for o in entered}

    broker = load_sim_broker(root / STATE)
    broker.connect()
    held = {p.contract.key: p.quantity for p in broker.positions()}
    strategies = _table(root, "strategies")
    assert set(strategies["strategy_id"]) == ids
    assert (strategies["status"] == "open").all() and not strategies["inferred"].any()
    for row in strategies.to_dicts():
        record = strategy_from_row(row)  # the sync reads what entry writes
        assert record.credit is not None and record.credit >= TradingConfig().strategies.min_credit
        for leg in record.legs:
            assert leg.contract.con_id is not None
            assert held[leg.contract.key] == pytest.approx(leg.quantity)
        assert row["max_loss"] is None or row["max_loss"] > 0

    orders, executions = _table(root, "orders"), _table(root, "executions")
    assert set(orders["strategy_id"]) == ids and set(orders["intent"]) == {"open"}
    assert set(executions["order_ref"]) <= set(orders["order_ref"])
    assert executions.height >= sum(len(json.loads(s)) for s in strategies["legs_json"])

    predictions = _table(root, "predictions")
    assert set(predictions["strategy_id"]) == ids
    assert set(predictions["prediction_id"]) == set(strategies["prediction_id"])
    assert set(predictions["regime"]) == {report.regime.value}
    by_id = {o.strategy_id: o for o in entered}
    legs_of = {
        row["strategy_id"]: strategy_from_row(row).to_strategy().legs
        for row in strategies.to_dicts()
    }
    costs = EntryCosts.from_config(TradingConfig().strategies)
    for p in predictions.to_dicts():
        o = by_id[p["strategy_id"]]
        # Expected P&L at the fill: the model's EV moved by the credit actually received,
        # less the commissions of opening and closing (per share, as the model counts).
        fees = costs.commissions(legs_of[p["strategy_id"]]) / 100.0
        expected = (o.expected_value + o.fill_credit - o.credit_mid - fees) * 100.0
        assert p["predicted_pnl"] == pytest.approx(round(expected, 2))
        assert p["prob_profit"] == pytest.approx(o.probability_of_profit)
        assert p["weight_used"] == 1.0 and p["skew_ratio"] > 0 and p["max_loss"] > 0


def test_the_report_gives_every_candidate_an_outcome_and_a_reason(first_run: FirstRun) -> None:
    report = first_run.report
    frame = report.frame()
    assert frame.height == len(report.outcomes)
    assert frame.filter(pl.col("rank").is_not_null())["rank"].to_list() == list(
        range(1, len(report.considered) + 1)
    )
    assert all(frame.filter(pl.col("outcome") != "entered")["reason"])
    outcomes = set(frame["outcome"])
    assert {Outcome.ENTERED.value, Outcome.NOT_TRIED.value} <= outcomes
    capped = frame.filter(pl.col("outcome") == Outcome.NOT_TRIED.value)["reason"]
    assert capped.str.contains("entry caps reached").all()
    # Limit rejections on the way were stored with their reasons.
    stored = _table(first_run.root, "risk_rejections")
    refused = frame.filter(pl.col("outcome") == Outcome.LIMITS.value)
    assert set(refused["strategy"]) <= set(stored["strategy_type"])
    limits = stored.filter(~pl.col("check").is_in(["min_net_edge", "max_near_duplicates"]))
    assert limits["reason"].str.contains("exceeded").all()
    # So were the selector's refusals for want of edge, with the numbers behind them.
    edge = stored.filter(pl.col("check") == "min_net_edge")
    no_edge = frame.filter(pl.col("reason").str.starts_with("no edge"))
    assert edge.height == no_edge.height > 0
    assert (edge["value"] <= edge["limit"]).all()
    assert edge["reason"].str.contains(r"= net \$-?\d+\.\d\d <= minimum").all()


def test_a_rerun_the_same_day_opens_no_strategy_twice(first_run: FirstRun, tmp_path: Path) -> None:
    root = _fork(first_run, tmp_path)
    before = _table(root, "orders")
    first_ids = {o.strategy_id for o in first_run.report.entered}

    # Room for one more entry today: every candidate before it is looked at again.
    again = run_once(run_entry, _cfg(root, **{"trading_limits.max_new_entries_per_day": 6}))

    seen = [o.outcome for o in again.outcomes if o.strategy_id in first_ids]
    assert Outcome.ALREADY_ENTERED in seen
    assert set(seen) <= {Outcome.ALREADY_ENTERED, Outcome.NOT_TRIED}
    assert len(again.entered) <= 1
    assert not first_ids & {o.strategy_id for o in again.entered}
    strategies, orders = _table(root, "strategies"), _table(root, "orders")
    assert strategies["strategy_id"].n_unique() == strategies.height
    assert orders["order_ref"].n_unique() == orders.height
    assert orders.filter(pl.col("strategy_id").is_in(list(first_ids))).height == before.height
    legs = [leg["local_symbol"] for s in strategies["legs_json"] for leg in json.loads(s)]
    assert len(legs) == len(set(legs))  # no contract shared by two strategies


def test_with_the_daily_cap_reached_a_rerun_stops_at_once(
    first_run: FirstRun, tmp_path: Path
) -> None:
    root = _fork(first_run, tmp_path)
    again = run_once(run_entry, _cfg(root))
    assert again.status is EntryStatus.AT_LIMIT
    assert "max new entries per day reached: 5 today >= 5" in again.reason
    assert _table(root, "orders").height == _table(first_run.root, "orders").height


def test_a_crash_before_recording_is_completed_by_the_rerun_without_new_orders(
    first_run: FirstRun, tmp_path: Path
) -> None:
    root = _fork(first_run, tmp_path)
    # The orders filled, then the process died before writing strategies and predictions.
    shutil.rmtree(root / LAKE / "strategies")
    shutil.rmtree(root / LAKE / "predictions")
    orders_before = _table(root, "orders")

    again = run_once(run_entry, _cfg(root, **{"trading_limits.max_new_entries_per_day": 6}))

    first_ids = {o.strategy_id for o in first_run.report.entered}
    resumed = {o.strategy_id: o for o in again.entered if o.strategy_id in first_ids}
    assert set(resumed) == first_ids
    assert set(_table(root, "strategies")["strategy_id"]) >= first_ids
    # Ranked again: recorded with its prediction; no longer ranked: from the journal alone.
    predicted = set(_table(root, "predictions")["strategy_id"])
    for sid, o in resumed.items():
        assert (sid in predicted) == (o.prediction_id is not None)
        if o.prediction_id is None:
            assert o.reason.startswith("recorded from the journal after an interrupted run")
    mine = _table(root, "orders").filter(pl.col("strategy_id").is_in(list(first_ids)))
    assert sorted(mine["order_ref"]) == sorted(
        orders_before.filter(pl.col("strategy_id").is_in(list(first_ids)))["order_ref"]
    )


def test_an_open_breaker_blocks_entries_but_not_exits(first_run: FirstRun, tmp_path: Path) -> None:
    root = _fork(first_run, tmp_path)
    cfg = _cfg(root, **{"trading_limits.max_new_entries_per_day": 20})
    broker = load_sim_broker(root / STATE)
    broker.connect()
    lake = Lake(root / LAKE)
    breaker = lake_breaker(cfg, lake)
    breaker.trip(broker.now(), BreakerTrigger.MANUAL, "operator halt")
    orders_before = _table(root, "orders").height

    report = EntryWorkflow.from_config(cfg, broker, lake).run(broker.now())

    assert report.status is EntryStatus.BLOCKED
    assert "circuit breaker open" in report.reason and "operator halt" in report.reason
    assert report.entered == () and _table(root, "orders").height == orders_before

    # Closing one of the morning's strategies still goes through the same breaker.
    row = _table(root, "strategies").to_dicts()[0]
    record = strategy_from_row(row)
    closing = tuple(Leg(leg.contract, -round(leg.quantity)) for leg in record.legs)
    executor = TransactionalExecutor.from_config(cfg, broker, lake, breaker)
    plan = ExecutionPlan(
        record.strategy_id, OrderPurpose.CLOSE, closing, 1, math.inf, Urgency.IMMEDIATE
    )
    result = executor.execute(plan)
    assert result.outcome is ExecutionOutcome.FILLED
    assert all(p.contract.key not in {c.contract.key for c in closing} for p in broker.positions())


def test_a_limit_rejection_is_stored_with_its_reason(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, **SMALL, **{"risk.max_portfolio_delta": 0.001})
    save_sim_broker(SimBroker(_market()), tmp_path / STATE)

    report = run_once(run_entry, cfg)

    assert report.status is EntryStatus.COMPLETED and report.entered == ()
    refused = [o for o in report.outcomes if o.outcome is Outcome.LIMITS]
    assert refused and all(o.reason.startswith("delta exceeded") for o in refused)
    selector_checks = ["min_net_edge", "max_near_duplicates"]
    stored = _table(tmp_path, "risk_rejections").filter(~pl.col("check").is_in(selector_checks))
    assert set(stored["check"]) == {"max_portfolio_delta"}
    assert stored.height == len(refused)
    assert stored["reason"].str.contains(r"delta exceeded: [+-]\d+ > 0.001 after entry").all()
    assert _table(tmp_path, "orders").is_empty()


def test_outside_market_hours_nothing_is_entered(tmp_path: Path) -> None:
    after_close = utc(2026, 11, 24, 22)
    broker = SimBroker(_market(after_close))
    broker.connect()
    lake = Lake(tmp_path / LAKE)

    report = EntryWorkflow.from_config(_cfg(tmp_path), broker, lake).run(broker.now())

    assert report.status is EntryStatus.MARKET_CLOSED
    assert "market closed" in report.reason and report.outcomes == ()
    assert not lake.exists("orders") and broker.open_orders() == []


class CrossingBroker(SimBroker):
    """The simulated market, but one contract's quote comes back crossed."""

    crossed: str = ""

    def snapshot(self, contracts: Sequence[Contract]) -> list[Quote]:
        quotes = super().snapshot(contracts)
        return [
            replace(q, bid=q.ask + 0.05) if q.contract.key == self.crossed else q for q in quotes
        ]


def test_an_invalid_leg_quote_disqualifies_its_candidate(
    first_run: FirstRun, tmp_path: Path
) -> None:
    top = first_run.report.considered[0]
    assert top.strategy_id is not None
    broker = CrossingBroker(_market())
    broker.crossed = _short_leg_key(first_run.report, top.rank)
    broker.connect()
    lake = Lake(tmp_path / LAKE)

    cfg = _cfg(tmp_path, **{"strategies.underlyings": [top.underlying]})
    report = EntryWorkflow.from_config(cfg, broker, lake).run(broker.now())

    bad = [o for o in report.outcomes if o.outcome is Outcome.INVALID_QUOTE]
    assert bad, "the candidate on the crossed contract must be rejected"
    assert top.strategy_id in {o.strategy_id for o in bad}
    assert all(f"invalid quote on {broker.crossed}: crossed" in o.reason for o in bad)
    assert broker.crossed not in _order_legs(tmp_path)
    assert broker.crossed not in {p.contract.key for p in broker.positions()}
    assert report.entered  # the rest of the market is still traded


def _short_leg_key(report: EntryReport, rank: int | None) -> str:
    """Contract key of the short leg of the candidate ranked ``rank`` in ``report``."""
    (o,) = [o for o in report.outcomes if o.rank == rank]
    assert o.strategy_id is not None and o.expiry is not None
    short = next(part for part in o.legs.split() if part.startswith("-"))
    strike, right = short[1:-1], short[-1]
    return Contract.option(o.underlying, o.expiry, float(strike), right).key


def test_weights_from_the_config_reach_the_ranking(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, **SMALL, **{"variance_analysis.strategy_weights": {"short_put": 0.0}})
    save_sim_broker(SimBroker(_market()), tmp_path / STATE)

    report = run_once(run_entry, cfg)

    assert re.search(r"short_put in \w+: 0\.000 \(config\)", report.weights)
    assert all(o.strategy != "short_put" for o in report.considered)
    off = [o for o in report.outcomes if o.strategy == "short_put"]
    assert off and all("weight 0" in o.reason for o in off)
    assert report.entered and _table(tmp_path, "predictions")["weight_used"].to_list() == [
        1.0
    ] * len(report.entered)


def test_strategy_ids_follow_the_legs_and_the_day_only() -> None:
    expiry = utc(2027, 1, 8).date()
    legs = (
        Leg(Contract.option("SPY", expiry, 563, "P"), 1),
        Leg(Contract.option("SPY", expiry, 568, "P"), -1),
    )
    day = START.date()
    sid = strategy_id_for("SPY", StrategyType.PUT_CREDIT_SPREAD, expiry, legs, day)
    assert sid == "SPY-put_credit_spread-20270108-563P_568P-20261124"
    assert sid == strategy_id_for("SPY", StrategyType.PUT_CREDIT_SPREAD, expiry, legs, day)
    next_day = utc(2026, 11, 25).date()
    assert sid != strategy_id_for("SPY", StrategyType.PUT_CREDIT_SPREAD, expiry, legs, next_day)
    assert is_entry_strategy_id(sid) and strategy_type_of(sid) is StrategyType.PUT_CREDIT_SPREAD
    assert not is_entry_strategy_id("demo-SPY-pcs-20261124")


def test_journaled_legs_read_back_as_the_executor_wrote_them() -> None:
    expiry = utc(2027, 1, 8).date()
    legs = (
        Leg(Contract.option("QQQ", expiry, 484, "P", con_id=11), -1),
        Leg(Contract.option("QQQ", expiry, 479, "P", con_id=12), 1),
    )
    back = legs_from_json(legs_json(legs))
    assert [(leg.contract.key, leg.contract.con_id, leg.ratio) for leg in back] == [
        (leg.contract.key, leg.contract.con_id, leg.ratio) for leg in legs
    ]


def test_a_candidate_the_line_budget_cannot_watch_is_refused_and_stored(tmp_path: Path) -> None:
    # One option line and a snapshot capacity of one quote a minute: the book can watch
    # one single-leg strategy at most.
    cfg = _cfg(
        tmp_path,
        **{
            "market_data.line_budget": 2,
            "market_data.reserved_lines": 1,
            "market_data.snapshot_capacity_per_min": 1,
        },
    )
    save_sim_broker(SimBroker(_market()), tmp_path / STATE)

    report = run_once(run_entry, cfg)

    refused = [o for o in report.outcomes if o.reason.startswith("market data lines")]
    assert refused and all(o.outcome is Outcome.LIMITS for o in refused)
    assert len(report.entered) <= 1
    stored = _table(tmp_path, "risk_rejections").filter(pl.col("check") == "market_data_lines")
    assert stored.height == len(refused)
    assert set(stored["strategy_type"]) <= {o.strategy for o in refused}
    sent = {o["strategy_id"] for o in _table(tmp_path, "orders").to_dicts()}
    assert not sent & {o.strategy_id for o in refused}  # no order for a refused candidate


def test_entry_stays_off_a_contract_two_strategies_net_to_zero(tmp_path: Path) -> None:
    # The book holds a contract long in one strategy and short in another: the broker shows
    # nothing, yet an entry must not trade it (strategies.avoid_held_contracts).
    from tradelib.stores.sync import SyncStore
    from tradelib.sync import HeldLeg, StrategyRecord

    probe = tmp_path / "probe"
    save_sim_broker(SimBroker(_market()), probe / STATE)
    assert run_once(run_entry, _cfg(probe, **SMALL)).entered
    first = strategy_from_row(_table(probe, "strategies").sort("opened_at").to_dicts()[0])
    contract = first.legs[0].contract

    save_sim_broker(SimBroker(_market()), tmp_path / STATE)
    at = START
    SyncStore(Lake(tmp_path / LAKE)).save_strategies(
        [
            StrategyRecord("a", StrategyType.CUSTOM, "SPY", (HeldLeg(contract, 1),), at, at),
            StrategyRecord("b", StrategyType.CUSTOM, "SPY", (HeldLeg(contract, -1),), at, at),
        ]
    )

    report = run_once(run_entry, _cfg(tmp_path, **SMALL))

    overlapping = [o for o in report.outcomes if o.outcome is Outcome.OVERLAP]
    assert any(contract.key in o.reason for o in overlapping)
    assert contract.key not in _order_legs(tmp_path)


def test_candidates_of_one_run_never_share_a_contract(first_run: FirstRun) -> None:
    # The selector offers a short put, the spread and the condor around one short strike;
    # once one of them is entered the others overlap it and are refused in the same run.
    report = first_run.report
    entered_legs = [
        leg.contract.key
        for row in _table(first_run.root, "strategies").to_dicts()
        for leg in strategy_from_row(row).legs
    ]
    assert len(entered_legs) == len(set(entered_legs))
    overlaps = [o for o in report.outcomes if o.outcome is Outcome.OVERLAP]
    assert overlaps and all(any(key in o.reason for key in entered_legs) for o in overlaps), [
        o.reason for o in overlaps
    ]
