"""The entry job: regime, candidates, limits, execution and the prediction at entry.

``EntryWorkflow.run`` is one pass of the scheduled entry job (SPEC part 8-11):

1. **Gates.** Only inside regular market hours; the circuit breaker first sees
   the account (daily loss against the start-of-day net liquidation) and then
   must allow an entry. A closed market or an open breaker ends the run with
   the reason and no order.
2. **Inputs.** The regime is the one monitoring reads (``tradelib.jobs.regime``); each configured
   underlying's chain (expiries in the DTE window) is snapshotted from the
   broker; the weights come from the ``WeightsSource`` (variance analysis, or
   the config overrides with 1.0 for the rest).
3. **Candidates.** ``StrategySelector`` ranks them. Every quote a candidate's
   legs need is validated (``check_quote``): one bad leg quote disqualifies
   the candidate, with the reason.
4. **One by one, best first,** each candidate must: be new today (its
   strategy id is deterministic per underlying, type, expiry, strikes and day,
   so a re-run never opens the same strategy twice); not reuse a contract the
   account already holds; stay within the daily entry cap; and pass
   ``PortfolioLimitsChecker`` on the portfolio *after* the entry (rejections
   are stored in ``risk_rejections``). Then ``TransactionalExecutor`` works
   one combo order from mid toward natural, never past the candidate's
   minimum acceptable credit (its natural credit, but never below
   ``strategies.min_credit``).
5. **Records.** A filled entry becomes an open row in ``strategies`` and a
   ``Prediction`` (expected P&L at the fill, probability of profit, max risk,
   regime, skew, weight) in ``predictions``; both writes are idempotent.

Everything the run decided is in the ``EntryReport``: every candidate with its
outcome and reason, including those the selector filtered out.

This module is the run and its candidate loop (steps 1-4); the orders and the
records of step 5 are ``tradelib.jobs.entry_orders``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Protocol

from tradelib.broker import Broker
from tradelib.config import TradingConfig
from tradelib.domain import (
    AccountSnapshot,
    Contract,
    JoinedQuotes,
    MarketRegime,
    OrderPurpose,
    Quote,
    QuoteBook,
    Right,
    Strategy,
    ensure_utc,
)
from tradelib.entry import Candidate, OptionChain, StrategySelector
from tradelib.errors import BrokerError, ChainDataError, RiskInputError
from tradelib.execution import TransactionalExecutor
from tradelib.jobs.context import JobContext, load_job_config, run_once
from tradelib.jobs.entry_orders import EntryOrders, minimum_credit
from tradelib.jobs.entry_report import (
    CandidateOutcome,
    EntryReport,
    EntryStatus,
    Outcome,
    entry_strategy_id,
    is_entry_strategy_id,
)
from tradelib.jobs.entry_rows import (
    EntryBook,
    InvalidQuotes,
    as_strategy,
    bad_leg,
    candidate_outcome,
    filtered_outcomes,
    line_rejection_row,
    not_tried,
    ny_date,
    read_book,
    selector_rejection_rows,
    start_of_day_net_liq,
)
from tradelib.jobs.portfolio import measure_portfolio
from tradelib.jobs.regime import RegimeReader, regime_text
from tradelib.lake import Lake
from tradelib.marketdata.slots import MarketDataSlotManager
from tradelib.markethours import MarketHours
from tradelib.regime import EnhancedMarketRegimeDetector, RegimeReading
from tradelib.risk import (
    CircuitBreaker,
    PortfolioLimitsChecker,
    PortfolioRisk,
    PortfolioRiskCalculator,
)
from tradelib.stores.predictions import StrategyPredictionsTable
from tradelib.stores.risk import lake_breaker, rejection_rows, store_rejection_rows
from tradelib.stores.sync import SyncStore
from tradelib.stores.weights import EntryWeights, WeightsProvider
from tradelib.sync import StrategyRegistry

__all__ = ["EntryWorkflow", "WeightsSource", "entry_job", "minimum_credit", "run_entry"]

log = logging.getLogger(__name__)


# --- weights ------------------------------------------------------------------------------
class WeightsSource(Protocol):
    """Where strategy weights come from (``tradelib.variance.WeightsProvider``)."""

    def weights_for(self, regime: MarketRegime | None, now: datetime) -> EntryWeights:
        """The weights to rank with in ``regime`` at ``now``, and their provenance."""
        ...


# --- the workflow -----------------------------------------------------------------------------
@dataclass(slots=True)
class _Market:
    """Everything the candidate loop needs, gathered once per run."""

    account: AccountSnapshot
    portfolio: PortfolioRisk
    calculator: PortfolioRiskCalculator
    checker: PortfolioLimitsChecker
    quotes: Mapping[str, Quote] = field(default_factory=dict)  # contract key -> quote
    invalid: Mapping[str, str] = field(default_factory=dict)  # contract key -> why
    held: set[str] = field(default_factory=set)  # contract keys the account or a strategy holds
    book: list[Strategy] = field(default_factory=list)  # open strategies (for line admission)


@dataclass(slots=True)
class _Tally:
    """The run's counts as candidates are entered, and why the rest are not tried."""

    open_count: int
    entered_today: int
    stop: str = ""  # set once a cap is reached or the breaker opens


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One new candidate to try: its rank, day, strategy id and outcome so far."""

    cand: Candidate
    rank: int
    day: date
    sid: str
    base: CandidateOutcome
    quantity: int


class EntryWorkflow:
    """One pass of the entry job over a broker and a lake (see the module doc)."""

    def __init__(
        self,
        cfg: TradingConfig,
        broker: Broker,
        lake: Lake,
        *,
        breaker: CircuitBreaker,
        executor: TransactionalExecutor,
        weights: WeightsSource,
        hours: MarketHours,
        selector: StrategySelector | None = None,
        detector: EnhancedMarketRegimeDetector | None = None,
        predictions: StrategyPredictionsTable | None = None,
    ) -> None:
        self.cfg = cfg
        self.broker = broker
        self.lake = lake
        self.breaker = breaker
        self.executor = executor
        self.weights = weights
        self.hours = hours
        self.selector = selector or StrategySelector.from_config(cfg)
        self.detector = detector or EnhancedMarketRegimeDetector.from_config(cfg)
        self.predictions = predictions or StrategyPredictionsTable(lake)
        self.orders = EntryOrders(cfg, broker, lake, executor, self.predictions)
        self.regime_reader = RegimeReader(broker, lake, self.detector, hours)

    @classmethod
    def from_config(
        cls,
        cfg: TradingConfig,
        broker: Broker,
        lake: Lake,
        *,
        breaker: CircuitBreaker | None = None,
        weights: WeightsSource | None = None,
        hours: MarketHours | None = None,
    ) -> EntryWorkflow:
        """Build every part from ``cfg``; the breaker is persisted in ``lake``."""
        breaker = breaker or lake_breaker(cfg, lake)
        return cls(
            cfg,
            broker,
            lake,
            breaker=breaker,
            executor=TransactionalExecutor.from_config(cfg, broker, lake, breaker),
            weights=weights or WeightsProvider.from_config(cfg, lake),
            hours=hours or MarketHours(cfg.scheduler.calendar),
        )

    def __repr__(self) -> str:
        return f"EntryWorkflow({self.broker!r}, {self.lake!r})"

    # --- the run ------------------------------------------------------------------------
    def run(self, now: datetime | None = None) -> EntryReport:
        """Enter what the market, the limits and the breaker allow at ``now`` (default: broker time)."""
        now = ensure_utc(now or self.broker.now(), "now")
        day = ny_date(now)
        if not self.hours.is_open(now):
            reason = f"market closed at {now:%Y-%m-%d %H:%M} UTC: no entries outside regular hours"
            return EntryReport(now, EntryStatus.MARKET_CLOSED, reason)
        book = read_book(self.lake, day)
        report, handled = self._decide(now, day, book)
        # Orders an interrupted run sent but never recorded, and that this run did not
        # meet again among its candidates: finish them from the journal.
        leftover = sorted(
            sid for sid in book.journaled - book.known_ids - handled if is_entry_strategy_id(sid)
        )
        recovered = [o for sid in leftover if (o := self.orders.recover(sid)) is not None]
        return replace(report, outcomes=report.outcomes + tuple(recovered))

    def _decide(self, now: datetime, day: date, book: EntryBook) -> tuple[EntryReport, set[str]]:
        """The run proper: (the report, strategy ids resumed from the journal)."""
        account = self.broker.account()
        self.breaker.check_account(
            account, now, start_of_day_net_liq=start_of_day_net_liq(self.lake, day)
        )
        decision = self.breaker.allows(OrderPurpose.OPEN, now)
        if not decision.allowed:
            return EntryReport(now, EntryStatus.BLOCKED, decision.reason), set()

        limits = self.cfg.trading_limits
        if book.open_count >= limits.max_positions:
            reason = f"max positions reached: {book.open_count} open >= {limits.max_positions}"
            return EntryReport(now, EntryStatus.AT_LIMIT, reason), set()
        if len(book.entered_today) >= limits.max_new_entries_per_day:
            reason = (
                f"max new entries per day reached: {len(book.entered_today)} today "
                f">= {limits.max_new_entries_per_day}"
            )
            return EntryReport(now, EntryStatus.AT_LIMIT, reason), set()

        reading = self._regime(now)
        weights = self.weights.weights_for(reading.regime, now)
        chains, chain_outcomes, quotes = self._chains(day)
        open_book = StrategyRegistry.to_strategies(SyncStore(self.lake).open_strategies())
        selection = self.selector.select(
            chains,
            regime=reading.regime,
            weights=weights.weights,
            regime_weights=weights.regime_weights,
            open_strategies=open_book,
        )
        store_rejection_rows(self.lake, selector_rejection_rows(selection, day, now))
        invalid = InvalidQuotes(quotes, now, self.cfg.market_data.max_quote_age_s)
        report = EntryReport(
            now,
            EntryStatus.COMPLETED,
            "",
            reading.regime,
            regime_text(reading),
            "; ".join(weights.provenance.describe(s) for s in self.cfg.strategies.enabled),
        )
        filtered = chain_outcomes + filtered_outcomes(selection, invalid, day)
        if not selection.ranked:
            return replace(
                report,
                status=EntryStatus.NO_CANDIDATES,
                reason="no candidate passed the entry filters",
                outcomes=tuple(filtered),
            ), set()
        try:
            market = self._market(now, quotes, open_book)
        except (RiskInputError, BrokerError) as exc:
            # Without a measured portfolio no limit can be checked: enter nothing.
            reason = f"portfolio risk unavailable: {exc}"
            ranked = [
                not_tried(c, rank, day, reason) for rank, c in enumerate(selection.ranked, start=1)
            ]
            return replace(
                report,
                status=EntryStatus.RISK_UNAVAILABLE,
                reason=reason,
                outcomes=tuple(ranked + filtered),
            ), set()
        market.invalid = invalid
        ranked = self._enter(selection.ranked, market, book, day)
        entered = sum(1 for o in ranked if o.outcome is Outcome.ENTERED)
        resumed = {
            o.strategy_id
            for o in ranked
            if o.strategy_id in book.journaled
            and o.outcome in (Outcome.ENTERED, Outcome.NOT_FILLED)
        }
        return replace(
            report,
            reason=f"entered {entered} of {len(ranked)} candidates",
            outcomes=tuple(ranked + filtered),
        ), {sid for sid in resumed if sid is not None}

    # --- inputs -------------------------------------------------------------------------
    def _regime(self, now: datetime) -> RegimeReading:
        """The regime monitoring acts in too (see ``tradelib.jobs.regime``); entry runs in hours."""
        return self.regime_reader.read(now, market_open=self.hours.is_open(now))

    def _chains(self, day: date) -> tuple[list[OptionChain], list[CandidateOutcome], QuoteBook]:
        """Each underlying's chain over the DTE window, and why an underlying has none."""
        st = self.cfg.strategies
        chains: list[OptionChain] = []
        problems: list[CandidateOutcome] = []
        books: list[Mapping[str, Quote]] = []
        for u in st.underlyings:
            try:
                chain, quotes = self._chain(u, day)
                chains.append(chain)
                books.append(quotes)
            except (BrokerError, ChainDataError) as exc:
                problems.append(
                    CandidateOutcome(u, None, None, "", Outcome.FILTERED, f"no chain: {exc}")
                )
        return chains, problems, JoinedQuotes(tuple(books))

    def _chain(self, u: str, day: date) -> tuple[OptionChain, Mapping[str, Quote]]:
        """One underlying's chain and its quotes: in one call when the broker can, else
        contract by contract."""
        st = self.cfg.strategies
        info = self.broker.option_chain(u)
        expiries = [e for e in info.expiries if st.dte_min <= (e - day).days <= st.dte_max]
        if not expiries:
            raise ChainDataError(
                underlying=u, problem=f"no expiry within DTE {st.dte_min}-{st.dte_max}"
            )
        whole = self.broker.snapshot_chain(u, info, expiries)
        if whole is not None:
            return OptionChain.from_chain_snapshot(whole, st.risk_free_rate), whole.quotes
        contracts = [
            Contract.option(
                u, e, k, right, multiplier=info.multiplier, trading_class=info.trading_class
            )
            for e in expiries
            for k in info.strikes_for(e)
            for right in (Right.PUT, Right.CALL)
        ]
        snap = self.broker.snapshot(contracts)
        chain = OptionChain.from_quotes(snap, st.risk_free_rate)
        return chain, {q.contract.key: q for q in snap}

    def _market(self, now: datetime, quotes: QuoteBook, book: list[Strategy]) -> _Market:
        """The account, the current portfolio's risk and the limits checker."""
        measured = measure_portfolio(
            self.cfg,
            self.broker,
            now,
            underlyings=tuple(self.cfg.strategies.underlyings),
            warmup_days=self.detector.warmup,
        )
        checker = PortfolioLimitsChecker.from_config(self.cfg, returns=measured.returns)
        # The book's legs count too: two strategies holding one contract in opposite
        # directions net to nothing at the broker.
        return _Market(
            account=measured.account,
            portfolio=measured.portfolio,
            calculator=measured.calculator,
            checker=checker,
            quotes=quotes,
            held={p.contract.key for p in measured.positions}
            | {leg.contract.key for s in book for leg in s.legs},
            book=list(book),
        )

    # --- the candidate loop ---------------------------------------------------------------
    def _enter(
        self, ranked: Sequence[Candidate], market: _Market, book: EntryBook, day: date
    ) -> list[CandidateOutcome]:
        outcomes: list[CandidateOutcome] = []
        rejected_rows: list[dict[str, object]] = []  # stored in one commit at the end
        slots = MarketDataSlotManager.from_config(self.cfg, self.broker)
        slots.track(market.book)
        try:
            return self._enter_each(ranked, market, book, day, outcomes, rejected_rows, slots)
        finally:
            slots.release()
            store_rejection_rows(self.lake, rejected_rows)

    def _enter_each(
        self,
        ranked: Sequence[Candidate],
        market: _Market,
        book: EntryBook,
        day: date,
        outcomes: list[CandidateOutcome],
        rejected_rows: list[dict[str, object]],
        slots: MarketDataSlotManager,
    ) -> list[CandidateOutcome]:
        """Each candidate, best first: skipped, resumed from the journal, or tried anew."""
        quantity = self.cfg.strategies.entry_quantity
        tally = _Tally(book.open_count, len(book.entered_today))
        for rank, cand in enumerate(ranked, start=1):
            sid = entry_strategy_id(cand, day)
            if tally.stop:
                outcomes.append(not_tried(cand, rank, day, tally.stop))
                continue
            base = candidate_outcome(cand, rank, sid)
            if sid in book.known_ids:
                outcomes.append(
                    replace(
                        base, outcome=Outcome.ALREADY_ENTERED, reason=f"already entered as {sid}"
                    )
                )
            elif sid in book.journaled:
                attempt = _Attempt(cand, rank, day, sid, base, quantity)
                outcomes.append(self._resume(attempt, market, book, tally))
            else:
                attempt = _Attempt(cand, rank, day, sid, base, quantity)
                outcomes.append(self._try(attempt, market, tally, rejected_rows, slots))
        return outcomes

    def _resume(
        self, a: _Attempt, market: _Market, book: EntryBook, tally: _Tally
    ) -> CandidateOutcome:
        """A candidate an earlier run sent but did not record: the executor finds its orders
        and reports (or finishes) them; nothing new is decided."""
        outcome = self.orders.execute(a.cand, a.base, a.quantity, market.quotes, market.calculator)
        if outcome.outcome is Outcome.ENTERED:
            tally.open_count += 1
            tally.entered_today += a.sid not in book.entered_today
            market.held.update(leg.contract.key for leg in a.cand.legs)
        return outcome

    def _try(
        self,
        a: _Attempt,
        market: _Market,
        tally: _Tally,
        rejected_rows: list[dict[str, object]],
        slots: MarketDataSlotManager,
    ) -> CandidateOutcome:
        """Quotes, held contracts, limits, line budget and breaker; then the order."""
        cand, base = a.cand, a.base
        refused = self._screen(cand, base, market)
        if refused is not None:
            return refused
        after = market.calculator.with_candidate(
            market.portfolio, cand.legs, market.quotes, quantity=a.quantity
        )
        verdict = market.checker.check(
            after,
            market.account,
            open_strategies=tally.open_count,
            entries_today=tally.entered_today,
            quantity=a.quantity,
        )
        if not verdict.approved:
            rejected_rows.extend(
                rejection_rows(
                    verdict,
                    candidate_id=a.sid,
                    strategy_type=cand.strategy.value,
                    ts=self.broker.now(),
                    underlying=cand.underlying,
                )
            )
            log.info("entry: %s rejected by limits: %s", a.sid, verdict.reason)
            return replace(base, outcome=Outcome.LIMITS, reason=verdict.reason)
        watched = as_strategy(a.sid, cand, a.quantity, self.broker.now())
        admission = slots.can_admit(watched, self.broker.now(), planned=True)
        if not admission.admitted:
            reason = f"market data lines: {admission.reason}"
            rejected_rows.append(
                line_rejection_row(a.sid, cand, admission, reason, self.broker.now())
            )
            log.info("entry: %s refused by the line budget: %s", a.sid, admission.reason)
            return replace(base, outcome=Outcome.LIMITS, reason=reason)
        gate = self.breaker.allows(OrderPurpose.OPEN, self.broker.now())
        if not gate.allowed:
            tally.stop = gate.reason
            return not_tried(cand, a.rank, a.day, tally.stop)
        outcome = self.orders.execute(cand, base, a.quantity, market.quotes, market.calculator)
        if outcome.outcome is Outcome.ENTERED:
            self._entered(cand, watched, after, market, tally, slots)
        return outcome

    def _screen(
        self, cand: Candidate, base: CandidateOutcome, market: _Market
    ) -> CandidateOutcome | None:
        """Why the candidate's legs rule it out (a bad quote, a contract held), else None."""
        bad = bad_leg(cand.legs, market.invalid)
        if bad:
            return replace(base, outcome=Outcome.INVALID_QUOTE, reason=bad)
        overlap = sorted(leg.contract.key for leg in cand.legs if leg.contract.key in market.held)
        if overlap and self.cfg.strategies.avoid_held_contracts:
            reason = f"legs already held by the account: {', '.join(overlap)}"
            return replace(base, outcome=Outcome.OVERLAP, reason=reason)
        return None

    def _entered(
        self,
        cand: Candidate,
        watched: Strategy,
        after: PortfolioRisk,
        market: _Market,
        tally: _Tally,
        slots: MarketDataSlotManager,
    ) -> None:
        """Count a filled entry into the book, the portfolio and the caps; stop at a cap."""
        market.book.append(watched)
        slots.track(market.book)
        tally.open_count += 1
        tally.entered_today += 1
        market.held.update(leg.contract.key for leg in cand.legs)
        market.portfolio = market.calculator.calculate(after.positions, after.greeks)
        market.account = self.broker.account()
        limits = self.cfg.trading_limits
        if (
            tally.open_count >= limits.max_positions
            or tally.entered_today >= limits.max_new_entries_per_day
        ):
            tally.stop = (
                f"entry caps reached: {tally.open_count} open (max {limits.max_positions}), "
                f"{tally.entered_today} today (max {limits.max_new_entries_per_day})"
            )


# --- the job ----------------------------------------------------------------------------------
def run_entry(ctx: JobContext, *, at: datetime | None = None) -> EntryReport:
    """The entry job: pick, check and place new strategies once, at ``at`` (default: broker time)."""
    workflow = EntryWorkflow.from_config(ctx.cfg, ctx.broker, ctx.lake, hours=ctx.hours)
    return workflow.run(ctx.at(at))


def entry_job(config_path: str = "", lake_uri: str = "") -> EntryReport:
    """The scheduled notebook's one call: load the config, open its broker and lake, run once."""
    return run_once(run_entry, load_job_config(config_path), lake_uri=lake_uri)
