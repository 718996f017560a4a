"""Plotly figures of the variance review: calibration, predicted vs actual, weights over time.

Pure: frames in, ``go.Figure`` out (no I/O); an empty frame gives an empty,
titled figure rather than an error, so a fresh lake still renders.
"""

from __future__ import annotations

import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl

from tradelib.variance.analysis import ALL_REGIMES


def calibration_figure(table: pl.DataFrame) -> go.Figure:
    """Predicted probability of profit vs realized win rate per PoP bin (``calibration_table``).

    Points on the diagonal are well calibrated; below it, the model is too optimistic.
    """
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dash"})
    )
    if table.height:
        fig.add_trace(
            go.Scatter(
                x=table["mean_pop"].to_list(),
                y=table["win_rate"].to_list(),
                mode="markers+text",
                text=[f"n={n}" for n in table["count"].to_list()],
                textposition="top center",
                marker={"size": 10},
                name="predictions",
            )
        )
    fig.update_layout(
        title="Calibration: predicted probability of profit vs realized win rate",
        xaxis_title="mean predicted probability of profit",
        yaxis_title="realized win rate",
        xaxis_range=[0, 1],
        yaxis_range=[0, 1.05],
    )
    return fig


def pnl_scatter_figure(scored: pl.DataFrame) -> go.Figure:
    """Predicted vs actual P&L, both as a fraction of max risk, one colour per strategy.

    ``scored`` comes from ``scored_predictions``; the diagonal is a perfect prediction.
    """
    fig = go.Figure()
    if scored.height:
        frame = scored.with_columns(
            predicted=pl.col("predicted_pnl") / pl.col("max_loss"),
            actual=pl.col("actual_pnl") / pl.col("max_loss"),
        )
        values = [float(v) for v in (*frame["predicted"], *frame["actual"])]
        low, high = min(values), max(values)
        fig.add_trace(
            go.Scatter(
                x=[low, high], y=[low, high], mode="lines", name="perfect", line={"dash": "dash"}
            )
        )
        for (strategy,), part in frame.sort("strategy_type").group_by(
            "strategy_type", maintain_order=True
        ):
            fig.add_trace(
                go.Scatter(
                    x=part["predicted"].to_list(),
                    y=part["actual"].to_list(),
                    mode="markers",
                    name=str(strategy),
                )
            )
    fig.update_layout(
        title="Predicted vs actual P&L (fraction of max risk)",
        xaxis_title="predicted P&L / max risk",
        yaxis_title="actual P&L / max risk",
    )
    return fig


def weights_figure(history: pl.DataFrame, regime: str = ALL_REGIMES) -> go.Figure:
    """Each strategy's stored weight over time in ``regime`` (``strategy_weights`` rows)."""
    fig = go.Figure()
    rows = history.filter(pl.col("regime") == regime).sort("computed_at")
    for (strategy,), part in rows.sort("strategy_type").group_by(
        "strategy_type", maintain_order=True
    ):
        fig.add_trace(
            go.Scatter(
                x=part["computed_at"].to_list(),
                y=part["weight"].to_list(),
                mode="lines+markers",
                name=str(strategy),
            )
        )
    where = "all regimes" if regime == ALL_REGIMES else regime
    fig.update_layout(
        title=f"Strategy weights over time ({where})",
        xaxis_title="computed at",
        yaxis_title="weight",
        yaxis_rangemode="tozero",
    )
    return fig
