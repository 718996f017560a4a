"""The sweep report: points joined to their statistics, heatmap, sensitivity, overfitting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.sweep.conftest import BASE, tiny_grid
from tradelib.lake import Lake
from tradelib.sweep import build_grid, run_sweep
from tradelib.sweep.report import (
    SweepRuns,
    best_equity_figure,
    best_points,
    combo_table,
    heatmap_figure,
    overfitting,
    param_keys,
    points_frame,
    sensitivity,
)
from tradelib.sweep.report_app import SweepReportApp


def records(
    sharpe: dict[tuple[float, float, str], float], *, seeds: tuple[int, ...] = (1,)
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Points over (a, b, period) with the given Sharpe (the same for every seed)."""
    recs, stats = [], {}
    for (a, b, period), value in sharpe.items():
        for seed in seeds:
            run_id = f"r-{a}-{b}-{period}-{seed}"
            recs.append(
                {
                    "run_id": run_id,
                    "params": {"x.a": a, "x.b": b},
                    "seed": seed,
                    "market": "sim",
                    "period": period,
                }
            )
            stats[run_id] = {"sharpe": value, "total_return": value / 100, "max_drawdown": 0.01}
    return recs, stats


GRID_A, GRID_B = (1.0, 2.0, 3.0), (10.0, 20.0)


def split_points(held_out: dict[tuple[float, float], float]) -> pl.DataFrame:
    in_sample = {(a, b): a + b / 10 for a in GRID_A for b in GRID_B}
    table = {(a, b, "in_sample"): v for (a, b), v in in_sample.items()}
    table |= {(a, b, "held_out"): v for (a, b), v in held_out.items()}
    recs, stats = records(table, seeds=(1, 2))
    return points_frame(recs, stats)


def test_points_carry_one_column_per_swept_key_and_the_metrics() -> None:
    recs, stats = records({(1.0, 10.0, "full"): 0.5, (2.0, 10.0, "full"): 1.5})
    recs.append({**recs[0], "run_id": "missing"})
    frame = points_frame(recs, stats)
    assert param_keys(frame) == ["x.a", "x.b"]
    assert frame.filter(pl.col("run_id") == "missing")["stored"].to_list() == [False]
    assert frame.filter(pl.col("run_id") == "missing")["sharpe"].to_list() == [None]
    best = best_points(frame, "sharpe", "full", n=1)
    assert best["x.a"].to_list() == [2.0]
    assert combo_table(frame, "sharpe", "full")["x.a"].to_list() == [2.0, 1.0]


def test_the_heatmap_averages_over_seeds_per_parameter_pair() -> None:
    recs, stats = records({(a, b, "full"): a * b for a in GRID_A for b in GRID_B}, seeds=(1, 2))
    stats[recs[0]["run_id"]]["sharpe"] = 30.0  # seed 1 of (1, 10): mean with seed 2 (10) = 20
    fig = heatmap_figure(points_frame(recs, stats), "x.a", "x.b", "sharpe", "full")
    heat = fig.data[0]
    assert list(heat.x) == ["1.0", "2.0", "3.0"] and list(heat.y) == ["10.0", "20.0"]
    assert heat.z[0][0] == pytest.approx(20.0) and heat.z[1][2] == pytest.approx(60.0)
    assert "Sharpe by x.a x x.b" in fig.layout.title.text


def test_sensitivity_ranks_the_parameter_that_moves_the_metric_most_first() -> None:
    recs, stats = records({(a, b, "full"): 10 * a + b / 100 for a in GRID_A for b in GRID_B})
    table = sensitivity(points_frame(recs, stats), "sharpe", "full")
    assert table["parameter"][0] == "x.a"
    spread = dict(zip(table["parameter"], table["spread"], strict=False))
    assert spread["x.a"] == pytest.approx(20.0) and spread["x.b"] == pytest.approx(0.1)


def test_overfitting_warns_when_the_held_out_ranking_flips() -> None:
    flipped = split_points({(a, b): -(a + b / 10) for a in GRID_A for b in GRID_B})
    check = overfitting(flipped, "sharpe")
    assert check.level == "warning" and check.message.startswith("Overfitting warning")
    assert "rank correlation -1.00" in check.message and "is #6 held-out" in check.message


def test_overfitting_is_quiet_when_the_ranking_holds_up() -> None:
    kept = split_points({(a, b): (a + b / 10) / 2 for a in GRID_A for b in GRID_B})
    check = overfitting(kept, "sharpe")
    assert check.level == "ok" and "holds up" in check.message
    assert "expect less than in-sample" in check.message


def test_without_a_split_the_report_says_the_best_point_is_optimistic() -> None:
    recs, stats = records({(a, b, "full"): a for a in GRID_A for b in GRID_B})
    check = overfitting(points_frame(recs, stats))
    assert check.level == "warning" and "No held-out period" in check.message
    assert "best of 6 combinations" in check.message


@pytest.fixture(scope="module")
def stored_sweep(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("sweep") / "lake")
    grid = tiny_grid([0.4, 0.6], days=4, split={"held_out_fraction": 0.5}, sweep_id="rep")
    run_sweep(build_grid(grid, base=BASE), lake=lake, workers=0)
    return lake


@pytest.mark.slow
def test_a_stored_sweep_reads_back_and_the_app_draws_every_panel(stored_sweep: Lake) -> None:
    runs = SweepRuns(stored_sweep)
    assert runs.sweeps()["sweep_id"].to_list() == ["rep"]
    points = runs.points("rep")
    assert points.height == 4 and points["stored"].all()
    assert sorted(set(points["period"])) == ["held_out", "in_sample"]
    assert points["total_return"].null_count() == 0
    best = best_points(points, "total_return", "in_sample", n=2)
    fig = best_equity_figure(runs, best, "total_return", keys=param_keys(points))
    assert len(fig.data) == 2 and all(len(t.x) == 2 for t in fig.data)
    with pytest.raises(KeyError, match="no sweep 'nope'"):
        runs.points("nope")
    opened = SweepReportApp(stored_sweep)  # Sharpe by default, but no 2-day run has one
    assert opened.metric_select.value == "total_return"
    app = SweepReportApp(stored_sweep, metric="total_return")
    assert "rep" in app.summary.value and "4 points, 4 stored" in app.summary.value
    assert list(app.period_select.options) == ["in_sample", "held_out"]
    assert app.y_select.value == "seed"  # one swept key: the heatmap's other axis is the seed
    for pane in app.panes.values():
        assert pane.figure is not None
    app.period_select.value = "held_out"
    assert "held-out" in app.panes["heatmap"].figure.layout.title.text
    assert "Only 2 combination(s)" in app.warning.value


def test_a_lake_without_a_sweep_is_refused_by_the_app(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no sweep in"):
        SweepReportApp(Lake(tmp_path / "empty"))
