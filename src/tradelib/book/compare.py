"""Compare what two runs traded: the same strategies, orders, fills and decisions?

A refactor must not change what the engine does: the month demo run before and
after it over the same seed and days must leave the same book. ``compare_lakes``
lines the trading tables of two lakes up on their merge keys and reports every
row only one side has and every traded value that differs. Wall-clock stamps
(when a row was written, not what happened) are left out, and legs are compared
by what they are, not by their JSON layout; simulated times, prices,
quantities, rules and reasons are compared exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from tradelib.lake import TABLES, Lake, TableName

# Per table: the columns that say what was traded or decided (keys included).
COMPARED: dict[TableName, tuple[str, ...]] = {
    TableName.STRATEGIES: (
        "strategy_id",
        "strategy_type",
        "underlying",
        "status",
        "opened_at",
        "closed_at",
        "legs_json",
        "quantity",
        "credit",
        "close_reason",
        "linked_strategy_id",
    ),
    TableName.ORDERS: (
        "order_ref",
        "strategy_id",
        "intent",
        "status",
        "action",
        "limit_price",
        "quantity",
        "filled_quantity",
        "avg_fill_price",
        "legs_json",
    ),
    TableName.EXECUTIONS: (
        "exec_id",
        "order_ref",
        "con_id",
        "side",
        "quantity",
        "price",
        "commission",
        "ts",
    ),
    TableName.DECISIONS: ("decision_id", "strategy_id", "ts", "rule", "action", "reason"),
    TableName.PREDICTIONS: (
        "prediction_id",
        "strategy_type",
        "regime",
        "predicted_pnl",
        "prob_profit",
        "max_loss",
        "actual_pnl",
        "exit_rule",
        "closed_at",
    ),
}
SHOWN = 5  # differing keys listed per table
# What a leg is, whatever else its JSON carries (the format may gain fields, keys may reorder).
LEG_FIELDS = ("sec_type", "symbol", "expiry", "strike", "right", "con_id", "ratio", "quantity")


@dataclass(frozen=True, slots=True)
class TableDiff:
    """How one table differs between the two lakes."""

    table: str
    rows_a: int
    rows_b: int
    only_a: tuple[str, ...] = ()
    only_b: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # "key: column a -> b"

    @property
    def same(self) -> bool:
        return not (self.only_a or self.only_b or self.changed)


@dataclass(frozen=True, slots=True)
class LakeComparison:
    """Every compared table of two lakes."""

    a: str
    b: str
    tables: tuple[TableDiff, ...] = field(default_factory=tuple)

    @property
    def same(self) -> bool:
        return all(t.same for t in self.tables)

    def lines(self) -> list[str]:
        verdict = "the same book" if self.same else "DIFFERENT books"
        out = [f"{self.a} vs {self.b}: {verdict}"]
        for t in self.tables:
            state = "same" if t.same else "differs"
            out.append(f"  {t.table:<12} {t.rows_a:>6} vs {t.rows_b:>6} rows: {state}")
            for label, keys in (("only in a", t.only_a), ("only in b", t.only_b)):
                if keys:
                    shown = ", ".join(keys[:SHOWN]) + (" ..." if len(keys) > SHOWN else "")
                    out.append(f"    {label} ({len(keys)}): {shown}")
            for change in t.changed[:SHOWN]:
                out.append(f"    changed: {change}")
            if len(t.changed) > SHOWN:
                out.append(f"    ... {len(t.changed) - SHOWN} more changed values")
        return out


def canonical_legs(text: str | None) -> str | None:
    """A legs JSON reduced to what each leg is (``LEG_FIELDS``), sorted: equal legs, equal text."""
    if text is None:
        return None
    legs = [{k: leg.get(k) for k in LEG_FIELDS if k in leg} for leg in json.loads(text)]
    return json.dumps(sorted(legs, key=lambda leg: json.dumps(leg, sort_keys=True)), sort_keys=True)


def _frame(lake: Lake, table: TableName, columns: Sequence[str]) -> pl.DataFrame:
    if not lake.exists(table):
        frame = TABLES[table].empty().select(columns)
    else:
        frame = lake.read(table, columns=list(columns)).collect()
    if "legs_json" in columns:
        frame = frame.with_columns(
            pl.col("legs_json").map_elements(canonical_legs, return_dtype=pl.String)
        )
    return frame


def compare_table(a: Lake, b: Lake, table: TableName) -> TableDiff:
    """The differences of ``table`` between lakes ``a`` and ``b`` on the compared columns."""
    columns = COMPARED[table]
    keys = list(TABLES[table].merge_keys)
    left, right = _frame(a, table, columns), _frame(b, table, columns)
    key = pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator="|").alias("_key")
    left, right = left.with_columns(key), right.with_columns(key)
    only_a = sorted(set(left["_key"]) - set(right["_key"]))
    only_b = sorted(set(right["_key"]) - set(left["_key"]))
    joined = left.join(right, on="_key", how="inner", suffix="_b")
    changed: list[str] = []
    for column in columns:
        if column in keys:
            continue
        diff = joined.filter(pl.col(column).ne_missing(pl.col(f"{column}_b")))
        for row in diff.select("_key", column, f"{column}_b").iter_rows():
            changed.append(f"{row[0]}: {column} {row[1]!r} -> {row[2]!r}")
    return TableDiff(
        str(table), left.height, right.height, tuple(only_a), tuple(only_b), tuple(sorted(changed))
    )


def compare_lakes(a: Lake, b: Lake) -> LakeComparison:
    """Compare the strategies, orders, fills, decisions and predictions of two lakes."""
    return LakeComparison(a.root, b.root, tuple(compare_table(a, b, t) for t in COMPARED))
