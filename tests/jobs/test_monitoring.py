"""The monitoring job on the simulated market: real SimBroker, EntryWorkflow, executor and
Delta tables in tmp_path.

Two module fixtures open positions through the real entry job and keep the
simulated account and the lake: a calm market (two short puts on SPY) and a
forced crash (short puts and call credit spreads on SPY). Tests that go on from
there work on their own copy of both.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import load_sim_broker, save_sim_broker
from tradelib.config import TradingConfig
from tradelib.domain import (
    NEW_YORK,
    Contract,
    DecisionAction,
    Leg,
    OrderPurpose,
    OrderStatus,
    OrderType,
    Quote,
    Right,
    Strategy,
    StrategyType,
    Urgency,
    new_york,
    utc,
)
from tradelib.domain.pnl import realized_pnl
from tradelib.execution.attempts import attempts_of
from tradelib.jobs.context import JobContext, run_once
from tradelib.jobs.entry import EntryWorkflow
from tradelib.jobs.monitoring import MonitoringWorkflow, run_monitoring
from tradelib.jobs.monitoring_report import ActionOutcome, MonitoringReport, MonitoringStatus
from tradelib.jobs.sync import run_sync
from tradelib.lake import Lake
from tradelib.markethours import MarketHours
from tradelib.rules.exits import exit_bound, reduce_units, roll_expiry, rolled_legs
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket
from tradelib.stores.orders import JournalEntry
from tradelib.stores.sync import strategy_from_row

START = utc(2026, 11, 24, 15)  # a Tuesday, 10:00 New York
LAKE, STATE = "lake", "sim.pkl"
SMALL = {
    "strategies.underlyings": ["SPY"],
    "strategies.dte_max": 35,
    # These scenarios need the call credit spreads the simulated skew leaves without an
    # edge (tests/entry/test_edge.py): take the edge floor away, rank by dollar EV as before.
    "strategies.min_net_edge": -1e9,
    "strategies.ranking": "ev",
}


def _cfg(root: Path, **overrides: object) -> TradingConfig:
    return TradingConfig().with_overrides(
        {
            "storage.lake_uri": str(root / LAKE),
            "simulation.state_path": str(root / STATE),
            "simulation.start_date": "2026-11-24",
            **SMALL,
            **overrides,
        }
    )


def _market(regime: SimRegime | None = None, start: datetime = START) -> SimulatedMarket:
    return SimulatedMarket(SimMarketConfig(seed=7, start=start, forced_regime=regime))


def _table(root: Path, name: str) -> pl.DataFrame:
    path = root / LAKE / name
    return pl.read_delta(str(path)) if path.exists() else pl.DataFrame()


def _enter(broker: SimBroker, root: Path, **overrides: object) -> list[str]:
    """Open positions through the real entry job; return their strategy ids."""
    cfg = _cfg(root, **overrides)
    report = EntryWorkflow.from_config(cfg, broker, Lake(root / LAKE)).run(broker.now())
    ids = [o.strategy_id for o in report.entered if o.strategy_id is not None]
    assert ids, "the entry job opened nothing to monitor"
    return ids


@dataclass(frozen=True)
class Opened:
    root: Path
    ids: tuple[str, ...]


def _opened(root: Path, regime: SimRegime | None) -> Opened:
    broker = SimBroker(_market(regime))
    broker.connect()
    ids = _enter(broker, root)
    save_sim_broker(broker, root / STATE)
    return Opened(root, tuple(ids))


@pytest.fixture(scope="module")
def calm(tmp_path_factory: pytest.TempPathFactory) -> Opened:
    return _opened(tmp_path_factory.mktemp("calm"), None)


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Opened:
    return _opened(tmp_path_factory.mktemp("crash"), SimRegime.CRASH)


@dataclass
class Session:
    root: Path
    cfg: TradingConfig
    broker: SimBroker
    lake: Lake
    workflow: MonitoringWorkflow


def _session(opened: Opened, dest: Path, **overrides: object) -> Session:
    """A private copy of ``opened``'s account and lake, with a monitoring workflow on it."""
    shutil.copytree(opened.root, dest, dirs_exist_ok=True)
    broker = load_sim_broker(dest / STATE)
    broker.connect()
    return _attach(dest, broker, **overrides)


def _attach(root: Path, broker: SimBroker, **overrides: object) -> Session:
    cfg = _cfg(root, **overrides)
    lake = Lake(root / LAKE)
    return Session(root, cfg, broker, lake, MonitoringWorkflow.from_config(cfg, broker, lake))


def _run_until(
    s: Session,
    rule: str,
    *,
    outcome: ActionOutcome = ActionOutcome.CLOSED,
    step_s: float = 3600,
    cycles: int = 8,
) -> MonitoringReport:
    """Run a cycle every ``step_s`` of market time until ``rule`` leads to ``outcome``."""
    for _ in range(cycles):
        report = s.workflow.run_cycle()
        if any(a.rule == rule and a.outcome is outcome for a in report.actions):
            return report
        s.broker.wait(step_s)
    raise AssertionError(f"{rule} never led to {outcome.value} in {cycles} cycles")


def _inputs(root: Path, decision_id: str) -> dict[str, Any]:
    row = _table(root, "decisions").filter(pl.col("decision_id") == decision_id).row(0, named=True)
    inputs: dict[str, Any] = json.loads(row["inputs_json"])
    return inputs


def fired_for_its_inputs(rule: str, i: Mapping[str, Any]) -> bool:
    """Whether the numbers a decision stored really cross its rule's threshold."""
    if rule == "stop_loss":
        return bool(i["loss_multiple"] >= i["stop_loss_multiple"])
    if rule in ("dynamic_take_profit", "fixed_take_profit"):
        return bool(i["profit_fraction"] >= i["profit_target"])
    if rule == "dte_exit":
        return bool(i["dte"] <= i["dte_exit"])
    if rule == "delta_breach":
        return bool(i["max_short_delta"] >= i["delta_breach"])
    if rule == "short_strike_breached":
        below = i["right"] == "P" and i["spot"] < i["strike"]
        return bool(below or (i["right"] == "C" and i["spot"] > i["strike"]))
    if rule == "expiration_day":
        return bool(i["dte"] == 0 and i["strike_distance_pct"] <= i["expiration_proximity_pct"])
    if rule == "gamma_risk":
        return bool(
            i["dte"] <= i["gamma_dte"] and abs(i["position_gamma"]) > i["max_position_gamma"]
        )
    if rule == "volatility_expansion":
        return bool(i["iv_change"] >= i["vol_expansion_pct"] and i["pnl"] < 0)
    if rule == "roll_opportunity":
        return bool(
            i["max_short_delta"] >= i["roll_tested_delta"]
            and i["roll_credit"] >= i["roll_min_credit"]
        )
    return False


def _assert_closed_and_booked(s: Session, strategy_id: str, rule: str) -> None:
    """The strategy is closed in the lake and at the broker; its actual is recorded."""
    (row,) = _table(s.root, "strategies").filter(pl.col("strategy_id") == strategy_id).to_dicts()
    assert row["status"] == "closed" and row["close_reason"] == "closed"
    assert row["closed_at"] is not None
    legs = {leg.contract.key for leg in strategy_from_row({**row, "status": "open"}).legs}
    assert not legs & {p.contract.key for p in s.broker.positions()}

    fills = _table(s.root, "executions").filter(
        pl.col("order_ref").str.starts_with(f"tl:{strategy_id}:")
    )
    opened = fills.filter(pl.col("order_ref").str.contains(":open:"))
    closed = fills.filter(pl.col("order_ref").str.contains(":close:"))
    assert opened.height and closed.height
    credit = sum(
        (1 if f["side"] == "SLD" else -1) * f["quantity"] * f["price"]
        for f in opened.iter_rows(named=True)
    )
    debit = sum(
        (1 if f["side"] == "BOT" else -1) * f["quantity"] * f["price"]
        for f in closed.iter_rows(named=True)
    )
    commissions = float(fills["commission"].sum())
    (pred,) = _table(s.root, "predictions").filter(pl.col("strategy_id") == strategy_id).to_dicts()
    assert pred["exit_rule"] == rule
    assert pred["closed_at"] == row["closed_at"]
    assert pred["actual_pnl"] == pytest.approx((credit - debit) * 100.0 - commissions)


# --- one cycle -----------------------------------------------------------------------------
def test_a_cycle_stores_one_readable_decision_per_open_strategy(
    calm: Opened, tmp_path: Path
) -> None:
    s = _session(calm, tmp_path)

    report = s.workflow.run_cycle()

    assert report.status is MonitoringStatus.COMPLETED and report.market_open
    assert report.regime is not None and report.regime.value in report.regime_reason
    decisions = _table(s.root, "decisions")
    assert sorted(decisions["strategy_id"]) == sorted(calm.ids)
    assert decisions["decision_id"].n_unique() == decisions.height
    for row in decisions.to_dicts():
        assert row["ts"] == report.ts and row["rule"] == "hold" and row["urgency"] == "LOW"
        assert row["reason"].startswith("no rule fired: profit ")
        inputs = json.loads(row["inputs_json"])
        assert inputs["marks_valid"] and inputs["regime"] == report.regime.value
        assert inputs["pnl"] is not None and inputs["profit_fraction"] is not None
        assert inputs["entry_iv"] > 0 and inputs["current_iv"] > 0  # the baseline IV is stored
    frame = report.decisions_frame()
    assert frame.columns[:5] == ["strategy", "rule", "action", "urgency", "reason"]
    assert frame.height == len(calm.ids) and report.actions == ()

    slots = _table(s.root, "market_data_slots")
    assert slots.height == 1 and slots["ts"][0] == report.ts
    budget = s.cfg.market_data.line_budget - s.cfg.market_data.reserved_lines
    assert 0 < slots["streaming_lines"][0] <= budget
    assert slots["budget"][0] == s.cfg.market_data.line_budget
    assert report.usage is not None and report.usage.streaming_strategies == len(calm.ids)
    readings = _table(s.root, "regime_readings")
    assert readings.height == 1 and readings["regime"][0] == report.regime.value


def test_the_entry_iv_first_seen_stays_the_baseline(calm: Opened, tmp_path: Path) -> None:
    s = _session(calm, tmp_path)
    first = s.workflow.run_cycle()
    s.broker.wait(1800)

    later = s.workflow.run_cycle()

    baseline = {d.strategy_id: d.inputs["entry_iv"] for d in first.decisions}
    assert {d.strategy_id: d.inputs["entry_iv"] for d in later.decisions} == baseline
    # No snapshot of the chain was taken at entry: the first IV seen is the baseline.
    assert baseline == {d.strategy_id: d.inputs["current_iv"] for d in first.decisions}
    assert all(d.inputs["current_iv"] is not None for d in later.decisions)


# --- closing ---------------------------------------------------------------------------------
def test_a_crash_stops_out_a_short_put_through_the_executor(crash: Opened, tmp_path: Path) -> None:
    s = _session(crash, tmp_path, **{"rules.stop_loss_multiple": 0.35})

    report = _run_until(s, "stop_loss")

    (stop, *_) = [a for a in report.actions if a.rule == "stop_loss"]
    assert stop.outcome is ActionOutcome.CLOSED and stop.urgency is Urgency.IMMEDIATE
    assert stop.realized_pnl is not None and stop.realized_pnl < 0
    assert stop.exit_status == "recorded"
    decision = next(d for d in report.decisions if d.strategy_id == stop.strategy_id)
    inputs = _inputs(s.root, decision.decision_id)
    assert decision.action is DecisionAction.CLOSE and fired_for_its_inputs("stop_loss", inputs)
    assert decision.reason.startswith("loss ") and "x credit >= stop 0.35x" in decision.reason
    # The close was bounded by the natural debit plus the tolerance, and filled inside it.
    assert inputs["order_bound"] == pytest.approx(stop.bound)
    assert stop.price <= stop.bound + 1e-9
    orders = _table(s.root, "orders").filter(pl.col("strategy_id") == stop.strategy_id)
    closing = orders.filter(pl.col("intent") == "close")
    assert closing.height >= 1 and (closing["status"] == "filled").any()
    _assert_closed_and_booked(s, stop.strategy_id, "stop_loss")


@pytest.mark.parametrize(
    ("dynamic", "rule"), [(True, "dynamic_take_profit"), (False, "fixed_take_profit")]
)
def test_a_call_spread_that_decays_in_a_crash_takes_its_profit(
    crash: Opened, tmp_path: Path, dynamic: bool, rule: str
) -> None:
    s = _session(crash, tmp_path, **{"profit_targets.dynamic_enabled": dynamic})

    report = _run_until(s, rule)

    taken = [a for a in report.actions if a.rule == rule]
    for action in taken:
        assert action.outcome is ActionOutcome.CLOSED and action.urgency is Urgency.NORMAL
        assert action.realized_pnl is not None and action.realized_pnl > 0
        decision = next(d for d in report.decisions if d.strategy_id == action.strategy_id)
        inputs = _inputs(s.root, decision.decision_id)
        assert fired_for_its_inputs(rule, inputs)
        target = 0.40 if dynamic else s.cfg.profit_targets.fixed  # crash: 40% of max profit
        assert inputs["profit_target"] == target
        if dynamic:
            assert inputs["regime"] == "crash" and "target for regime crash" in decision.reason
        _assert_closed_and_booked(s, action.strategy_id, rule)
    # Whatever was not closed is still open, with its prediction still waiting for an actual.
    strategies = _table(s.root, "strategies")
    still_open = set(strategies.filter(pl.col("status") == "open")["strategy_id"])
    assert still_open == set(crash.ids) - {a.strategy_id for a in report.closed}
    predictions = _table(s.root, "predictions").filter(pl.col("strategy_id").is_in(still_open))
    assert predictions["actual_pnl"].is_null().all()


def test_in_a_crash_a_book_over_its_limits_closes_what_it_would_have_rolled(
    crash: Opened, tmp_path: Path
) -> None:
    s = _session(crash, tmp_path, **{"rules.enabled": {"dynamic_take_profit": False}})
    s.broker.wait((new_york(2026, 11, 25, 10, 0) - s.broker.now()).total_seconds())

    report = s.workflow.run_cycle()

    assert not [a for a in report.actions if a.outcome is ActionOutcome.ROLLED]
    limited = [d for d in report.decisions if d.rule == "book_limit"]
    instead = [d for d in limited if "no roll: it adds to" in d.reason]
    assert instead, [(d.rule, d.reason) for d in report.decisions]
    assert all(d.action is DecisionAction.CLOSE for d in limited)
    breaches = _table(s.root, "limit_breaches")
    assert breaches.height > 0


# Rolling mechanics, on a book allowed to stay over its limits (see the test above).
ROLLS = {"rules.enabled": {"dynamic_take_profit": False}, "risk.reduce_on_breach": False}


def test_a_tested_short_put_is_rolled_out_for_a_credit(crash: Opened, tmp_path: Path) -> None:
    s = _session(crash, tmp_path, **ROLLS)
    # The next morning, a day into the crash, the puts are tested.
    s.broker.wait((new_york(2026, 11, 25, 10, 0) - s.broker.now()).total_seconds())

    report = s.workflow.run_cycle()

    rolled = [a for a in report.actions if a.outcome is ActionOutcome.ROLLED]
    assert rolled, [a.reason for a in report.actions]
    for action in rolled:
        decision = next(d for d in report.decisions if d.strategy_id == action.strategy_id)
        inputs = _inputs(s.root, decision.decision_id)
        assert decision.action is DecisionAction.ROLL
        assert fired_for_its_inputs(decision.rule, inputs) or decision.rule == "dte_exit"
        assert -action.price >= s.cfg.rules.roll_min_credit  # collected at least the minimum
        (row,) = (
            _table(s.root, "strategies")
            .filter(pl.col("strategy_id") == action.strategy_id)
            .to_dicts()
        )
        record = strategy_from_row(row)
        assert row["status"] == "open"
        assert {leg.contract.expiry for leg in record.legs} == {
            date.fromisoformat(str(inputs["roll_expiry"]))
        }
        held = {p.contract.key: p.quantity for p in s.broker.positions()}
        assert all(held[leg.contract.key] == pytest.approx(leg.quantity) for leg in record.legs)
        assert record.credit == pytest.approx(inputs["credit"] - action.price)

    # Re-run at the same time: the rolls are reported from the journal, never booked twice.
    book, orders = _table(s.root, "strategies"), _table(s.root, "orders")
    again = MonitoringWorkflow.from_config(s.cfg, s.broker, s.lake).run_cycle(report.ts)
    assert _table(s.root, "strategies").sort("strategy_id").equals(book.sort("strategy_id"))
    assert _table(s.root, "orders").height == orders.height
    assert {a.outcome for a in again.actions} <= {ActionOutcome.SKIPPED, ActionOutcome.NOT_FILLED}

    # The sync, reading the broker and our order references, finds the same book.
    synced = run_sync(JobContext.of(s.broker, s.lake))
    assert synced.ok and synced.events == () and synced.opened == () and synced.closed == ()
    assert _table(s.root, "strategies").sort("strategy_id").equals(book.sort("strategy_id"))


@pytest.mark.slow  # hours of market through cycles
def test_rising_iv_on_a_losing_position_reduces_it_by_half(tmp_path: Path) -> None:
    broker = SimBroker(_market(SimRegime.CRASH))
    broker.connect()
    two = {"strategies.entry_quantity": 2}
    _enter(broker, tmp_path, **two)
    s = _attach(tmp_path, broker, **two, **{"rules.vol_expansion_pct": 0.01})
    s.workflow.run_cycle()  # the first sighting sets each strategy's entry IV
    broker.wait(2 * 3600)

    report = _run_until(s, "volatility_expansion", outcome=ActionOutcome.REDUCED)

    (reduced, *_) = [a for a in report.actions if a.outcome is ActionOutcome.REDUCED]
    assert reduced.action is DecisionAction.REDUCE and reduced.quantity == reduced.filled == 1
    decision = next(d for d in report.decisions if d.strategy_id == reduced.strategy_id)
    assert fired_for_its_inputs("volatility_expansion", _inputs(s.root, decision.decision_id))
    (row,) = (
        _table(s.root, "strategies").filter(pl.col("strategy_id") == reduced.strategy_id).to_dicts()
    )
    assert row["status"] == "open" and row["quantity"] == 1.0
    held = {p.contract.key: p.quantity for p in broker.positions()}
    for leg in strategy_from_row(row).legs:
        assert abs(leg.quantity) == 1.0 and held[leg.contract.key] == pytest.approx(leg.quantity)
    (pred,) = (
        _table(s.root, "predictions")
        .filter(pl.col("strategy_id") == reduced.strategy_id)
        .to_dicts()
    )
    assert pred["actual_pnl"] is None  # half of it is still open


# --- never on a bad quote, never twice -----------------------------------------------------
class CrossingBroker(SimBroker):
    """The simulated market, but one contract's quote comes back crossed."""

    crossed: str = ""

    def snapshot(self, contracts: Sequence[Contract]) -> list[Quote]:
        return [self._cross(q) for q in super().snapshot(contracts)]

    def latest(self, contract: Contract) -> Quote | None:
        q = super().latest(contract)
        return None if q is None else self._cross(q)

    def _cross(self, q: Quote) -> Quote:
        return replace(q, bid=q.ask + 0.05) if q.contract.key == self.crossed else q


def _short_leg(root: Path, strategy_id: str) -> str:
    row = _table(root, "strategies").filter(pl.col("strategy_id") == strategy_id).row(0, named=True)
    return next(leg.contract.key for leg in strategy_from_row(row).legs if leg.quantity < 0)


def test_an_invalid_leg_quote_sends_no_order_and_records_why(tmp_path: Path) -> None:
    broker = CrossingBroker(_market())
    broker.connect()
    ids = _enter(broker, tmp_path)
    bad, good = ids[0], ids[1]
    broker.crossed = _short_leg(tmp_path, bad)
    # Every position is inside the DTE exit: a rule that reads no marks fires for both.
    s = _attach(tmp_path, broker, **{"rules.dte_exit": 60})
    orders_before = _table(tmp_path, "orders").height

    report = s.workflow.run_cycle()

    decisions = {d.strategy_id: d for d in report.decisions}
    assert decisions[bad].rule == "dte_exit" and decisions[bad].acts
    skip = decisions[bad].inputs["skip_reason"]
    assert skip == f"invalid quote: {broker.crossed}: crossed: bid " + skip.split("bid ", 1)[1]
    stored = _inputs(tmp_path, decisions[bad].decision_id)
    assert stored["skip_reason"] == skip and stored["marks_valid"] is False
    (skipped,) = report.skipped
    assert skipped.strategy_id == bad and "crossed" in skipped.reason
    assert report.decisions_frame().filter(pl.col("strategy") == bad)["skip_reason"][0] == skip

    orders = _table(tmp_path, "orders")
    assert orders.filter(pl.col("strategy_id") == bad).height == 1  # its opening order only
    assert broker.crossed in {p.contract.key for p in broker.positions()}
    # The strategy with good quotes was exited in the same cycle.
    assert {a.strategy_id for a in report.actions if a.outcome is not ActionOutcome.SKIPPED} == {
        good
    }
    assert orders.height > orders_before


def test_rerunning_a_cycle_at_the_same_time_duplicates_nothing(
    crash: Opened, tmp_path: Path
) -> None:
    s = _session(crash, tmp_path, **{"rules.stop_loss_multiple": 0.35})
    first = _run_until(s, "stop_loss")
    tables = ("decisions", "orders", "executions", "predictions", "strategies")
    before = {name: _table(s.root, name) for name in tables}

    # A new process (fresh workflow, same account) re-runs the cycle at the same time.
    again = MonitoringWorkflow.from_config(s.cfg, s.broker, s.lake).run_cycle(first.ts)

    for name in tables:
        assert _table(s.root, name).height == before[name].height, name
    assert (
        _table(s.root, "decisions")
        .sort("decision_id")
        .equals(before["decisions"].sort("decision_id"))
    )
    assert set(again.reused) == {d.strategy_id for d in again.decisions}
    assert not {a.strategy_id for a in first.closed} & {d.strategy_id for d in again.decisions}
    assert all(a.outcome is not ActionOutcome.CLOSED for a in again.actions)


class FrozenFills(SimBroker):
    """The simulated market, but while ``frozen`` no order ever fills."""

    frozen: bool = True

    def _try_fill(self, *args: Any, **kwargs: Any) -> None:
        if not self.frozen:
            super()._try_fill(*args, **kwargs)


@pytest.mark.slow  # several walked exits
def test_an_exit_that_did_not_fill_is_retried_as_a_new_attempt(tmp_path: Path) -> None:
    broker = FrozenFills(_market())
    broker.connect()
    broker.frozen = False
    ids = _enter(broker, tmp_path)
    broker.frozen = True
    s = _attach(
        tmp_path, broker, **{"rules.dte_exit": 60, "rules.enabled": {"delta_breach": False}}
    )

    first = s.workflow.run_cycle()

    assert {a.outcome for a in first.actions} == {ActionOutcome.NOT_FILLED}
    assert all(a.reason.startswith("timeout") and a.attempt == 0 for a in first.actions)
    refs = set(_table(tmp_path, "orders")["order_ref"])
    again = MonitoringWorkflow.from_config(s.cfg, broker, s.lake).run_cycle(first.ts)
    assert set(_table(tmp_path, "orders")["order_ref"]) == refs  # resumed, not re-sent
    assert {a.attempt for a in again.actions} == {0}

    broker.frozen = False
    broker.wait(600)
    retried = s.workflow.run_cycle()

    assert {a.strategy_id for a in retried.actions} == set(ids)
    for action in retried.actions:
        assert action.attempt == 1 and action.outcome in (
            ActionOutcome.CLOSED,
            ActionOutcome.ROLLED,
        )
    new = set(_table(tmp_path, "orders")["order_ref"]) - refs
    assert new and all(int(ref.rsplit(":", 1)[1]) > 1000 for ref in new)


def test_outside_market_hours_decisions_are_stored_but_no_order_goes_out(
    calm: Opened, tmp_path: Path
) -> None:
    s = _session(calm, tmp_path, **{"rules.dte_exit": 60})
    s.broker.wait((new_york(2026, 11, 24, 17) - s.broker.now()).total_seconds())
    orders_before = _table(s.root, "orders").height

    report = s.workflow.run_cycle()

    assert not report.market_open and "market closed: no orders" in report.lines()[0]
    assert {d.rule for d in report.decisions} == {"dte_exit"}
    assert all(
        d.inputs["skip_reason"] == "market closed: decisions only, no orders outside regular hours"
        for d in report.decisions
    )
    assert {a.outcome for a in report.actions} == {ActionOutcome.SKIPPED}
    assert _table(s.root, "orders").height == orders_before
    assert _table(s.root, "decisions").height == len(calm.ids)


def test_the_job_runs_one_cycle_on_the_persisted_simulated_account(
    calm: Opened, tmp_path: Path
) -> None:
    shutil.copytree(calm.root, tmp_path, dirs_exist_ok=True)

    report = run_once(run_monitoring, _cfg(tmp_path))

    assert report.status is MonitoringStatus.COMPLETED
    assert {d.strategy_id for d in report.decisions} == set(calm.ids)
    assert _table(tmp_path, "decisions").height == len(calm.ids)


def test_with_nothing_open_a_cycle_says_so(tmp_path: Path) -> None:
    broker = SimBroker(_market())
    broker.connect()
    s = _attach(tmp_path, broker)

    report = s.workflow.run_cycle()

    assert report.status is MonitoringStatus.NO_STRATEGIES and report.decisions == ()


# --- a simulated week --------------------------------------------------------------------------
@pytest.mark.slow
def test_a_simulated_week_closes_positions_for_the_right_reasons(tmp_path: Path) -> None:
    broker = SimBroker(_market(start=utc(2026, 11, 24, 14, 45)))
    broker.connect()
    targets = dict.fromkeys(
        ("crash", "high_vol", "normal", "low_vol", "trending", "range_bound"), 0.3
    )
    s = _attach(
        tmp_path,
        broker,
        **{
            "strategies.underlyings": ["SPY", "QQQ"],
            "profit_targets.fixed": 0.3,
            "profit_targets.regime": targets,
            "rules.stop_loss_multiple": 0.5,
            "trading_limits.max_new_entries_per_day": 3,
        },
    )
    entry = EntryWorkflow.from_config(s.cfg, broker, s.lake)
    hours = MarketHours(s.cfg.scheduler.calendar)
    day, days, cycles = START.astimezone(NEW_YORK).date(), 0, 0
    while days < 5:
        if hours.is_trading_day(day):
            days += 1
            for hh, mm in ((10, 0), (11, 0), (12, 30), (14, 0), (15, 45)):
                at = new_york(day.year, day.month, day.day, hh, mm)
                if at > broker.now():
                    broker.wait((at - broker.now()).total_seconds())
                if not hours.is_open(broker.now()):
                    continue  # the half day after Thanksgiving closes at 13:00
                if (hh, mm) == (10, 0):
                    entry.run(broker.now())
                else:
                    s.workflow.run_cycle()
                    cycles += 1
        day += timedelta(days=1)

    assert cycles >= 18
    strategies, decisions = _table(tmp_path, "strategies"), _table(tmp_path, "decisions")
    predictions = _table(tmp_path, "predictions")
    closed = strategies.filter(pl.col("status") == "closed")
    assert closed.height >= 3, "a week of monitoring closed (almost) nothing"
    # The seeded week has both winners and losers: profits taken and losses stopped.
    assert {"dynamic_take_profit", "stop_loss"} <= set(predictions["exit_rule"].drop_nulls())
    assert decisions.select("strategy_id", "ts").is_unique().all()
    held = {p.contract.key for p in broker.positions()}
    for row in closed.to_dicts():
        sid = row["strategy_id"]
        (pred,) = predictions.filter(pl.col("strategy_id") == sid).to_dicts()
        assert pred["actual_pnl"] is not None and pred["closed_at"] == row["closed_at"]
        if pred["exit_rule"] == "stop_loss":
            assert pred["actual_pnl"] < 0
        if pred["exit_rule"].endswith("take_profit"):
            assert pred["actual_pnl"] > 0
        # The decision that closed it is the last one stored for it, and its numbers agree.
        last = decisions.filter(pl.col("strategy_id") == sid).sort("ts").row(-1, named=True)
        assert last["rule"] == pred["exit_rule"] and last["action"] == "close"
        assert fired_for_its_inputs(last["rule"], json.loads(last["inputs_json"])), last["reason"]
        legs = strategy_from_row({**row, "status": "open"}).legs
        assert not {leg.contract.key for leg in legs} & held
    still_open = strategies.filter(pl.col("status") == "open")
    for row in still_open.to_dicts():
        for leg in strategy_from_row(row).legs:
            assert leg.contract.key in held


# --- the pure helpers ----------------------------------------------------------------------------
def test_an_exit_may_pay_natural_plus_the_larger_tolerance() -> None:
    assert exit_bound(2.00, 0.10, 0.05) == pytest.approx(2.20)
    assert exit_bound(0.20, 0.10, 0.05) == pytest.approx(0.25)
    assert exit_bound(-0.50, 0.10, 0.05) == pytest.approx(-0.45)  # closing for a credit


def test_a_reduce_closes_its_fraction_but_at_least_one_unit() -> None:
    assert reduce_units(4, 0.5) == 2
    assert reduce_units(3, 0.5) == 1
    assert reduce_units(1, 0.5) == 1
    assert reduce_units(2, 1.0) == 2


def test_a_roll_goes_to_the_expiry_nearest_the_middle_of_the_entry_window() -> None:
    today = date(2026, 11, 25)
    expiries = [today + timedelta(days=d) for d in (3, 10, 29, 36, 38, 50)]
    current = today + timedelta(days=10)
    assert roll_expiry(expiries, current, today, 30, 45) == today + timedelta(days=38)
    assert roll_expiry(expiries, today + timedelta(days=40), today, 30, 45) is None


def test_rolled_legs_keep_strikes_rights_and_ratios() -> None:
    old = date(2026, 12, 24)
    legs = (
        Leg(Contract.option("SPY", old, 560, Right.PUT, con_id=1), -1),
        Leg(Contract.option("SPY", old, 555, Right.PUT, con_id=2), 1),
    )
    s = Strategy("x", StrategyType.PUT_CREDIT_SPREAD, "SPY", legs, 1, 1.0, START)
    new = rolled_legs(s, date(2027, 1, 8))
    assert new is not None
    assert [(leg.contract.key, leg.ratio) for leg in new] == [
        ("SPY 20270108 560 P", -1),
        ("SPY 20270108 555 P", 1),
    ]


def test_realized_pnl_is_cash_in_less_cash_out_less_commissions() -> None:
    fills = pl.DataFrame(
        {
            "con_id": [1, 2, 1, 2],
            "side": ["SLD", "BOT", "BOT", "SLD"],
            "quantity": [1.0, 1.0, 1.0, 1.0],
            "price": [2.00, 0.80, 0.50, 0.10],
            "commission": [0.65, 0.65, 0.65, None],
        }
    )
    # Opened for 1.20 credit, closed for 0.40 debit: 0.80 x 100 less 1.95 commissions.
    assert realized_pnl(fills.iter_rows(named=True), {1: 100.0, 2: 100.0}, 100.0) == pytest.approx(
        80.0 - 1.95
    )


def test_attempts_group_journaled_orders_by_sequence_block() -> None:
    def entry(seq: int, status: OrderStatus, filled: float) -> JournalEntry:
        return JournalEntry(
            f"tl:s:close:{seq}",
            "s",
            OrderPurpose.CLOSE,
            seq,
            status,
            OrderType.LIMIT,
            0.5,
            1,
            filled,
            None,
            "[]",
            START,
            START + timedelta(seconds=seq),
        )

    found = attempts_of(
        [
            entry(1, OrderStatus.CANCELLED, 0.0),
            entry(2, OrderStatus.CANCELLED, 0.0),
            entry(1001, OrderStatus.SUBMITTED, 0.0),
        ]
    )
    assert [(a.index, a.filled, a.unsettled) for a in found] == [(0, 0.0, False), (1, 0.0, True)]


@pytest.mark.slow  # two sessions of rolls
def test_a_roll_never_lands_on_a_contract_another_strategy_holds(
    crash: Opened, tmp_path: Path
) -> None:
    from tradelib.stores.sync import SyncStore
    from tradelib.sync import HeldLeg, StrategyRecord

    no_dynamic = ROLLS
    morning = new_york(2026, 11, 25, 10, 0)
    probe = _session(crash, tmp_path / "probe", **no_dynamic)
    probe.broker.wait((morning - probe.broker.now()).total_seconds())
    rolled = {
        a.strategy_id
        for a in probe.workflow.run_cycle().actions
        if a.outcome is ActionOutcome.ROLLED
    }
    assert rolled
    targets = [
        leg.contract
        for row in _table(probe.root, "strategies").to_dicts()
        if row["strategy_id"] in rolled
        for leg in strategy_from_row(row).legs
    ]

    # The same morning, with another strategy already holding the contracts they rolled to.
    s = _session(crash, tmp_path / "s", **no_dynamic)
    at = s.broker.now()
    blocker = StrategyRecord(
        "blocker", StrategyType.CUSTOM, "SPY", tuple(HeldLeg(c, 1) for c in targets), at, at
    )
    SyncStore(s.lake).save_strategies([blocker])
    s.broker.wait((morning - s.broker.now()).total_seconds())
    report = s.workflow.run_cycle()

    assert not [
        a for a in report.actions if a.strategy_id in rolled and a.outcome is ActionOutcome.ROLLED
    ]
    for sid in rolled:
        decision = next(d for d in report.decisions if d.strategy_id == sid)
        assert decision.action is not DecisionAction.ROLL or "skip_reason" in _inputs(
            s.root, decision.decision_id
        )
