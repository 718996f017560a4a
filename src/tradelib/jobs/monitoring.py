"""The monitoring job: every open strategy's marks, greeks and decision, and the exits they call for.

``MonitoringWorkflow.run_cycle(now)`` is one pass (SPEC parts 6, 7, 10, 11), a
thin edge over the pure rules engine:

1. **Book.** The open strategies of the lake's ``strategies`` table (as entry
   and the sync keep it, read with ``tradelib.stores.sync``). Strategies whose
   option legs have expired are left to the sync, which settles them.
2. **Quotes.** The ``MarketDataSlotManager`` streams the legs of the
   strategies nearest a trigger within the line budget and snapshots the rest
   when due. A leg quote still older than ``market_data.max_quote_age_s`` when
   the decision is taken is snapshotted once more: a decision is only as good
   as its oldest mark. Line use is written to ``market_data_slots``.
3. **Regime.** ``EnhancedMarketRegimeDetector`` over daily SPY and VIX bars
   (plus today's intraday SPY bars), fed the reading of the day before from
   ``regime_readings`` for hysteresis; the day's reading is stored back (one
   row per day, so several cycles a day never count as several readings).
4. **Decisions.** ``build_strategy_state`` then ``DecisionEngine``. Entry IV is
   the IV of the short legs in the ``option_snapshots`` taken at or before the
   entry, else the first IV this job recorded for the strategy (the first
   sighting is the baseline, and it is stored in that decision's inputs). A
   strategy whose tested side might roll (short |delta| at the roll-tested
   threshold, or DTE at the DTE exit) also gets its roll credit: the same
   strikes in the expiry nearest the middle of the entry DTE window, closing
   and reopening at natural prices. Every decision is stored in ``decisions``
   (an upsert on its deterministic id) *before* any order goes out; a strategy
   already decided at this ``now`` (a re-run) keeps its stored decision.
5. **Exits.** close, reduce and roll decisions go to ``TransactionalExecutor``;
   the decision's urgency picks where the price walk starts (IMMEDIATE near
   natural, HIGH part way, NORMAL and LOW at mid) and how fast it steps.

   * *close*: the held legs reversed; bound = the natural debit at the
     decision plus the larger of ``execution.exit_tolerance_pct`` of it and
     ``execution.exit_min_tolerance``. A stop loss is priced the same way, off
     the market now, not off its trigger: if the market runs past the bound the
     order times out and the next cycle decides again on fresh quotes.
   * *reduce*: the same for ``max(1, floor(units x execution.reduce_fraction))``
     units.
   * *roll*: one combo closing the legs and reopening the same strikes at the
     roll expiry, bound = ``-rules.roll_min_credit`` (it must collect at least
     that). The strategy keeps its id (the sync's registry reads a roll under
     one id) and its credit grows by the roll's.

   It never acts on an invalid or stale mark, outside regular market hours, or
   for an expired strategy: the decision is still evaluated and stored, with
   ``skip_reason`` in its inputs, and the report says why nothing was sent.
   (The executor checks the quotes again before every price it sends.)
6. **Books.** A close that fills marks the strategy closed (``closed_at`` = the
   last fill, ``close_reason`` "closed"; the rule that closed it is in the
   decision and in the prediction's ``exit_rule``) and records the actual
   outcome against the entry prediction: realized P&L in dollars = (credits
   received - debits paid) x multiplier x quantity - commissions, summed over
   every fill of the strategy's orders (entry, rolls, reduces, close). A
   partial fill leaves the rest of the strategy open at its smaller size.

Retries. An exit that ends without a fill (timeout, a quote gone bad) is tried
again by the next cycle that decides so, as a new *attempt*: attempt ``k``
uses order sequence numbers ``1000k+1..1000k+99`` (attempt 0 is the executor's
own ``1..99``), so every attempt stays journaled under the strategy's id and
purpose. A re-run at the same ``now`` resumes the latest attempt, never starts
one. An attempt that filled after the book was last written (a crash between
the fill and the bookkeeping) is booked, not repeated: a close is completed
here; a reduce or roll waits for the sync, which regroups legs from our order
references (the broker is the truth).

Money conventions follow ``tradelib.domain.orders``: a signed net price per
unit, positive for a debit, negative for a credit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import polars as pl

from tradelib import alerts
from tradelib.broker import Broker
from tradelib.config import TradingConfig
from tradelib.domain import (
    NEW_YORK,
    Contract,
    Decision,
    DecisionAction,
    Leg,
    MarketRegime,
    OrderPurpose,
    Quote,
    Right,
    Strategy,
    Urgency,
    check_quote,
    ensure_utc,
    net_prices,
    order_ref_prefix,
)
from tradelib.domain.decisions import InputValue
from tradelib.domain.pnl import realized_pnl
from tradelib.errors import (
    BrokerError,
    ContractError,
    ExecutionPlanError,
    RiskInputError,
)
from tradelib.execution import (
    ExecutionOutcome,
    ExecutionPlan,
    ExecutionResult,
    TransactionalExecutor,
)
from tradelib.jobs.context import JobContext, load_job_config, run_once
from tradelib.jobs.portfolio import measure_portfolio
from tradelib.jobs.regime import RegimeReader, regime_text
from tradelib.lake import Lake, TableName
from tradelib.marketdata import MarketDataSlotManager, SlotUsage
from tradelib.markethours import MarketHours
from tradelib.regime import EnhancedMarketRegimeDetector, RegimeReading
from tradelib.risk import (
    BookLimits,
    CircuitBreaker,
    LimitBreach,
    StrategyRisk,
    check_book,
    measure_book,
    strategy_risks,
)
from tradelib.rules import (
    DecisionEngine,
    DividendInfo,
    MarketState,
    StrategyState,
    build_strategy_state,
)
from tradelib.rules.book import apply_book_limits
from tradelib.rules.exits import (
    ExitOrder,
    closing_legs,
    exit_bound,
    reduce_units,
    roll_expiry,
    rolled_legs,
    short_leg_iv,
)
from tradelib.stores.decisions import decision_from_row, record_decisions
from tradelib.stores.orders import legs_from_json
from tradelib.stores.predictions import StrategyPredictionsTable
from tradelib.stores.risk import lake_breaker, record_limit_use
from tradelib.stores.sync import SyncStore
from tradelib.sync.model import CloseReason, HeldLeg, StrategyRecord
from tradelib.variance import ExitStatus

log = logging.getLogger(__name__)

_EPS = 1e-9
_PURPOSE = {
    DecisionAction.CLOSE: OrderPurpose.CLOSE,
    DecisionAction.REDUCE: OrderPurpose.REDUCE,
    DecisionAction.ROLL: OrderPurpose.ROLL,
}


# --- the report -----------------------------------------------------------------------------
class MonitoringStatus(StrEnum):
    """How a cycle ended."""

    COMPLETED = "completed"
    NO_STRATEGIES = "no_strategies"


class ActionOutcome(StrEnum):
    """What became of one decision that asked for an order."""

    CLOSED = "closed"  # the whole position closed
    REDUCED = "reduced"  # part of it closed (a reduce, or a close partly filled)
    ROLLED = "rolled"
    NOT_FILLED = "not_filled"  # worked by the executor, nothing filled
    SKIPPED = "skipped"  # no order sent; ``reason`` says why


@dataclass(frozen=True, slots=True)
class ActionReport:
    """One acting decision and what the workflow did about it."""

    strategy_id: str
    rule: str
    action: DecisionAction
    urgency: Urgency
    outcome: ActionOutcome
    reason: str
    quantity: int = 0  # units the order asked for
    filled: float = 0.0  # units filled
    price: float = math.nan  # signed net per unit (positive = debit paid)
    bound: float = math.nan
    realized_pnl: float | None = None  # dollars, whole position (full closes only)
    exit_status: str = ""  # how the actual was stored against the prediction
    attempt: int | None = None


@dataclass(frozen=True, slots=True)
class MonitoringReport:
    """What one monitoring cycle saw, decided and did."""

    ts: datetime
    status: MonitoringStatus
    market_open: bool
    regime: MarketRegime | None = None
    regime_reason: str = ""
    decisions: tuple[Decision, ...] = ()
    actions: tuple[ActionReport, ...] = ()
    reused: tuple[str, ...] = ()  # strategy ids whose decision at ``ts`` was already stored
    left_to_sync: tuple[str, ...] = ()  # expired strategies, not evaluated
    usage: SlotUsage | None = None
    quotes_refreshed: int = 0

    @property
    def closed(self) -> tuple[ActionReport, ...]:
        return tuple(a for a in self.actions if a.outcome is ActionOutcome.CLOSED)

    @property
    def skipped(self) -> tuple[ActionReport, ...]:
        return tuple(a for a in self.actions if a.outcome is ActionOutcome.SKIPPED)

    def decisions_frame(self) -> pl.DataFrame:
        """One row per decision: strategy, rule, action, urgency, reason (and any skip)."""
        rows = [
            {
                "strategy": d.strategy_id,
                "rule": d.rule,
                "action": d.action.value,
                "urgency": d.urgency.name,
                "reason": d.reason,
                "skip_reason": _text_or_none(d.inputs.get("skip_reason")),
            }
            for d in self.decisions
        ]
        schema = dict.fromkeys(
            ("strategy", "rule", "action", "urgency", "reason", "skip_reason"), pl.String
        )
        return pl.DataFrame(rows, schema=schema)

    def actions_frame(self) -> pl.DataFrame:
        """One row per acting decision: what was sent, what filled, the P&L booked."""
        rows = [
            {
                "strategy": a.strategy_id,
                "rule": a.rule,
                "action": a.action.value,
                "outcome": a.outcome.value,
                "filled": a.filled,
                "price": _finite_or_none(a.price),
                "realized_pnl": a.realized_pnl,
                "reason": a.reason,
            }
            for a in self.actions
        ]
        schema: dict[str, Any] = {
            "strategy": pl.String,
            "rule": pl.String,
            "action": pl.String,
            "outcome": pl.String,
            "filled": pl.Float64,
            "price": pl.Float64,
            "realized_pnl": pl.Float64,
            "reason": pl.String,
        }
        return pl.DataFrame(rows, schema=schema)

    def lines(self) -> list[str]:
        """A short human summary."""
        regime = self.regime.value if self.regime is not None else "unknown"
        hours = "market open" if self.market_open else "market closed: no orders"
        out = [
            f"monitoring at {self.ts:%Y-%m-%d %H:%M} UTC: {self.status.value} ({hours})",
            f"  regime {regime}: {self.regime_reason or '-'}",
            f"  {len(self.decisions)} decision(s), {len(self.reused)} already stored; "
            f"{len(self.actions)} acting, {len(self.closed)} closed, {len(self.skipped)} skipped",
        ]
        if self.usage is not None:
            u = self.usage
            out.append(
                f"  market data: {u.lines_in_use}/{u.option_lines} lines streaming "
                f"{u.streaming_strategies} strategies, {u.snapshot_strategies} on snapshots"
            )
        out += [
            f"  {a.strategy_id}: {a.rule} -> {a.outcome.value} ({a.reason})" for a in self.actions
        ]
        return out


def _text_or_none(value: InputValue) -> str | None:
    return None if value is None else str(value)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --- pure helpers ---------------------------------------------------------------------------
# --- what a cycle works with ----------------------------------------------------------------
@dataclass(slots=True)
class _Watched:
    """One open strategy through the cycle."""

    record: StrategyRecord
    strategy: Strategy
    state: StrategyState | None = None
    roll: tuple[Leg, ...] | None = None  # the legs it would roll to
    close_natural: float | None = None  # natural debit per unit to close, at the decision


class MonitoringWorkflow:
    """One monitoring pass over a broker and a lake (see the module doc)."""

    def __init__(
        self,
        cfg: TradingConfig,
        broker: Broker,
        lake: Lake,
        *,
        executor: TransactionalExecutor,
        slots: MarketDataSlotManager,
        hours: MarketHours,
        engine: DecisionEngine | None = None,
        detector: EnhancedMarketRegimeDetector | None = None,
        predictions: StrategyPredictionsTable | None = None,
    ) -> None:
        self.cfg = cfg
        self.broker = broker
        self.lake = lake
        self.executor = executor
        self.slots = slots
        self.hours = hours
        self.engine = engine or DecisionEngine.from_config(cfg)
        self.detector = detector or EnhancedMarketRegimeDetector.from_config(cfg)
        self.predictions = predictions or StrategyPredictionsTable(lake)
        self.store = SyncStore(lake)
        self.regime_reader = RegimeReader(broker, lake, self.detector, hours)
        self._last_rebalance: datetime | None = None

    @classmethod
    def from_config(
        cls,
        cfg: TradingConfig,
        broker: Broker,
        lake: Lake,
        *,
        breaker: CircuitBreaker | None = None,
        hours: MarketHours | None = None,
        slots: MarketDataSlotManager | None = None,
    ) -> MonitoringWorkflow:
        """Build every part from ``cfg``; the breaker (exits always pass it) lives in ``lake``."""
        breaker = breaker or lake_breaker(cfg, lake)
        return cls(
            cfg,
            broker,
            lake,
            executor=TransactionalExecutor.from_config(cfg, broker, lake, breaker),
            slots=slots or MarketDataSlotManager.from_config(cfg, broker),
            hours=hours or MarketHours(cfg.scheduler.calendar),
        )

    def __repr__(self) -> str:
        return f"MonitoringWorkflow({self.broker!r}, {self.lake!r})"

    def close(self) -> None:
        """Release the streaming lines this workflow holds."""
        self.slots.release()

    # --- the cycle ------------------------------------------------------------------------
    def run_cycle(self, now: datetime | None = None) -> MonitoringReport:
        """Decide about every open strategy at ``now`` (default: broker time) and act on it."""
        now = ensure_utc(now or self.broker.now(), "now")
        market_open = self.hours.is_open(now)
        today = now.astimezone(NEW_YORK).date()
        watched, expired = self._book(today)
        if not watched:
            return MonitoringReport(
                now,
                MonitoringStatus.NO_STRATEGIES,
                market_open,
                left_to_sync=tuple(expired),
            )
        quotes, refreshed = self._quotes(watched, now)
        spots = self._spots(watched)
        reading = self._regime(now, market_open)
        stored = self._stored_decisions(watched, now)
        entry_ivs = self._entry_ivs(watched, stored.entry_ivs, quotes)
        fresh = [w for w in watched if w.strategy.strategy_id not in stored.at_now]
        dividends = self._dividends(fresh)
        held_by = {
            leg.contract.key: w.strategy.strategy_id for w in watched for leg in w.strategy.legs
        }

        for w in fresh:
            sid = w.strategy.strategy_id
            div = dividends.get(w.strategy.underlying)
            w.state = self._state(w, quotes, spots, now, entry_ivs.get(sid), div)
            if market_open and self._may_roll(w.state):
                w.roll = self._roll(w, quotes, now, today, held_by)
                if w.roll is not None:
                    w.state = self._state(w, quotes, spots, now, entry_ivs.get(sid), div)
        # VIX is the daily close the regime was read from: an index has no bid/ask to snapshot.
        vix = reading.evidence.get("vix")
        state_market = MarketState(
            now, reading.regime, float(vix) if isinstance(vix, int | float) else None, spots
        )
        states = [w.state for w in fresh if w.state is not None]
        decided = self.engine.evaluate_all(states, state_market, now)
        risks, breaches = self._book_limits(watched, quotes, now, today)
        if self.cfg.risk.reduce_on_breach:
            decided = apply_book_limits(
                decided, risks, breaches, now, tolerance=self.cfg.risk.breach_tolerance
            )
        self._record_breaches(breaches, now)
        by_id = {w.strategy.strategy_id: w for w in watched}
        decided = [self._annotate(d, by_id[d.strategy_id], reading, market_open) for d in decided]
        if decided:
            record_decisions(self.lake, decided)
        reused = [stored.at_now[sid] for sid in by_id if sid in stored.at_now]
        reused_ids = {d.strategy_id for d in reused}
        decisions = decided + reused

        # The most urgent exits go first: each may hold the broker for a whole price walk.
        acting = sorted(
            (d for d in decisions if d.acts), key=lambda d: (d.urgency.value, d.priority)
        )
        actions = [
            self._try_act(d, by_id[d.strategy_id], d.strategy_id in reused_ids) for d in acting
        ]
        usage = self._record_usage(now)
        return MonitoringReport(
            now,
            MonitoringStatus.COMPLETED,
            market_open,
            reading.regime,
            regime_text(reading),
            tuple(sorted(decisions, key=lambda d: d.strategy_id)),
            tuple(actions),
            tuple(sorted(d.strategy_id for d in reused)),
            tuple(expired),
            usage,
            refreshed,
        )

    # --- book ----------------------------------------------------------------------------
    def _book(self, today: date) -> tuple[list[_Watched], list[str]]:
        """Open strategies to watch, and those whose legs expired (left to the sync)."""
        watched: list[_Watched] = []
        expired: list[str] = []
        for record in sorted(self.store.open_strategies(), key=lambda r: r.strategy_id):
            if not record.legs:
                continue
            strategy = record.to_strategy()
            expiry = strategy.expiry
            if expiry is not None and expiry < today:
                expired.append(record.strategy_id)
                continue
            watched.append(_Watched(record, strategy))
        return watched, expired

    # --- quotes ------------------------------------------------------------------------------
    def _quotes(self, watched: Sequence[_Watched], now: datetime) -> tuple[dict[str, Quote], int]:
        """Every leg's quote at ``now`` through the slot manager; (quotes by key, refreshed)."""
        self.slots.track(w.strategy for w in watched)
        cycle_s = self._cycle_s()
        refreshed = 0
        try:
            refreshed += len(self.slots.refresh(now, lookahead_s=cycle_s))
            rebalance_s = self.cfg.refresh_intervals.streaming_rebalance_s
            last = self._last_rebalance
            if last is None or (now - last).total_seconds() >= rebalance_s - _EPS:
                self.slots.rebalance(now)
                self._last_rebalance = now
        except BrokerError as exc:
            log.warning("monitoring: quote refresh failed: %s", exc)
        legs = {leg.contract.key: leg.contract for w in watched for leg in w.strategy.legs}
        quotes: dict[str, Quote] = {}
        stale: list[Contract] = []
        max_age = self.cfg.market_data.max_quote_age_s
        for key, contract in legs.items():
            q = self.slots.quote(contract)
            if q is not None:
                quotes[key] = q
            if q is None or (now - q.ts).total_seconds() > max_age:
                stale.append(contract)
        if stale:
            try:
                fresh = self.broker.snapshot(stale)
            except (BrokerError, ContractError) as exc:
                log.warning("monitoring: snapshot of %d legs failed: %s", len(stale), exc)
            else:
                quotes.update((q.contract.key, q) for q in fresh)
                refreshed += len(fresh)
        return quotes, refreshed

    def _cycle_s(self) -> float:
        task = self.cfg.scheduler.tasks.get("monitoring")
        return 60.0 * task.every_minutes if task is not None else 0.0

    def _spots(self, watched: Sequence[_Watched]) -> dict[str, float]:
        """Spot of every underlying watched (missing when its quote is unusable)."""
        underlyings = sorted({w.strategy.underlying for w in watched})
        try:
            quotes = self.broker.snapshot([Contract.stock(u) for u in underlyings])
        except (BrokerError, ContractError) as exc:
            log.warning("monitoring: spot snapshot failed: %s", exc)
            return {}
        return {q.contract.symbol: q.mark for q in quotes if math.isfinite(q.mark) and q.mark > 0}

    # --- regime ----------------------------------------------------------------------------------
    def _regime(self, now: datetime, market_open: bool) -> RegimeReading:
        """The regime entry and monitoring share (see ``tradelib.jobs.regime``)."""
        return self.regime_reader.read(now, market_open=market_open)

    # --- stored decisions and entry IV ---------------------------------------------------------
    def _stored_decisions(self, watched: Sequence[_Watched], now: datetime) -> _Stored:
        """Decisions already stored at ``now`` and each strategy's recorded entry IV."""
        ids = [w.strategy.strategy_id for w in watched]
        since = min(w.strategy.opened_at for w in watched).date()
        frame = self.lake.read(
            TableName.DECISIONS,
            filter=pl.col("strategy_id").is_in(ids) & (pl.col("date") >= since),
        ).collect()
        at_now = {
            r["strategy_id"]: decision_from_row(r)
            for r in frame.filter(pl.col("ts") == now).iter_rows(named=True)
        }
        first_iv = (
            frame.with_columns(
                pl.col("inputs_json").str.json_path_match("$.entry_iv").cast(pl.Float64).alias("iv")
            )
            .filter(pl.col("iv").is_not_null() & (pl.col("iv") > 0))
            .sort("ts")
            .unique("strategy_id", keep="first")
        )
        ivs = dict(zip(first_iv["strategy_id"], first_iv["iv"], strict=True))
        return _Stored(at_now, ivs)

    def _entry_ivs(
        self,
        watched: Sequence[_Watched],
        recorded: Mapping[str, float],
        quotes: Mapping[str, Quote],
    ) -> dict[str, float]:
        """Entry IV per strategy: recorded, else at the entry's snapshot, else seen now."""
        out = dict(recorded)
        missing = [w for w in watched if w.strategy.strategy_id not in out]
        if missing:
            out.update(self._snapshot_ivs(missing))
        for w in missing:
            sid = w.strategy.strategy_id
            if sid not in out:
                iv = short_leg_iv(w.strategy, quotes)
                if iv is not None:
                    out[sid] = iv
        return out

    def _snapshot_ivs(self, watched: Sequence[_Watched]) -> dict[str, float]:
        """Mean short-leg IV in the newest ``option_snapshots`` at or before each entry."""
        out: dict[str, float] = {}
        for w in watched:
            s = w.strategy
            shorts = [leg.contract for leg in s.short_legs if leg.contract.is_option]
            if not shorts:
                continue
            day = s.opened_at.date()
            frame = self.lake.read(
                TableName.OPTION_SNAPSHOTS,
                columns=["ts", "expiry", "strike", "right", "iv"],
                filter=(pl.col("underlying") == s.underlying)
                & pl.col("date").is_between(day - timedelta(days=1), day)
                & (pl.col("ts") <= s.opened_at)
                & pl.col("iv").is_not_null(),
            ).collect()
            ivs = []
            for c in shorts:
                assert c.right is not None
                rows = frame.filter(
                    (pl.col("expiry") == c.expiry)
                    & (pl.col("strike") == c.strike)
                    & (pl.col("right") == c.right.value)
                ).sort("ts")
                if rows.height:
                    ivs.append(float(rows["iv"][-1]))
            if ivs and all(v > 0 for v in ivs):
                out[s.strategy_id] = sum(ivs) / len(ivs)
        return out

    # --- states ------------------------------------------------------------------------------------
    def _state(
        self,
        w: _Watched,
        quotes: Mapping[str, Quote],
        spots: Mapping[str, float],
        now: datetime,
        entry_iv: float | None,
        dividend: DividendInfo | None = None,
    ) -> StrategyState:
        roll_credit = None
        if w.roll is not None:
            roll_credit = self._roll_credit(w, quotes)
        state = build_strategy_state(
            w.strategy,
            quotes,
            spots.get(w.strategy.underlying),
            now,
            entry_iv=entry_iv,
            max_quote_age_s=self.cfg.market_data.max_quote_age_s,
            dividend=dividend,
            roll_credit=roll_credit,
        )
        if state.marks_valid:
            _, natural, _ = net_prices(closing_legs(w.strategy), quotes)
            w.close_natural = natural
        return state

    def _book_limits(
        self, watched: Sequence[_Watched], quotes: Mapping[str, Quote], now: datetime, today: date
    ) -> tuple[tuple[StrategyRisk, ...], tuple[LimitBreach, ...]]:
        """Each strategy's share of the portfolio, and the limits the book as it stands is
        over (none when it cannot be measured: the reason is logged)."""
        try:
            measured = measure_portfolio(self.cfg, self.broker, now)
            risks = strategy_risks(
                measured.calculator, [w.strategy for w in watched], quotes, today=today
            )
            limits = BookLimits.from_config(self.cfg, returns=measured.returns)
            self._warn_daily_loss(measured.account.day_pnl, now)
            breaches = check_book(
                measured.portfolio,
                measured.account,
                limits,
                open_strategies=len(watched),
                strategies=risks,
            )
            uses = measure_book(
                measured.portfolio, measured.account, limits, open_strategies=len(watched)
            )
            record_limit_use(self.lake, uses, now)  # the dashboard's risk panel reads these
        except (BrokerError, RiskInputError) as exc:
            log.warning("monitoring: book limits not measured: %s", exc)
            return (), ()
        return risks, breaches

    def _warn_daily_loss(self, day_pnl: float, now: datetime) -> None:
        """Alert when the day's loss passes the warning fraction of the breaker's limit."""
        alert = alerts.daily_loss_alert(
            -day_pnl,
            self.cfg.risk.circuit_breaker.daily_loss_limit,
            self.cfg.alerts.daily_loss_warning_fraction,
            now,
        )
        if alert is not None:
            alerts.emit(alert)

    def _record_breaches(self, breaches: Sequence[LimitBreach], now: datetime) -> None:
        """One ``limit_breaches`` row per breach this cycle (the dashboard's and alerts' source)."""
        if not breaches:
            return
        for b in breaches:
            alerts.emit(alerts.limit_breach_alert(b.limit, b.measured, b.threshold, now, b.reason))
        action = "reduce" if self.cfg.risk.reduce_on_breach else "recorded"
        self.lake.upsert(
            TableName.LIMIT_BREACHES,
            [
                {
                    "breach_id": f"{b.limit}:{now:%Y%m%dT%H%M%S}",
                    "ts": now,
                    "limit": b.limit,
                    "measured": b.measured,
                    "threshold": b.threshold,
                    "reason": b.reason,
                    "underlyings": ",".join(b.underlyings) or None,
                    "strategies": ",".join(b.strategies) or None,
                    "action": action,
                }
                for b in breaches
            ],
        )

    def _dividends(self, watched: Sequence[_Watched]) -> dict[str, DividendInfo]:
        """The next dividend of each watched underlying holding a short call (for rule 1.4)."""
        out: dict[str, DividendInfo] = {}
        symbols = {
            w.strategy.underlying
            for w in watched
            if any(leg.ratio < 0 and leg.contract.right is Right.CALL for leg in w.strategy.legs)
        }
        for symbol in sorted(symbols):
            try:
                div = self.broker.dividend(symbol)
            except (BrokerError, ContractError) as exc:
                log.info("monitoring: no dividend data for %s: %s", symbol, exc)
                continue
            if div is not None:
                out[symbol] = DividendInfo(div.ex_date, div.amount)
        return out

    def _may_roll(self, state: StrategyState) -> bool:
        """Whether a roll quote could change the decision (tested side, or at the DTE exit)."""
        if not state.marks_valid or state.dte is None or state.dte <= 0:
            return False
        rules = self.cfg.rules
        tested = state.max_short_delta is not None and state.max_short_delta >= (
            rules.roll_tested_delta
        )
        return tested or state.dte <= rules.dte_exit

    def _roll(
        self,
        w: _Watched,
        quotes: dict[str, Quote],
        now: datetime,
        today: date,
        held_by: Mapping[str, str],
    ) -> tuple[Leg, ...] | None:
        """The legs ``w`` would roll to, with their quotes added to ``quotes`` (None: no roll).

        With ``strategies.avoid_held_contracts`` a roll never lands on a contract another
        open strategy holds (``held_by``: contract key -> strategy id).
        """
        s, st = w.strategy, self.cfg.strategies
        if s.expiry is None:
            return None
        try:
            info = self.broker.option_chain(s.underlying)
            expiry = roll_expiry(info.expiries, s.expiry, today, st.dte_min, st.dte_max)
            if expiry is None:
                return None
            legs = rolled_legs(s, expiry)
            listed = set(info.strikes_for(expiry))
            if legs is None or any(leg.contract.strike not in listed for leg in legs):
                return None
            if self.cfg.strategies.avoid_held_contracts:
                taken = [
                    f"{leg.contract.key} ({held_by[leg.contract.key]})"
                    for leg in legs
                    if held_by.get(leg.contract.key, s.strategy_id) != s.strategy_id
                ]
                if taken:
                    log.info("monitoring: no roll of %s onto %s", s.strategy_id, ", ".join(taken))
                    return None
            got = self.broker.snapshot([leg.contract for leg in legs])
        except (BrokerError, ContractError) as exc:
            log.info("monitoring: no roll quote for %s: %s", s.strategy_id, exc)
            return None
        max_age = self.cfg.market_data.max_quote_age_s
        for leg, q in zip(legs, got, strict=True):
            if not check_quote(q, now, max_age, allow_zero_bid=leg.ratio > 0).ok:
                return None
            quotes[leg.contract.key] = q
        # Trade the broker's contracts (con_id resolved): the strategy row keeps them.
        return tuple(Leg(q.contract, leg.ratio) for leg, q in zip(legs, got, strict=True))

    def _roll_credit(self, w: _Watched, quotes: Mapping[str, Quote]) -> float | None:
        """Net credit per share per unit of closing ``w`` and reopening it at the roll legs."""
        assert w.roll is not None
        combo = (*closing_legs(w.strategy), *w.roll)
        if any(leg.contract.key not in quotes for leg in combo):
            return None
        _, natural, _ = net_prices(combo, quotes)
        return -natural

    def _annotate(
        self, d: Decision, w: _Watched, reading: RegimeReading, market_open: bool
    ) -> Decision:
        """Join what the workflow adds to the rule's inputs: regime confidence, and for an
        acting decision either the price bound or why no order will go out."""
        extra: dict[str, InputValue] = {"regime_confidence": reading.confidence}
        if d.acts:
            skip = self._skip_reason(d, w, market_open)
            if skip:
                order = ExitOrder(skip_reason=skip)
            else:
                roll_to = w.roll[0].contract.expiry if w.roll else None
                order = ExitOrder(
                    bound=round(self._bound(d, w), 4),
                    roll_expiry=roll_to if d.action is DecisionAction.ROLL else None,
                )
            extra.update(order.inputs())
        return replace(d, inputs={**d.inputs, **extra})

    def _skip_reason(self, d: Decision, w: _Watched, market_open: bool) -> str:
        if not market_open:
            return "market closed: decisions only, no orders outside regular hours"
        state = w.state
        if state is not None and not state.marks_valid:
            return "invalid quote: " + "; ".join(state.mark_problems)
        if d.action is DecisionAction.ROLL and w.roll is None:
            return "no roll legs quoted"
        if w.close_natural is None or not math.isfinite(w.close_natural):
            return "no natural price to close at"
        return ""

    def _bound(self, d: Decision, w: _Watched) -> float:
        if d.action is DecisionAction.ROLL:
            return -self.cfg.rules.roll_min_credit
        ex = self.cfg.execution
        assert w.close_natural is not None
        return exit_bound(w.close_natural, ex.exit_tolerance_pct, ex.exit_min_tolerance)

    # --- acting ----------------------------------------------------------------------------------
    def _try_act(self, d: Decision, w: _Watched, reused: bool) -> ActionReport:
        """``_act``, with a broker or plan failure reported for this strategy alone."""
        try:
            return self._act(d, w, reused=reused)
        except (BrokerError, ExecutionPlanError) as exc:
            log.error("monitoring: %s %s failed: %s", d.strategy_id, d.action.value, exc)
            return ActionReport(
                d.strategy_id, d.rule, d.action, d.urgency, ActionOutcome.SKIPPED, f"failed: {exc}"
            )

    def _act(self, d: Decision, w: _Watched, *, reused: bool) -> ActionReport:
        """Send (or resume, or book) the order ``d`` asks for; report the outcome."""
        base = ActionReport(
            d.strategy_id, d.rule, d.action, d.urgency, ActionOutcome.SKIPPED, reason=""
        )
        order = ExitOrder.of(d)
        if order.skip_reason:
            return replace(base, reason=order.skip_reason)
        bound = order.bound
        if bound is None:
            return replace(base, reason="no price bound recorded with the decision")
        purpose = _PURPOSE[d.action]
        quantity = w.strategy.quantity
        if d.action is DecisionAction.REDUCE:
            quantity = reduce_units(quantity, self.cfg.execution.reduce_fraction)
        base = replace(base, quantity=quantity, bound=float(bound))
        attempt = self._attempt(d, w, purpose, base, reused=reused)
        if isinstance(attempt, ActionReport):
            return attempt
        legs = closing_legs(w.strategy)
        if d.action is DecisionAction.ROLL:
            roll = w.roll or self._journaled_roll(d)
            if roll is None:
                return replace(base, reason="the roll legs are not known to this run")
            legs = (*legs, *roll)
        plan = ExecutionPlan(
            d.strategy_id, purpose, legs, quantity, float(bound), d.urgency, attempt=attempt
        )
        result = self.executor.execute(plan)
        return self._book_result(d, w, plan, result, replace(base, attempt=attempt))

    def _attempt(
        self,
        d: Decision,
        w: _Watched,
        purpose: OrderPurpose,
        base: ActionReport,
        *,
        reused: bool,
    ) -> int | ActionReport:
        """The exit attempt to work now, or the report of why none is (see "Retries")."""
        attempts = self.executor.attempts(d.strategy_id, purpose)
        latest = attempts[-1] if attempts else None
        if latest is None:
            return 0
        if latest.unsettled:
            return latest.index  # an order may still be working: resume, never send twice
        if latest.filled > _EPS and latest.last_update > w.record.updated_at:
            if purpose is OrderPurpose.CLOSE and latest.filled >= latest.quantity - _EPS:
                return latest.index  # a close that filled but was never booked: book it
            why = (
                f"an earlier {purpose.value} filled {latest.filled:g} after the book was "
                "written: left to the sync to regroup the legs"
            )
            return replace(base, reason=why, attempt=latest.index)
        if reused:
            # This decision was already worked by an earlier run at the same time.
            why = f"attempt {latest.index} already worked at this time: {latest.reason}"
            outcome = ActionOutcome.NOT_FILLED if latest.filled <= _EPS else ActionOutcome.SKIPPED
            return replace(base, outcome=outcome, reason=why, attempt=latest.index)
        return latest.index + 1

    def _journaled_roll(self, d: Decision) -> tuple[Leg, ...] | None:
        """On a re-run the roll legs come from the journal (the decision's own run had them)."""
        entries = self.executor.journal.entries(d.strategy_id, OrderPurpose.ROLL)
        if not entries:
            return None
        legs = legs_from_json(entries[-1].legs_json)
        half = len(legs) // 2
        return tuple(legs[half:]) if half else None

    def _book_result(
        self,
        d: Decision,
        w: _Watched,
        plan: ExecutionPlan,
        result: ExecutionResult,
        base: ActionReport,
    ) -> ActionReport:
        """Write what filled into ``strategies`` (and ``predictions`` on a full close)."""
        filled_units = math.floor(result.filled_quantity + _EPS)
        report = replace(base, filled=result.filled_quantity, price=result.avg_price)
        if filled_units < 1:
            why = f"{result.outcome.value}: {result.reason}"
            outcome = (
                ActionOutcome.SKIPPED
                if result.outcome
                in (
                    ExecutionOutcome.INVALID_QUOTE,
                    ExecutionOutcome.MARKET_CLOSED,
                    ExecutionOutcome.REFUSED,
                    ExecutionOutcome.BLOCKED,
                )
                and not result.order_refs
                else ActionOutcome.NOT_FILLED
            )
            log.info("monitoring: %s %s not filled (%s)", d.strategy_id, d.action.value, why)
            return replace(report, outcome=outcome, reason=why)
        at = max((f.ts for f in result.fills), default=self.broker.now())
        stamp = max(at, self.broker.now())
        record, units = w.record, w.strategy.quantity
        if d.action is DecisionAction.ROLL:
            return self._book_roll(d, w, plan, result, report, filled_units, stamp)
        left = units - filled_units
        if left > 0:
            self.store.save_strategies([record.scaled(left, stamp)])
            why = f"closed {filled_units} of {units} unit(s) at {result.avg_price:.2f}"
            if d.action is DecisionAction.CLOSE:
                why += f"; {left} left open ({result.reason})"
            return replace(report, outcome=ActionOutcome.REDUCED, reason=why)
        self.store.save_strategies(
            [replace(record.closed(CloseReason.CLOSED, at), updated_at=stamp)]
        )
        pnl = self._realized(w)
        status = self._record_exit(d, record, pnl, at, stamp)
        why = f"closed {units} unit(s) at {result.avg_price:.2f} debit: realized ${pnl:,.2f}"
        log.info("monitoring: %s %s", d.strategy_id, why)
        return replace(
            report, outcome=ActionOutcome.CLOSED, reason=why, realized_pnl=pnl, exit_status=status
        )

    def _book_roll(
        self,
        d: Decision,
        w: _Watched,
        plan: ExecutionPlan,
        result: ExecutionResult,
        report: ActionReport,
        filled_units: int,
        stamp: datetime,
    ) -> ActionReport:
        """The strategy holds the new legs for the units that rolled (same id, bigger credit)."""
        record, units = w.record, w.strategy.quantity
        n_old = len(w.strategy.legs)
        new_legs = plan.legs[n_old:]
        filled_contracts = {f.contract.key: f.contract for f in result.fills}
        rolled = [
            HeldLeg(filled_contracts.get(leg.contract.key, leg.contract), leg.ratio * filled_units)
            for leg in new_legs
        ]
        kept = [
            HeldLeg(h.contract, h.quantity / units * (units - filled_units)) for h in record.legs
        ]
        roll_credit = -result.avg_price
        credit = (record.credit or 0.0) + roll_credit * filled_units / units
        legs = tuple(h for h in (*kept, *rolled) if abs(h.quantity) > _EPS)
        self.store.save_strategies([replace(record, legs=legs, credit=credit, updated_at=stamp)])
        why = f"rolled {filled_units} of {units} unit(s) for {roll_credit:.2f} credit"
        expiry = new_legs[0].contract.expiry if new_legs else None
        if expiry is not None:
            why += f" to {expiry.isoformat()}"
        log.info("monitoring: %s %s", d.strategy_id, why)
        return replace(report, outcome=ActionOutcome.ROLLED, reason=why)

    def _realized(self, w: _Watched) -> float:
        """Realized P&L of the whole strategy from its fills (credit-based if it has none)."""
        sid = w.strategy.strategy_id
        fills = self.lake.read(
            TableName.EXECUTIONS,
            filter=pl.col("order_ref").is_not_null()
            & pl.col("order_ref").str.starts_with(order_ref_prefix(sid)),
        ).collect()
        multipliers = {
            h.contract.con_id: h.contract.multiplier
            for h in w.record.legs
            if h.contract.con_id is not None
        }
        opened = fills.filter(
            pl.col("order_ref").str.starts_with(order_ref_prefix(sid, OrderPurpose.OPEN))
        )
        pnl = realized_pnl(fills.iter_rows(named=True), multipliers, w.strategy.multiplier)
        if opened.height == 0:
            # Opened by hand (or before the journal): its credit stands in for the opening fills.
            s = w.strategy
            pnl += s.credit * s.multiplier * s.quantity
        return pnl

    def _record_exit(
        self, d: Decision, record: StrategyRecord, pnl: float, at: datetime, stamp: datetime
    ) -> str:
        if record.prediction_id is None:
            return "no prediction"
        result = self.predictions.record_exit(
            record.prediction_id, pnl, d.rule, at, recorded_at=stamp
        )
        if result.status not in (ExitStatus.RECORDED, ExitStatus.DUPLICATE):
            log.warning(
                "monitoring: exit of %s not stored: %s (%s)",
                record.prediction_id,
                result.status.value,
                result.reason,
            )
        return result.status.value

    # --- slot use --------------------------------------------------------------------------------
    def _record_usage(self, now: datetime) -> SlotUsage:
        usage = self.slots.usage()
        md = self.cfg.market_data
        legs = sum(len(self.slots.legs_of(sid)) for sid in self.slots.tracked)
        row = {
            "ts": now,
            "streaming_lines": usage.lines_in_use,
            "snapshot_contracts": max(legs - usage.lines_in_use, 0),
            "budget": md.line_budget,
            "reserved": md.reserved_lines,
            "snapshot_load_per_min": usage.snapshot_load_per_min,
            "snapshot_capacity_per_min": usage.snapshot_capacity_per_min,
        }
        self.lake.upsert(TableName.MARKET_DATA_SLOTS, [row])
        return usage


@dataclass(frozen=True, slots=True)
class _Stored:
    at_now: dict[str, Decision]  # strategy id -> its decision stored at this cycle's time
    entry_ivs: dict[str, float]  # strategy id -> the entry IV first recorded


# --- the job ----------------------------------------------------------------------------------
def run_monitoring(ctx: JobContext, *, at: datetime | None = None) -> MonitoringReport:
    """The monitoring job: one cycle over the open strategies at ``at`` (default: broker time)."""
    workflow = MonitoringWorkflow.from_config(ctx.cfg, ctx.broker, ctx.lake, hours=ctx.hours)
    try:
        return workflow.run_cycle(ctx.at(at))
    finally:
        workflow.close()


def monitoring_job(config_path: str = "", lake_uri: str = "") -> MonitoringReport:
    """The scheduled notebook's one call: load the config, open its broker and lake, one cycle."""
    return run_once(run_monitoring, load_job_config(config_path), lake_uri=lake_uri)
