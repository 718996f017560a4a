"""A sweep's results, read back from the lake: the frames and figures the sweep report shows.

``SweepRuns`` joins a sweep's points (``backtest_sweeps.points_json``) to the
statistics of their stored runs (``backtest_runs.stats_json``): one row per
point, one column per swept config key. From that frame: a heatmap of a metric
over a pair of parameters, the best points' equity curves side by side, each
parameter's sensitivity, and the overfitting check, which compares the in-sample
and held-out runs of each parameter combination (when the grid has a ``split``).
Reads only: nothing here runs a backtest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import plotly.graph_objects as go  # type: ignore[import-untyped]
import polars as pl
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from tradelib.lake import Lake, TableName

RUNS, EQUITY, SWEEPS = (
    TableName.BACKTEST_RUNS,
    TableName.BACKTEST_EQUITY,
    TableName.BACKTEST_SWEEPS,
)
POINT_COLUMNS = ("run_id", "seed", "market", "period", "stored")


@dataclass(frozen=True, slots=True)
class Metric:
    """A statistic a sweep is judged by: its label, format and which way is better."""

    key: str
    label: str
    fmt: str
    higher_is_better: bool


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("sharpe", "Sharpe", ".2f", True),
        Metric("total_return", "total return", ".2%", True),
        Metric("max_drawdown", "max drawdown", ".2%", False),
        Metric("annual_return", "annualised return", ".2%", True),
        Metric("sortino", "Sortino", ".2f", True),
        Metric("win_rate", "win rate", ".0%", True),
        Metric("trades", "closed trades", ".0f", True),
    )
}


# --- reading -----------------------------------------------------------------------------
class SweepRuns:
    """The sweeps stored in a lake, and their points joined to their runs' statistics."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def sweeps(self) -> pl.DataFrame:
        """Every sweep, newest first (empty when none was stored)."""
        return self.lake.read(SWEEPS).sort("created_at", descending=True).collect()

    def points(self, sweep_id: str) -> pl.DataFrame:
        """One row per point: run id, each swept key, seed, market, period, metrics.

        ``stored`` is False for a point whose run is not (yet) in the lake; its
        metrics are null. KeyError for an unknown sweep.
        """
        row = self.lake.read(SWEEPS, filter=pl.col("sweep_id") == sweep_id).collect()
        if row.height == 0:
            raise KeyError(f"no sweep {sweep_id!r} in {self.lake.root}")
        records: list[dict[str, Any]] = json.loads(row["points_json"][0])
        ids = [r["run_id"] for r in records]
        runs = self.lake.read(
            RUNS, columns=["run_id", "stats_json"], filter=pl.col("run_id").is_in(ids)
        ).collect()
        stats = {r: json.loads(s or "{}") for r, s in runs.iter_rows()}
        return points_frame(records, stats)

    def equity(self, run_ids: Sequence[str]) -> pl.DataFrame:
        """The daily equity of ``run_ids`` (run_id, day, net_liquidation, drawdown)."""
        return (
            self.lake.read(
                EQUITY,
                columns=["run_id", "day", "net_liquidation", "drawdown"],
                filter=pl.col("run_id").is_in(list(run_ids)),
            )
            .sort("run_id", "day")
            .collect()
        )


def _cell(value: Any) -> Any:
    """A parameter value as a frame cell: scalars as they are, anything else as JSON."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def points_frame(
    records: Sequence[dict[str, Any]], stats: dict[str, dict[str, Any]]
) -> pl.DataFrame:
    """The points (from ``points_json``) with their metrics (run id -> stats) as a frame."""
    keys: dict[str, None] = {}
    for r in records:
        for k in r["params"]:
            keys.setdefault(k, None)
    data: dict[str, list[Any]] = {c: [] for c in (*POINT_COLUMNS, *keys, *METRICS)}
    for r in records:
        s = stats.get(r["run_id"])
        data["run_id"].append(r["run_id"])
        data["seed"].append(r["seed"])
        data["market"].append(r["market"])
        data["period"].append(r["period"])
        data["stored"].append(s is not None)
        for k in keys:
            data[k].append(_cell(r["params"].get(k)))
        for m in METRICS:
            data[m].append(_number((s or {}).get(m)))
    columns = [pl.Series(name, values, strict=False) for name, values in data.items()]
    for name in METRICS:
        columns = [c.cast(pl.Float64) if c.name == name else c for c in columns]
    return pl.DataFrame(columns)


def param_keys(points: pl.DataFrame) -> list[str]:
    """The swept config keys (the columns that are neither point fields nor metrics)."""
    return [c for c in points.columns if c not in POINT_COLUMNS and c not in METRICS]


def periods(points: pl.DataFrame) -> list[str]:
    """The periods present, in-sample first (``full`` when the grid had no split)."""
    present = set(points["period"].to_list())
    return [p for p in ("in_sample", "held_out", "full") if p in present]


def _fmt(value: float | None, metric: Metric) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return format(value, metric.fmt)


def _mean(series: pl.Series) -> float:
    value = series.mean()
    return float(value) if isinstance(value, int | float) else 0.0


def _label(value: Any) -> str:
    return "–" if value is None else str(value)


# --- tables --------------------------------------------------------------------------------
def combo_table(points: pl.DataFrame, metric: str, period: str) -> pl.DataFrame:
    """Each parameter combination in ``period``: the metric's mean over seeds and markets, best first."""
    keys = param_keys(points)
    part = points.filter((pl.col("period") == period) & pl.col("stored"))
    if part.height == 0:
        return pl.DataFrame()
    grouped = part.group_by(keys or [pl.lit("all").alias("combination")], maintain_order=True).agg(
        pl.col(metric).mean().alias(metric), pl.len().alias("runs")
    )
    better_high = METRICS[metric].higher_is_better
    return grouped.sort(metric, descending=better_high, nulls_last=True)


def best_points(points: pl.DataFrame, metric: str, period: str, n: int = 4) -> pl.DataFrame:
    """The ``n`` best stored runs of ``period`` by ``metric`` (nulls never count as best)."""
    part = points.filter(
        (pl.col("period") == period) & pl.col("stored") & pl.col(metric).is_not_null()
    )
    return part.sort(metric, descending=METRICS[metric].higher_is_better).head(n)


def sensitivity(points: pl.DataFrame, metric: str, period: str) -> pl.DataFrame:
    """Per parameter and value: the metric's mean, min and max over everything else.

    ``spread`` (best value's mean minus worst value's mean, per parameter) says how
    much that parameter moves the result; rows are sorted by it, largest first.
    """
    part = points.filter((pl.col("period") == period) & pl.col("stored"))
    frames = []
    for key in param_keys(points):
        per = (
            part.group_by(key)
            .agg(
                pl.col(metric).mean().alias("mean"),
                pl.col(metric).min().alias("min"),
                pl.col(metric).max().alias("max"),
                pl.len().alias("runs"),
            )
            .sort(key)
            .with_columns(
                pl.lit(key).alias("parameter"),
                pl.col(key).cast(pl.String).alias("value"),
                (pl.col("mean").max() - pl.col("mean").min()).alias("spread"),
            )
            .select("parameter", "value", "mean", "min", "max", "runs", "spread")
        )
        frames.append(per)
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames).sort("spread", "parameter", descending=[True, False], nulls_last=True)


@dataclass(frozen=True, slots=True)
class OverfitCheck:
    """In-sample against held-out: a verdict, the sentence a trader reads, and the pairs."""

    level: Literal["warning", "ok", "unknown"]
    message: str
    pairs: pl.DataFrame  # one row per combination: in_sample, held_out


def overfitting(points: pl.DataFrame, metric: str = "sharpe") -> OverfitCheck:
    """Compare each combination's in-sample and held-out ``metric``; warn when they disagree.

    The warning fires when the in-sample ranking does not carry over (rank
    correlation below 0.3), or the best in-sample combination lands in the worse
    half held-out. Without a split the sweep picks its best point on the same days
    it is judged on; the message says so.
    """
    m = METRICS[metric]
    keys = param_keys(points)
    combos = (keys or []) + ["seed", "market"]
    n_combos = (
        points.filter(pl.col("period") != "held_out").select(keys or ["seed"]).unique().height
    )
    if "in_sample" not in set(points["period"].to_list()):
        return OverfitCheck(
            "warning",
            f"No held-out period: the best of {n_combos} combinations is picked on the same "
            "days it is judged on, so its figures are optimistic (the more points, the more so). "
            "Add split: {held_out_fraction: 0.3} to the grid to test it on days it did not see.",
            pl.DataFrame(),
        )
    stored = points.filter(pl.col("stored"))
    ins = stored.filter(pl.col("period") == "in_sample").select(
        *combos, pl.col(metric).alias("in_sample")
    )
    out = stored.filter(pl.col("period") == "held_out").select(
        *combos, pl.col(metric).alias("held_out")
    )
    pairs = (
        ins.join(out, on=combos, how="inner", nulls_equal=True)
        .group_by(keys or ["seed"], maintain_order=True)
        .agg(pl.col("in_sample").mean(), pl.col("held_out").mean())
        .drop_nulls(["in_sample", "held_out"])
    )
    if pairs.height < 3:
        return OverfitCheck(
            "unknown",
            f"Only {pairs.height} combination(s) have both an in-sample and a held-out "
            f"{m.label}: too few to judge overfitting.",
            pairs,
        )
    sign = 1.0 if m.higher_is_better else -1.0
    ranked = pairs.with_columns(
        (pl.col("in_sample") * sign).rank(descending=True).alias("rank_in"),
        (pl.col("held_out") * sign).rank(descending=True).alias("rank_out"),
    )
    corr = ranked.select(pl.corr("rank_in", "rank_out")).item()
    corr = float(corr) if corr is not None and math.isfinite(corr) else 0.0
    best = ranked.sort("rank_in").row(0, named=True)
    worse_half = best["rank_out"] > pairs.height / 2
    mean_in, mean_out = _mean(pairs["in_sample"]), _mean(pairs["held_out"])
    decay = mean_in - mean_out
    shown = ", ".join(f"{k}={best[k]}" for k in keys) or f"seed {best['seed']}"
    facts = (
        f"in-sample vs held-out {m.label}: rank correlation {corr:+.2f} over {pairs.height} "
        f"combinations; the best in-sample ({shown}: {_fmt(best['in_sample'], m)}) is "
        f"#{int(best['rank_out'])} held-out ({_fmt(best['held_out'], m)}); mean "
        f"{_fmt(mean_in, m)} in-sample, {_fmt(mean_out, m)} held-out."
    )
    if corr < 0.3 or worse_half:
        return OverfitCheck(
            "warning",
            "Overfitting warning: the in-sample ranking does not carry over to the held-out "
            f"period, so the best in-sample parameters are likely fitted to noise. {facts}",
            ranked,
        )
    hint = (
        " (the held-out figures are lower: expect less than in-sample)" if decay * sign > 0 else ""
    )
    return OverfitCheck("ok", f"The in-sample ranking holds up held-out{hint}. {facts}", ranked)


# --- figures ---------------------------------------------------------------------------------
def heatmap_figure(points: pl.DataFrame, x: str, y: str, metric: str, period: str) -> go.Figure:
    """``metric`` over the pair (``x``, ``y``), averaged over everything else (seeds, markets)."""
    m = METRICS[metric]
    part = points.filter((pl.col("period") == period) & pl.col("stored"))
    fig = go.Figure()
    if part.height and x in part.columns and y in part.columns:
        cells = part.group_by(x, y).agg(pl.col(metric).mean().alias("v"))
        xs = sorted(set(part[x].to_list()), key=_order)
        ys = sorted(set(part[y].to_list()), key=_order)
        lookup = {(r[x], r[y]): r["v"] for r in cells.iter_rows(named=True)}
        z = [[lookup.get((xv, yv)) for xv in xs] for yv in ys]
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=[_label(v) for v in xs],
                y=[_label(v) for v in ys],
                colorscale="RdYlGn" if m.higher_is_better else "RdYlGn_r",
                texttemplate=f"%{{z:{m.fmt}}}",
                hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{m.label}=%{{z:{m.fmt}}}<extra></extra>",
                colorbar={"title": {"text": m.label}, "tickformat": m.fmt},
            )
        )
        fig.update_xaxes(title_text=x, type="category")
        fig.update_yaxes(title_text=y, type="category")
    fig.update_layout(title=f"{m.label} by {x} x {y} ({period.replace('_', '-')})", height=420)
    return fig


def _order(value: Any) -> tuple[int, float, str]:
    """Numbers in numeric order, then anything else by its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def best_equity_figure(
    runs: SweepRuns, best: pl.DataFrame, metric: str, *, keys: Sequence[str] = ()
) -> go.Figure:
    """The best points' equity, one panel each, side by side (same y scale)."""
    m = METRICS[metric]
    ids = best["run_id"].to_list()
    n = max(1, len(ids))
    titles = []
    for row in best.iter_rows(named=True):
        params = ", ".join(f"{k.rsplit('.', 1)[-1]}={row[k]}" for k in keys)
        titles.append(
            f"{params or row['run_id']}<br>seed {row['seed']}, {m.label} {_fmt(row[metric], m)}"
        )
    fig = make_subplots(rows=1, cols=n, shared_yaxes=True, subplot_titles=titles or [""])
    equity = runs.equity(ids) if ids else pl.DataFrame()
    for i, run_id in enumerate(ids, start=1):
        eq = equity.filter(pl.col("run_id") == run_id)
        fig.add_trace(
            go.Scatter(x=eq["day"], y=eq["net_liquidation"], name=run_id, showlegend=False),
            row=1,
            col=i,
        )
    fig.update_layout(title="Best points' equity, side by side", height=380, margin={"t": 110})
    fig.update_annotations(font_size=11)
    fig.update_yaxes(title_text="net liquidation ($)", col=1)
    return fig


def sensitivity_figure(points: pl.DataFrame, metric: str, period: str) -> go.Figure:
    """Each parameter's effect: the metric's mean (and min..max) per value, one panel each."""
    m = METRICS[metric]
    table = sensitivity(points, metric, period)
    keys = param_keys(points)
    fig = make_subplots(rows=1, cols=max(1, len(keys)), subplot_titles=keys or [""])
    for i, key in enumerate(keys, start=1):
        part = table.filter(pl.col("parameter") == key)
        fig.add_trace(
            go.Scatter(
                x=part["value"],
                y=part["mean"],
                mode="lines+markers",
                name=key,
                showlegend=False,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (part["max"] - part["mean"]).to_list(),
                    "arrayminus": (part["mean"] - part["min"]).to_list(),
                },
            ),
            row=1,
            col=i,
        )
        fig.update_xaxes(type="category", row=1, col=i)
    fig.update_layout(
        title=f"Sensitivity: mean {m.label} per value (bars: min..max over the rest)", height=340
    )
    return fig


def overfit_figure(check: OverfitCheck, metric: str) -> go.Figure:
    """Each combination's in-sample (x) against held-out (y) metric, with the diagonal."""
    m = METRICS[metric]
    fig = go.Figure()
    if check.pairs.height:
        ins, outs = check.pairs["in_sample"], check.pairs["held_out"]
        fig.add_trace(go.Scatter(x=ins, y=outs, mode="markers", name="combination"))
        lo = min(float(ins.min() or 0.0), float(outs.min() or 0.0))  # type: ignore[arg-type]
        hi = max(float(ins.max() or 0.0), float(outs.max() or 0.0))  # type: ignore[arg-type]
        fig.add_trace(
            go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="same", line={"dash": "dot"})
        )
    fig.update_layout(title=f"In-sample vs held-out {m.label}", height=360)
    fig.update_xaxes(title_text=f"in-sample {m.label}")
    fig.update_yaxes(title_text=f"held-out {m.label}")
    return fig
