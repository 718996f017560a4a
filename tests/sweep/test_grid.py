"""GRID.yaml: expansion into points, and refusal (naming key and value) before anything runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tradelib.config import TradingConfig
from tradelib.sweep import GridError, build_grid, load_grid

BASE = TradingConfig()
SIM = {"source": "sim", "days": 10, "end": "2026-11-25"}


def grid(**parts: Any) -> dict[str, Any]:
    return {"markets": [SIM], **parts}


def test_the_full_product_times_seeds_times_markets_is_one_point_each() -> None:
    g = build_grid(
        grid(
            grid={"profit_targets.fixed": [0.4, 0.5, 0.6], "strategies.target_delta": [0.12, 0.2]},
            seeds=[1, 2],
            markets=[SIM, {**SIM, "days": 5}],
        ),
        base=BASE,
    )
    assert len(g.points) == 3 * 2 * 2 * 2
    assert len({p.run_id for p in g.points}) == len(g.points)
    assert g.keys == ["profit_targets.fixed", "strategies.target_delta"]
    point = g.points[0]
    assert point.cfg.profit_targets.fixed == point.params["profit_targets.fixed"]
    assert point.cfg.strategies.target_delta == point.params["strategies.target_delta"]
    assert all(p.run_id.startswith(f"{g.sweep_id}-") for p in g.points)


def test_run_ids_and_the_sweep_id_are_stable_and_follow_the_grid() -> None:
    data = grid(grid={"rules.dte_exit": [14, 21]}, seeds=[3])
    a, b = build_grid(data, base=BASE), build_grid(data, base=BASE)
    assert a.sweep_id == b.sweep_id and [p.run_id for p in a.points] == [p.run_id for p in b.points]
    changed = build_grid(grid(grid={"rules.dte_exit": [14, 28]}, seeds=[3]), base=BASE)
    assert changed.sweep_id != a.sweep_id
    named = build_grid(data, base=BASE, sweep_id="mine")
    assert named.sweep_id == "mine" and named.points[0].run_id.startswith("mine-")
    other_base = build_grid(data, base=BASE.with_overrides({"risk.max_margin_use": 0.3}))
    assert other_base.sweep_id != a.sweep_id  # the base config is part of what ran


def test_a_group_sets_several_keys_together_as_a_dte_window() -> None:
    g = build_grid(
        grid(
            grid={
                "dte_window": [
                    {"strategies.dte_min": 20, "strategies.dte_max": 30},
                    {"strategies.dte_min": 30, "strategies.dte_max": 45},
                ],
                "trading_limits.max_positions": [5, 10],
            }
        ),
        base=BASE,
    )
    assert len(g.points) == 4
    windows = {(p.cfg.strategies.dte_min, p.cfg.strategies.dte_max) for p in g.points}
    assert windows == {(20, 30), (30, 45)}
    assert g.keys == ["strategies.dte_min", "strategies.dte_max", "trading_limits.max_positions"]


def test_a_random_sample_is_seeded_distinct_and_draws_ranges() -> None:
    lists = grid(
        grid={"profit_targets.fixed": [0.3, 0.4, 0.5, 0.6], "strategies.target_delta": [0.1, 0.2]},
        sample={"n": 5, "seed": 11},
    )
    a, b = build_grid(lists, base=BASE), build_grid(lists, base=BASE)
    assert len(a.points) == 5 and [p.params for p in a.points] == [p.params for p in b.points]
    assert len({tuple(p.params.items()) for p in a.points}) == 5  # without replacement
    capped = build_grid({**lists, "sample": {"n": 50, "seed": 1}}, base=BASE)
    assert len(capped.points) == 8  # no more than the product holds
    ranged = build_grid(
        grid(
            grid={
                "strategies.target_delta": {"low": 0.1, "high": 0.25},
                "rules.dte_exit": {"low": 7, "high": 21},
            },
            sample={"n": 6, "seed": 2},
        ),
        base=BASE,
    )
    assert len(ranged.points) == 6
    for p in ranged.points:
        assert 0.1 <= p.params["strategies.target_delta"] <= 0.25
        assert isinstance(p.params["rules.dte_exit"], int) and 7 <= p.params["rules.dte_exit"] <= 21


def test_a_split_gives_each_point_an_in_sample_and_a_held_out_run() -> None:
    g = build_grid(
        grid(grid={"rules.dte_exit": [14, 21]}, split={"held_out_fraction": 0.3}), base=BASE
    )
    assert [p.period for p in g.points] == ["in_sample", "held_out"] * 2
    ins, out = g.points[0], g.points[1]
    assert ins.days is not None and out.days is not None
    assert ins.days + out.days == 10 and out.days == 3
    assert out.end == date(2026, 11, 25) and ins.end is not None and ins.end < date(2026, 11, 25)
    by_date = build_grid(
        grid(grid={"rules.dte_exit": [14]}, split={"held_out_start": "2026-11-20"}), base=BASE
    )
    first, second = by_date.points
    assert second.end == date(2026, 11, 25) and first.end is not None
    assert first.end < date(2026, 11, 20)


def test_a_history_market_resolves_its_folder_and_splits_its_dates() -> None:
    data = Path(__file__).resolve().parents[1] / "backtest" / "data"
    g = build_grid(
        {
            "grid": {"rules.dte_exit": [21]},
            "markets": [{"source": "history", "folder": str(data), "days": 10}],
            "split": {"held_out_fraction": 0.5},
        },
        base=BASE,
    )
    ins, out = g.points
    assert ins.start is not None and ins.end is not None and out.start is not None
    assert ins.end < out.start


BAD_GRIDS: list[tuple[dict[str, Any], list[str]]] = [
    (grid(grid={"strategies.target_delt": [0.1]}), ["strategies.target_delt", "target_delta"]),
    (grid(grid={"strategies.target_delta": ["abc"]}), ["strategies.target_delta", "'abc'"]),
    (grid(grid={"strategies.target_delta": [0.1, 2.0]}), ["strategies.target_delta", "2.0"]),
    (grid(grid={"nosection.key": [1]}), ["nosection"]),
    (grid(grid={"target_delta": [0.1]}), ["grid.target_delta", "strategies.target_delta"]),
    (grid(grid={"rules.dte_exit": []}), ["grid.rules.dte_exit", "empty"]),
    (grid(grid={"rules.dte_exit": {"low": 1, "high": 5}}), ["rules.dte_exit", "sample"]),
    (
        grid(grid={"strategies.dte_min": [40, 50], "strategies.dte_max": [45, 60]}),
        ["the point {strategies.dte_min=50, strategies.dte_max=45}", "strategies.dte_max: must"],
    ),
    (grid(seed=[1]), ["seed", "seeds"]),
    ({"grid": {}, "markets": [{"source": "sim", "days": 5}]}, ["markets", "end"]),
    ({"grid": {}}, ["markets"]),
    (grid(split={"held_out_fraction": 1.5}), ["split.held_out_fraction"]),
    (grid(split={"held_out_start": "2027-01-04"}), ["split", "held-out"]),
    (grid(sweep_id="no spaces"), ["sweep_id"]),
]


@pytest.mark.parametrize(("data", "named"), BAD_GRIDS, ids=[str(n[0]) for _, n in BAD_GRIDS])
def test_a_bad_grid_is_refused_naming_the_key_and_value(
    data: dict[str, Any], named: list[str]
) -> None:
    with pytest.raises(GridError) as info:
        build_grid(data, base=BASE, source="GRID.yaml")
    message = str(info.value)
    assert message.startswith("sweep grid GRID.yaml: ")
    for word in named:
        assert word in message, message


def test_a_grid_file_is_read_and_its_base_config_found_beside_it(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("strategies:\n  target_delta: 0.2\n")
    path = tmp_path / "GRID.yaml"
    path.write_text(
        "base_config: base.yaml\n"
        "grid:\n  rules.dte_exit: [14, 21]\n"
        "markets:\n  - {source: sim, days: 3, end: 2026-11-25}\n"
    )
    g = load_grid(path)
    assert g.base.strategies.target_delta == 0.2
    assert {p.cfg.strategies.target_delta for p in g.points} == {0.2}
    path.write_text("grid: [1, 2\n")
    with pytest.raises(GridError, match=r"GRID\.yaml"):
        load_grid(path)
    with pytest.raises(GridError, match="file not found"):
        load_grid(tmp_path / "missing.yaml")
