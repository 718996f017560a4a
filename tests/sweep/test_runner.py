"""Running a sweep: stored once, resumed after a kill, failures reported, on a real LocalCluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.sweep.conftest import BASE, tiny_grid
from tradelib.lake import Lake, TableName
from tradelib.sweep import SweepError, build_grid, run_sweep
from tradelib.sweep import runner as runner_module
from tradelib.sweep.tasks import run_point

TABLES = (
    TableName.BACKTEST_RUNS,
    TableName.BACKTEST_TRADES,
    TableName.BACKTEST_EQUITY,
    TableName.BACKTEST_SWEEPS,
)


def counts(lake: Lake) -> dict[str, int]:
    return {str(t): lake.read(t).collect().height for t in TABLES}


def no_duplicate_keys(lake: Lake) -> None:
    for table in TABLES:
        spec = lake.spec(table)
        frame = lake.read(table).collect()
        assert frame.height == frame.unique(list(spec.merge_keys)).height, table


@pytest.mark.slow
def test_a_re_run_of_the_same_sweep_adds_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    grid = build_grid(tiny_grid(), base=BASE)
    first = run_sweep(grid, lake=lake, workers=0, batch=1)
    assert first.complete and first.written == 2 and first.ran == 2
    after_first = counts(lake)
    assert after_first[TableName.BACKTEST_RUNS] == 2 and after_first[TableName.BACKTEST_SWEEPS] == 1
    assert after_first[TableName.BACKTEST_EQUITY] == 4  # two days per point
    again = run_sweep(build_grid(tiny_grid(), base=BASE), lake=lake, workers=0)
    assert again.already_done == 2 and again.ran == 0 and again.written == 0
    assert counts(lake) == after_first
    runs = lake.read(TableName.BACKTEST_RUNS).collect()
    assert set(runs["run_id"]) == {p.run_id for p in grid.points}
    no_duplicate_keys(lake)


@pytest.mark.slow
def test_a_stopped_sweep_resumes_running_only_the_missing_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake")
    grid = build_grid(tiny_grid([0.3, 0.5, 0.7]), base=BASE)
    partial = run_sweep(grid, lake=lake, workers=0, max_points=1)
    assert partial.written == 1 and partial.left == 2 and not partial.complete
    ran: list[str] = []

    def spy(task):  # type: ignore[no-untyped-def]
        ran.append(task.run_id)
        return run_point(task)

    monkeypatch.setattr(runner_module, "run_point", spy)
    rest = run_sweep(grid, lake=lake, workers=0)
    assert rest.already_done == 1 and rest.complete
    stored_first = lake.read(TableName.BACKTEST_RUNS).collect()["run_id"].to_list()
    assert sorted(ran) == sorted(p.run_id for p in grid.points[1:])
    assert len(stored_first) == 3
    no_duplicate_keys(lake)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_killed_driver_is_resumed_without_duplicates(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    grid_path = tmp_path / "GRID.yaml"
    grid_path.write_text(yaml.safe_dump(tiny_grid([0.3, 0.4, 0.5, 0.6])))
    command = [
        str(Path(sys.executable).parent / "tradelib"),
        "sweep",
        str(grid_path),
        "--workers",
        "0",
        "--batch",
        "1",
        "--lake",
        str(lake_dir),
        "-q",
    ]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lake = Lake(lake_dir)
    deadline = time.monotonic() + 400
    stored = 0
    while time.monotonic() < deadline and driver.poll() is None:
        if lake.exists(TableName.BACKTEST_RUNS):
            stored = lake.read(TableName.BACKTEST_RUNS).collect().height
            if stored >= 1:
                break
        time.sleep(0.2)
    assert driver.poll() is None, "the sweep finished before it could be killed"
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    before = lake.read(TableName.BACKTEST_RUNS).collect().height
    assert 1 <= before < 4
    resumed = run_sweep(grid_path, lake=lake, workers=0)
    assert resumed.already_done == before and resumed.ran == 4 - before and resumed.complete
    assert lake.read(TableName.BACKTEST_RUNS).collect().height == 4
    no_duplicate_keys(lake)


@pytest.mark.slow
def test_a_failing_point_is_reported_not_dropped_and_runs_again_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake")
    grid = build_grid(tiny_grid(), base=BASE)
    doomed = grid.points[0].run_id

    def flaky(task):  # type: ignore[no-untyped-def]
        if task.run_id == doomed:
            raise RuntimeError("worker lost its market data")
        return run_point(task)

    monkeypatch.setattr(runner_module, "run_point", flaky)
    result = run_sweep(grid, lake=lake, workers=0)
    assert set(result.failed) == {doomed} and "worker lost its market data" in result.failed[doomed]
    assert not result.complete and any("FAILED" in line for line in result.lines())
    stored = lake.read(TableName.BACKTEST_RUNS).collect()["run_id"].to_list()
    assert stored == [grid.points[1].run_id]
    monkeypatch.setattr(runner_module, "run_point", run_point)
    retried = run_sweep(grid, lake=lake, workers=0)
    assert retried.ran == 1 and retried.complete


def test_a_sweep_id_naming_another_grid_is_refused(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    runner_module.record_sweep(lake, build_grid(tiny_grid(), base=BASE, sweep_id="mine"))
    other = build_grid(tiny_grid([0.9]), base=BASE, sweep_id="mine")
    with pytest.raises(SweepError, match="already names a different grid"):
        run_sweep(other, lake=lake, workers=0)


@pytest.mark.slow
def test_an_unreachable_scheduler_fails_fast_naming_its_address(tmp_path: Path) -> None:
    grid = build_grid(tiny_grid(), base=BASE)
    started = time.monotonic()
    with pytest.raises(SweepError, match=r"tcp://127\.0\.0\.1:9"):
        run_sweep(grid, lake=Lake(tmp_path / "lake"), scheduler="tcp://127.0.0.1:9")
    assert time.monotonic() - started < 60


@pytest.mark.slow
def test_a_point_run_twice_gives_the_same_rows() -> None:
    """Why a point re-run after a kill cannot duplicate rows already written for it."""
    grid = build_grid(tiny_grid([0.5]), base=BASE)
    task = runner_module.task_of(grid.points[0], grid)
    a, b = run_point(task), run_point(task)
    assert a.trades.height and a.trades.equals(b.trades)
    assert a.equity.equals(b.equity)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_tiny_sweep_runs_on_a_real_two_worker_local_cluster(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    grid = build_grid(tiny_grid([0.3, 0.5, 0.7]), base=BASE)
    lines: list[str] = []
    result = run_sweep(grid, lake=lake, workers=2, batch=2, progress=lines.append)
    assert result.complete and result.written == 3 and result.workers == 2
    assert result.dashboard_link and result.dashboard_link.startswith("http://127.0.0.1:")
    assert any("dask dashboard: http://127.0.0.1:" in line for line in lines)
    assert any(line.strip().startswith("3/3 points done") for line in lines)
    runs = lake.read(TableName.BACKTEST_RUNS).collect()
    assert set(runs["run_id"]) == {p.run_id for p in grid.points}
    assert (runs["days"] == 2).all() and (runs["cycles_per_day"] == 2).all()
    equity = lake.read(TableName.BACKTEST_EQUITY).collect()
    assert equity.group_by("run_id").len()["len"].to_list() == [2, 2, 2]
    no_duplicate_keys(lake)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_worker_killed_mid_task_has_its_point_run_again(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    lake = Lake(tmp_path / "lake")
    grid = build_grid(tiny_grid([0.3, 0.5, 0.7]), base=BASE)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    killed: list[str] = []

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:
                time.sleep(1.0)  # let the backtest get going
                address, keys = next(iter(busy.items()))
                pid = client.run(os.getpid, workers=[address])[address]
                os.kill(pid, signal.SIGKILL)
                killed.extend(str(k) for k in keys)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    try:
        killer.start()
        result = run_sweep(grid, lake=lake, client=client, batch=1)
        killer.join(timeout=10)
    finally:
        client.close()
        cluster.close()
    assert killed, "no worker was killed"
    assert result.complete and result.written == 3, result.lines()
    assert lake.read(TableName.BACKTEST_RUNS).collect().height == 3
    no_duplicate_keys(lake)


@pytest.mark.slow
def test_a_cluster_without_workers_is_refused_not_waited_on(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=0, processes=True, dashboard_address=None)
    client = Client(cluster)
    try:
        with pytest.raises(SweepError, match="has no workers"):
            run_sweep(
                build_grid(tiny_grid(), base=BASE), lake=Lake(tmp_path / "lake"), client=client
            )
    finally:
        client.close()
        cluster.close()
