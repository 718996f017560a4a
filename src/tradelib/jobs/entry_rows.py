"""The rows and outcomes an entry run records: refusals, bad quotes, selector rejections."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

import polars as pl

from tradelib.config import TradingConfig
from tradelib.domain import (
    NEW_YORK,
    Leg,
    OrderPurpose,
    OrderStatus,
    Quote,
    Strategy,
    check_quote,
    ensure_utc,
)
from tradelib.entry import Candidate, Rejection, Selection
from tradelib.execution import ExecutionResult
from tradelib.jobs.entry_report import (
    CandidateOutcome,
    Outcome,
    describe_legs,
    entry_strategy_id,
    strategy_id_for,
)
from tradelib.lake import Lake, TableName
from tradelib.marketdata.slots import Admission
from tradelib.stores.risk import rejection_id

_EPS = 1e-9


def ny_date(ts: datetime) -> date:
    return ensure_utc(ts).astimezone(NEW_YORK).date()


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _cents(value: float) -> float | None:
    return round(float(value), 2) if math.isfinite(value) else None


# --- the book: what the lake says was entered ----------------------------------------------
@dataclass(frozen=True, slots=True)
class EntryBook:
    known_ids: frozenset[str]  # every strategy id in ``strategies``
    open_count: int
    entered_today: frozenset[str]
    journaled: frozenset[str]  # strategy ids whose opening orders filled or may still fill


def read_book(lake: Lake, day: date) -> EntryBook:
    """Strategies known to the lake, how many are open, and which were entered on ``day``."""
    strategies = lake.read(
        TableName.STRATEGIES, columns=["strategy_id", "status", "opened_at", "inferred"]
    ).collect()
    ny = str(NEW_YORK)
    today = strategies.filter(
        ~pl.col("inferred") & (pl.col("opened_at").dt.convert_time_zone(ny).dt.date() == day)
    )
    orders = lake.read(
        TableName.ORDERS,
        columns=["strategy_id", "intent", "status", "filled_quantity", "created_at"],
        filter=(pl.col("intent") == OrderPurpose.OPEN.value) & pl.col("strategy_id").is_not_null(),
    ).collect()
    terminal = [s.value for s in OrderStatus if s.is_terminal]
    # An attempt that ended with no fill needs nothing more; anything else might.
    unsettled = orders.filter((pl.col("filled_quantity") > 0) | ~pl.col("status").is_in(terminal))
    filled_today = orders.filter(
        (pl.col("filled_quantity") > 0)
        & (pl.col("created_at").dt.convert_time_zone(ny).dt.date() == day)
    )
    entered = set(today["strategy_id"].to_list()) | set(filled_today["strategy_id"].to_list())
    return EntryBook(
        known_ids=frozenset(strategies["strategy_id"].to_list()),
        open_count=strategies.filter(pl.col("status") == "open").height,
        entered_today=frozenset(entered),
        journaled=frozenset(unsettled["strategy_id"].to_list()),
    )


def start_of_day_net_liq(lake: Lake, day: date) -> float | None:
    """The first net liquidation recorded on New York ``day`` (None when none was)."""
    frame = (
        lake.read(TableName.ACCOUNT_SNAPSHOTS, columns=["ts", "net_liquidation"])
        .filter(pl.col("ts").dt.convert_time_zone(str(NEW_YORK)).dt.date() == day)
        .sort("ts")
        .head(1)
        .collect()
    )
    return float(frame["net_liquidation"][0]) if frame.height else None


# --- row and outcome builders ---------------------------------------------------------------
def invalid_quotes(quotes: Iterable[Quote], now: datetime, cfg: TradingConfig) -> dict[str, str]:
    """Contract key -> why its quote must not be traded on (NaN, -1, crossed, stale...)."""
    max_age = cfg.market_data.max_quote_age_s
    out: dict[str, str] = {}
    for q in quotes:
        check = check_quote(q, now, max_age, allow_zero_bid=True)
        if not check.ok:
            out[q.contract.key] = check.reason
    return out


class InvalidQuotes(Mapping[str, str]):
    """Contract key -> why its quote must not be traded on, checked when first asked.

    What ``invalid_quotes`` gives over ``quotes`` at ``now``: a run asks about the
    legs of its candidates, not about every contract of every chain.
    """

    __slots__ = ("_checked", "_max_age", "_now", "_quotes")

    def __init__(self, quotes: Mapping[str, Quote], now: datetime, max_age_s: float) -> None:
        self._quotes = quotes
        self._now = now
        self._max_age = max_age_s
        self._checked: dict[str, str] = {}  # key -> reason ("" when the quote is sound)

    def _reason(self, key: str) -> str:
        reason = self._checked.get(key)
        if reason is None:
            q = self._quotes.get(key)
            check = (
                None if q is None else check_quote(q, self._now, self._max_age, allow_zero_bid=True)
            )
            reason = "" if check is None or check.ok else check.reason
            self._checked[key] = reason
        return reason

    def __getitem__(self, key: str) -> str:
        reason = self._reason(key)
        if not reason:
            raise KeyError(key)
        return reason

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self._reason(key))

    def __iter__(self) -> Iterator[str]:
        return (key for key in self._quotes if self._reason(key))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def filtered_outcomes(
    selection: Selection, invalid: Mapping[str, str], day: date
) -> list[CandidateOutcome]:
    """The selector's rejections; a bad leg quote is named as the cause."""
    out = []
    for r in selection.rejected:
        bad = bad_leg(r.legs, invalid)
        outcome, reason = (Outcome.INVALID_QUOTE, bad) if bad else (Outcome.FILTERED, r.reason)
        sid = strategy_id_for(r.underlying, r.strategy, r.expiry, r.legs, day) if r.legs else None
        out.append(replace(rejection_outcome(r, outcome, reason), strategy_id=sid))
    return out


def not_tried(cand: Candidate, rank: int, day: date, reason: str) -> CandidateOutcome:
    base = candidate_outcome(cand, rank, entry_strategy_id(cand, day))
    return replace(base, outcome=Outcome.NOT_TRIED, reason=reason)


def bad_leg(legs: Sequence[Leg], invalid: Mapping[str, str]) -> str:
    bad = [
        f"{leg.contract.key}: {invalid[leg.contract.key]}"
        for leg in legs
        if leg.contract.key in invalid
    ]
    return "invalid quote on " + "; ".join(bad) if bad else ""


def candidate_outcome(cand: Candidate, rank: int, strategy_id: str) -> CandidateOutcome:
    return CandidateOutcome(
        underlying=cand.underlying,
        strategy=cand.strategy.value,
        expiry=cand.expiry,
        legs=describe_legs(cand.legs),
        outcome=Outcome.NOT_TRIED,
        reason="",
        rank=rank,
        strategy_id=strategy_id,
        credit_mid=cand.credit_mid,
        credit_natural=cand.credit_natural,
        probability_of_profit=cand.probability_of_profit,
        expected_value=cand.expected_value,
        weight=cand.weight,
        score=cand.score,
    )


def rejection_outcome(r: Rejection, outcome: Outcome, reason: str) -> CandidateOutcome:
    return CandidateOutcome(
        underlying=r.underlying,
        strategy=r.strategy.value if r.strategy is not None else None,
        expiry=r.expiry,
        legs=describe_legs(r.legs),
        outcome=outcome,
        reason=reason,
    )


def resolved(leg: Leg, quotes: Mapping[str, Quote]) -> Leg:
    """The leg with the broker's contract (con_id) from its quote, when there is one."""
    q = quotes.get(leg.contract.key)
    return Leg(q.contract, leg.ratio) if q is not None else leg


def with_fill_contracts(legs: Sequence[Leg], result: ExecutionResult) -> tuple[Leg, ...]:
    """Prefer the contracts the fills report: they carry the broker's con_id for sure."""
    filled = {f.contract.key: f.contract for f in result.fills}
    return tuple(Leg(filled.get(leg.contract.key, leg.contract), leg.ratio) for leg in legs)


def as_strategy(sid: str, cand: Candidate, quantity: int, now: datetime) -> Strategy:
    """The candidate as the strategy monitoring would watch once it is entered."""
    return Strategy(
        strategy_id=sid,
        strategy_type=cand.strategy,
        underlying=cand.underlying,
        legs=cand.legs,
        quantity=quantity,
        credit=cand.credit_mid,
        opened_at=now,
        multiplier=cand.multiplier,
    )


def selector_rejection_rows(
    selection: Selection, day: date, ts: datetime
) -> list[dict[str, object]]:
    """``risk_rejections`` rows of the selector's portfolio-level refusals (edge, crowding)."""
    stamp = ensure_utc(ts, "ts")
    return [
        {
            "rejection_id": rejection_id(
                strategy_id_for(r.underlying, r.strategy, r.expiry, r.legs, day), r.check
            ),
            "ts": stamp,
            "strategy_type": r.strategy.value,
            "underlying": r.underlying,
            "check": r.check,
            "reason": r.reason,
            "value": r.value,
            "limit": r.limit,
        }
        for r in selection.rejected
        if r.check and r.strategy is not None and r.legs
    ]


def line_rejection_row(
    sid: str, cand: Candidate, admission: Admission, reason: str, ts: datetime
) -> dict[str, object]:
    """The ``risk_rejections`` row of a candidate the market-data line budget refused."""
    check = "market_data_lines"
    return {
        "rejection_id": rejection_id(sid, check),
        "ts": ensure_utc(ts, "ts"),
        "strategy_type": cand.strategy.value,
        "underlying": cand.underlying,
        "check": check,
        "reason": reason,
        "value": float(admission.lines_needed),
        "limit": float(admission.lines_free),
    }
