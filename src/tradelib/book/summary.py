"""What a run of trading did, read from the lake alone: the figures a trader audits a month by.

Entries, closes by reason and by exit rule, realized P&L, entries the model itself
expected to lose money on (negative predicted P&L), the highest margin use, and
the worst drawdown of net liquidation. ``tradelib book summary`` prints it; the
demo-month comparison in the issue notes is two of these side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from tradelib.lake import Lake, TableName


@dataclass(frozen=True, slots=True)
class BookSummary:
    entered: int = 0
    closed_by_reason: dict[str, int] = field(default_factory=dict)
    closed_by_rule: dict[str, int] = field(default_factory=dict)
    open_now: int = 0
    realized_pnl: float = 0.0  # dollars, from the actuals recorded against predictions
    negative_edge_entries: int = 0
    predicted_pnl_range: tuple[float, float] | None = None
    max_margin_use: float = 0.0  # initial margin / net liquidation, highest seen
    max_drawdown: float = 0.0  # dollars, net liquidation from its running peak
    net_liq_end: float | None = None

    def lines(self) -> list[str]:
        def counts(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

        lo_hi = (
            f" (predicted P&L {self.predicted_pnl_range[0]:+,.2f} .. "
            f"{self.predicted_pnl_range[1]:+,.2f})"
            if self.predicted_pnl_range
            else ""
        )
        return [
            f"entered {self.entered}, open now {self.open_now}",
            f"closed by reason: {counts(self.closed_by_reason)}",
            f"closed by exit rule: {counts(self.closed_by_rule)}",
            f"realized P&L (recorded actuals): {self.realized_pnl:+,.2f}",
            f"negative-edge entries: {self.negative_edge_entries}{lo_hi}",
            f"max margin use: {self.max_margin_use:.1%}; max drawdown: {self.max_drawdown:,.2f}"
            + (f"; net liq now {self.net_liq_end:,.2f}" if self.net_liq_end is not None else ""),
        ]


def summarize(lake: Lake) -> BookSummary:
    """The run's figures from the lake's strategies, predictions and account snapshots."""
    strategies = lake.read(
        TableName.STRATEGIES, columns=["status", "inferred", "close_reason"]
    ).collect()
    ours = strategies.filter(~pl.col("inferred"))
    closed = ours.filter(pl.col("status") != "open")
    predictions = lake.read(
        TableName.PREDICTIONS, columns=["predicted_pnl", "actual_pnl", "exit_rule"]
    ).collect()
    exits = predictions.filter(pl.col("actual_pnl").is_not_null())
    account = (
        lake.read(TableName.ACCOUNT_SNAPSHOTS, columns=["ts", "net_liquidation", "init_margin"])
        .sort("ts")
        .collect()
    )
    margin = drawdown = 0.0
    net_liq_end = None
    if account.height:
        nl = account["net_liquidation"]
        margin = float((account["init_margin"] / nl).max() or 0.0)  # type: ignore[arg-type]
        drawdown = float((nl.cum_max() - nl).max() or 0.0)  # type: ignore[arg-type]
        net_liq_end = float(nl[-1])
    predicted = predictions["predicted_pnl"]
    return BookSummary(
        entered=ours.height,
        closed_by_reason=_counts(closed["close_reason"]),
        closed_by_rule=_counts(exits["exit_rule"]),
        open_now=ours.height - closed.height,
        realized_pnl=round(float(exits["actual_pnl"].sum()), 2),
        negative_edge_entries=int((predicted < 0).sum()),
        predicted_pnl_range=(float(predicted.min()), float(predicted.max()))  # type: ignore[arg-type]
        if predicted.len()
        else None,
        max_margin_use=margin,
        max_drawdown=round(drawdown, 2),
        net_liq_end=net_liq_end,
    )


def _counts(column: pl.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in column.drop_nulls().value_counts().iter_rows()}
