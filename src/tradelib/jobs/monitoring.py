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
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from tradelib import alerts
from tradelib.broker import Broker
from tradelib.config import TradingConfig
from tradelib.domain import (
    NEW_YORK,
    Contract,
    Decision,
    Leg,
    Quote,
    Right,
    check_quote,
    ensure_utc,
    net_prices,
)
from tradelib.errors import (
    BrokerError,
    ContractError,
    RiskInputError,
)
from tradelib.execution import (
    TransactionalExecutor,
)
from tradelib.jobs.context import JobContext, load_job_config, run_once
from tradelib.jobs.monitoring_exits import ExitActions, Watched
from tradelib.jobs.monitoring_report import (
    MonitoringReport,
    MonitoringStatus,
)
from tradelib.jobs.portfolio import measure_portfolio
from tradelib.jobs.regime import RegimeReader, regime_text
from tradelib.lake import Lake, TableName
from tradelib.marketdata import MarketDataSlotManager
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
    closing_legs,
    roll_expiry,
    rolled_legs,
    short_leg_iv,
)
from tradelib.stores.decisions import decision_from_row, record_decisions
from tradelib.stores.predictions import StrategyPredictionsTable
from tradelib.stores.risk import lake_breaker, record_limit_use
from tradelib.stores.sync import SyncStore

log = logging.getLogger(__name__)

_EPS = 1e-9


# --- pure helpers ---------------------------------------------------------------------------
class MonitoringWorkflow(ExitActions):
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
    def _book(self, today: date) -> tuple[list[Watched], list[str]]:
        """Open strategies to watch, and those whose legs expired (left to the sync)."""
        watched: list[Watched] = []
        expired: list[str] = []
        for record in sorted(self.store.open_strategies(), key=lambda r: r.strategy_id):
            if not record.legs:
                continue
            strategy = record.to_strategy()
            expiry = strategy.expiry
            if expiry is not None and expiry < today:
                expired.append(record.strategy_id)
                continue
            watched.append(Watched(record, strategy))
        return watched, expired

    # --- quotes ------------------------------------------------------------------------------
    def _quotes(self, watched: Sequence[Watched], now: datetime) -> tuple[dict[str, Quote], int]:
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

    def _spots(self, watched: Sequence[Watched]) -> dict[str, float]:
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
    def _stored_decisions(self, watched: Sequence[Watched], now: datetime) -> _Stored:
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
        watched: Sequence[Watched],
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

    def _snapshot_ivs(self, watched: Sequence[Watched]) -> dict[str, float]:
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
        w: Watched,
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
        self, watched: Sequence[Watched], quotes: Mapping[str, Quote], now: datetime, today: date
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

    def _dividends(self, watched: Sequence[Watched]) -> dict[str, DividendInfo]:
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
        w: Watched,
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

    def _roll_credit(self, w: Watched, quotes: Mapping[str, Quote]) -> float | None:
        """Net credit per share per unit of closing ``w`` and reopening it at the roll legs."""
        assert w.roll is not None
        combo = (*closing_legs(w.strategy), *w.roll)
        if any(leg.contract.key not in quotes for leg in combo):
            return None
        _, natural, _ = net_prices(combo, quotes)
        return -natural


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
