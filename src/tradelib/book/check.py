"""Gather the book from the lake and the broker, and check its invariants.

``check_book`` is what the demo (and the backtest) run after every simulated day
and what ``tradelib book check`` runs on demand; ``raise_on_violations`` turns a
non-empty report into ``BookInvariantError`` naming day, strategy and numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl

from tradelib import alerts
from tradelib.book.invariants import (
    BookState,
    DecisionFact,
    OrderFact,
    Violation,
    check_book_state,
)
from tradelib.broker import Broker
from tradelib.domain import DecisionAction
from tradelib.errors import BookInvariantError
from tradelib.lake import TABLES, Lake, TableName
from tradelib.stores.sync import strategy_from_row

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class BookReport:
    """The invariants' verdict at one moment."""

    day: date
    checked_at: datetime
    violations: tuple[Violation, ...]
    strategies_open: int
    positions: int

    @property
    def ok(self) -> bool:
        return not self.violations

    def lines(self) -> list[str]:
        head = (
            f"book on {self.day}: {self.strategies_open} open strategies, "
            f"{self.positions} broker positions, {len(self.violations)} violation(s)"
        )
        return [head, *(f"  {v}" for v in self.violations)]


def duplicate_keys(lake: Lake) -> dict[str, int]:
    """Per keyed table, how many merge keys it holds more than once."""
    out: dict[str, int] = {}
    for spec in TABLES.values():
        if not spec.merge_keys or not lake.exists(spec.name):
            continue
        keys = list(spec.merge_keys)
        dupes = (
            lake.read(spec.name, columns=keys)
            .group_by(keys)
            .agg(pl.len().alias("n"))
            .filter(pl.col("n") > 1)
            .collect()
            .height
        )
        out[spec.name] = dupes
    return out


def _rows(lake: Lake, table: str, **kw: object) -> list[dict[str, object]]:
    return lake.read(table, **kw).collect().to_dicts()  # type: ignore[arg-type]


def gather_book(broker: Broker, lake: Lake, *, day: date, starting_cash: float | None) -> BookState:
    """The book as the lake and ``broker`` hold it now."""
    strategy_rows = _rows(lake, TableName.STRATEGIES)
    strategies = [strategy_from_row(r) for r in strategy_rows]
    closed_quantities = {
        str(r["strategy_id"]): float(r["quantity"])  # type: ignore[arg-type]
        for r in strategy_rows
        if r["status"] != "open"
    }
    orders = [
        OrderFact(
            str(r["order_ref"]),
            r["strategy_id"],  # type: ignore[arg-type]
            str(r["intent"]),
            r["created_at"],  # type: ignore[arg-type]
            float(r["filled_quantity"]),  # type: ignore[arg-type]
        )
        for r in _rows(
            lake,
            TableName.ORDERS,
            columns=["order_ref", "strategy_id", "intent", "created_at", "filled_quantity"],
        )
    ]
    acting = [a.value for a in DecisionAction if a is not DecisionAction.HOLD]
    decisions = [
        DecisionFact(str(r["strategy_id"]), str(r["action"]), r["ts"])  # type: ignore[arg-type]
        for r in _rows(
            lake,
            TableName.DECISIONS,
            columns=["strategy_id", "action", "ts"],
            filter=pl.col("action").is_in(acting),
        )
    ]
    predictions = frozenset(
        str(r["prediction_id"])
        for r in _rows(lake, TableName.PREDICTIONS, columns=["prediction_id"])
    )
    return BookState(
        day=day,
        strategies=strategies,
        closed_quantities=closed_quantities,
        positions=broker.positions(),
        fills=broker.executions(since=_EPOCH),  # every fill since the account opened
        account=broker.account(),
        starting_cash=starting_cash,
        orders=orders,
        decisions=decisions,
        prediction_ids=predictions,
        duplicate_keys=duplicate_keys(lake),
    )


def check_book(broker: Broker, lake: Lake, *, day: date, starting_cash: float | None) -> BookReport:
    """Check every book invariant now (see ``tradelib.book.invariants``)."""
    state = gather_book(broker, lake, day=day, starting_cash=starting_cash)
    return BookReport(
        day=day,
        checked_at=broker.now(),
        violations=tuple(check_book_state(state)),
        strategies_open=sum(1 for s in state.strategies if s.is_open),
        positions=len(state.positions),
    )


def raise_on_violations(report: BookReport | Sequence[Violation], day: date | None = None) -> None:
    """Raise ``BookInvariantError`` naming every violation (nothing when the book is whole)."""
    violations = report.violations if isinstance(report, BookReport) else tuple(report)
    if not violations:
        return
    when = report.day if isinstance(report, BookReport) else day
    for v in violations:
        alerts.emit(
            alerts.invariant_alert(
                v.invariant.value, v.detail, datetime.now(UTC), day=v.day, strategy=v.subject
            )
        )
    summary = "; ".join(str(v) for v in violations[:20])
    if len(violations) > 20:
        summary += f"; ... and {len(violations) - 20} more"
    raise BookInvariantError(day=when, summary=summary)
