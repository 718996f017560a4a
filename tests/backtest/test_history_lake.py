"""Daily bars imported into the lake: every machine and sweep worker backtests the same history."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.sweep.conftest import BASE
from typer.testing import CliRunner

from tradelib.backtest.history.source import HistoricalSource, HistoryModel
from tradelib.backtest.history_store import TABLE, history_bars, history_coverage, import_history
from tradelib.backtest.run import history_source, run_backtest
from tradelib.cli import app
from tradelib.config import TradingConfig
from tradelib.errors import BacktestDataError
from tradelib.lake import Lake, TableName
from tradelib.sweep import SweepError, build_grid, run_sweep
from tradelib.sweep.runner import pinned_history, task_of

DATA = Path(__file__).parent / "data"
CFG = TradingConfig()
SYMBOLS = ["IWM", "QQQ", "SPY"]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("hist") / "lake")
    import_history(lake, DATA)
    return lake


def test_an_import_keeps_every_bar_and_a_re_import_adds_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    first = import_history(lake, DATA)
    assert first.inserted == 4 * 753 and first.updated == 0
    assert history_coverage(lake) == {
        s: (date(2021, 1, 4), date(2023, 12, 29), 753) for s in ("IWM", "QQQ", "SPY", "VIX")
    }
    again = import_history(lake, DATA)
    assert again.inserted == 0 and again.updated == 4 * 753
    rows = lake.read(TABLE).collect()
    assert rows.height == 4 * 753 == rows.unique(["symbol", "day"]).height
    assert set(rows["source"]) == {"IWM.csv", "QQQ.csv", "SPY.csv", "VIX.csv"}
    assert "4 symbol(s)" in first.lines()[-1] and "3,012 rows new" in first.lines()[-1]


def test_the_lake_gives_back_exactly_the_bars_the_files_hold(imported: Lake) -> None:
    from_files = HistoricalSource.from_dir(DATA, SYMBOLS, model=HistoryModel(seed=3))
    bars, vix = history_bars(imported, SYMBOLS)
    by_file = {**from_files._bars, "VIX": from_files._vix}
    for b in [*bars, vix]:
        f = by_file[b.symbol]
        for col in ("day", "open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(b, col), getattr(f, col)), (b.symbol, col)


@pytest.mark.slow
def test_a_backtest_over_the_lake_trades_exactly_as_one_over_the_folder(imported: Lake) -> None:
    start, days = date(2023, 12, 20), 5
    files = run_backtest(CFG, history=DATA, start=start, days=days, seed=4, run_id="f")
    lake = run_backtest(CFG, history=imported, start=start, days=days, seed=4, run_id="f")
    assert lake.source_name == files.source_name
    assert [d.day for d in lake.days] == [d.day for d in files.days]
    assert lake.equity.equals(files.equity)
    assert lake.trades.equals(files.trades)
    assert files.trades.height > 0 or files.equity["equity"].n_unique() > 1  # it traded


def test_a_bad_file_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    shutil.copytree(DATA, folder, ignore=shutil.ignore_patterns("*.py"))
    text = (folder / "QQQ.csv").read_text().splitlines()
    cells = text[5].split(",")
    cells[4] = "-1"  # a negative close on data row 5
    text[5] = ",".join(cells)
    (folder / "QQQ.csv").write_text("\n".join(text) + "\n")
    lake = Lake(tmp_path / "lake")
    with pytest.raises(BacktestDataError) as err:
        import_history(lake, folder)
    assert "QQQ.csv" in str(err.value) and "row 5" in str(err.value)
    assert not lake.exists(TABLE)  # not even the good files: no half-imported history


def test_a_lake_without_the_bars_says_what_is_missing_and_how_to_import(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    with pytest.raises(BacktestDataError, match=r"nothing imported yet.*import-history"):
        history_source(lake, SYMBOLS, seed=1)
    only_spy = tmp_path / "spy"
    only_spy.mkdir()
    for name in ("SPY.csv", "VIX.csv"):
        shutil.copy(DATA / name, only_spy / name)
    import_history(lake, only_spy)
    with pytest.raises(BacktestDataError, match=r"no daily bars for IWM, QQQ \(found SPY, VIX\)"):
        history_source(lake, SYMBOLS, seed=1)


def test_the_cli_imports_then_backtests_from_the_lake(tmp_path: Path) -> None:
    runner = CliRunner()
    lake = str(tmp_path / "lake")
    empty = runner.invoke(app, ["backtest", "--source", "history", "--lake", lake, "-q"])
    assert empty.exit_code == 2 and "import-history" in empty.output
    imported = runner.invoke(app, ["lake", "import-history", str(DATA), "--lake", lake])
    assert imported.exit_code == 0, imported.output
    assert "SPY    2021-01-04 .. 2023-12-29" in imported.output
    ran = runner.invoke(
        app,
        ["backtest", "--source", "history", "--lake", lake, "--start", "2023-12-27", "-q"],
    )
    assert ran.exit_code == 0, ran.output
    runs = Lake(lake).read(TableName.BACKTEST_RUNS).collect()
    assert runs.height == 1 and runs["source"][0] == "history"
    wrong = runner.invoke(app, ["backtest", "--history", str(DATA), "--lake", lake])
    assert wrong.exit_code == 2 and "--history is for --source history" in wrong.output


def test_a_sweep_market_without_a_folder_reads_the_lake_in_its_workers(imported: Lake) -> None:
    spec = {
        "grid": {"profit_targets.fixed": [0.5]},
        "seeds": [2],
        "markets": [{"source": "history", "start": "2023-12-27", "lake": str(imported.root)}],
        "cycles_per_day": 2,
    }
    grid = build_grid(spec, base=BASE)
    (point,) = grid.points
    task = task_of(point, grid)
    assert task.history is None and task.history_lake == str(imported.root)
    result = run_sweep(grid, lake=imported, workers=0)
    assert result.complete and not result.failed
    runs = imported.read(TableName.BACKTEST_RUNS, filter=pl.col("run_id") == point.run_id)
    assert runs.collect()["source"].to_list() == ["history"]


def _slices(
    tmp_path: Path, name: str, parts: dict[str, slice], close_only_vix: bool = False
) -> Path:
    """A folder holding the rows ``parts[symbol]`` of each fixture file."""
    folder = tmp_path / name
    folder.mkdir()
    for symbol, rows in parts.items():
        frame = pl.read_csv(DATA / f"{symbol}.csv", infer_schema=False)[rows]
        if symbol == "VIX" and close_only_vix:
            frame = frame.select("Date", "Close")
        frame.write_csv(folder / f"{symbol}.csv")
    return folder


def test_two_imports_that_would_leave_a_gap_are_refused_and_an_extension_is_kept(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    import_history(lake, _slices(tmp_path, "a", {"SPY": slice(0, 100), "VIX": slice(0, 100)}))
    gap = _slices(tmp_path, "gap", {"SPY": slice(110, 200), "VIX": slice(110, 200)})
    with pytest.raises(
        BacktestDataError, match=r"symbol=SPY \(held rows with SPY\.csv merged in\)"
    ):
        import_history(lake, gap)
    assert history_coverage(lake)["SPY"][2] == 100  # nothing of the refused import landed
    follow = _slices(tmp_path, "next", {"SPY": slice(90, 200), "VIX": slice(90, 200)})
    done = import_history(lake, follow)
    assert history_coverage(lake)["SPY"] == (date(2021, 1, 4), done.symbols["SPY"][1], 200)
    assert done.symbols["SPY"][2] == 200  # the report says what the lake now holds


def test_an_index_with_closes_only_imported_in_two_parts_reads_as_one_file(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    parts = {"SPY": slice(0, 60), "VIX": slice(0, 60)}
    import_history(lake, _slices(tmp_path, "one", parts, close_only_vix=True))
    later = {"SPY": slice(60, 120), "VIX": slice(60, 120)}
    import_history(lake, _slices(tmp_path, "two", later, close_only_vix=True))
    whole = {"SPY": slice(0, 120), "VIX": slice(0, 120)}
    folder = _slices(tmp_path, "whole", whole, close_only_vix=True)
    _, vix = history_bars(lake, ["SPY"])
    from_file = HistoricalSource.from_dir(folder, ["SPY"])._vix
    for col in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(vix, col), getattr(from_file, col)), col


def test_a_sweep_reads_the_bars_as_they_were_when_it_started(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    import_history(lake, _slices(tmp_path, "a", {"SPY": slice(0, 100), "VIX": slice(0, 100)}))
    pinned = lake.version(TABLE)
    spec = {
        "grid": {"profit_targets.fixed": [0.5]},
        "markets": [{"source": "history", "lake": str(lake.root)}],
    }
    grid = build_grid(spec, base=BASE)
    versions = pinned_history(list(grid.points), grid, None)
    assert task_of(grid.points[0], grid, versions).history_version == pinned
    import_history(lake, _slices(tmp_path, "b", {"SPY": slice(90, 200), "VIX": slice(90, 200)}))
    (then,), _ = history_bars(lake, ["SPY"], version=pinned)
    (now,), _ = history_bars(lake, ["SPY"])
    assert len(then) == 100 and len(now) == 200


def test_a_remote_cluster_is_not_sent_to_a_lake_on_this_machine(imported: Lake) -> None:
    spec = {
        "grid": {"profit_targets.fixed": [0.5]},
        "markets": [{"source": "history", "start": "2023-12-27", "lake": str(imported.root)}],
    }
    grid = build_grid(spec, base=BASE)
    with pytest.raises(SweepError, match=r"on this machine; the workers of tcp://10\.0\.0\.9:8786"):
        run_sweep(grid, lake=imported, scheduler="tcp://10.0.0.9:8786")
