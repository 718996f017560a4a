"""The runner: ticks with a fake clock, real Delta tables, real papermill where it matters."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tradelib.config import load_config
from tradelib.scheduler import JobLock, Runner, RunRecord, RunStatus, record_run
from tradelib.scheduler.runs import job_state

from .conftest import ACCOUNT, FakeClock, MakeRunner, RecordingExecutor, et, write_notebook

ON = {"enabled": True}


def runs_table(runner: Runner) -> pl.DataFrame:
    return runner.lake.read("job_runs").sort("started_at", "job").collect()


def stub_notebooks(root: Path, *jobs: str) -> None:
    for job in jobs:
        write_notebook(root / "notebooks" / f"{job}.ipynb", "x = 1")


# --- real papermill -----------------------------------------------------------------------
@pytest.mark.slow  # three papermill kernels: ~5-6 s
def test_a_tick_runs_every_due_job_archives_it_and_records_it_even_when_one_fails(
    make_runner: MakeRunner, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELIB_IB_ACCOUNT", ACCOUNT)
    nbs = workspace / "notebooks"
    write_notebook(nbs / "sync.ipynb", "print('sync at', run_ts)")
    write_notebook(nbs / "entry.ipynb", "raise ValueError('no chain for SPY\\nsecond line')")
    # a careless job printing the account: the archive must not keep it
    write_notebook(nbs / "monitoring.ipynb", "import os\nprint(os.environ['TRADELIB_IB_ACCOUNT'])")
    runner = make_runner({"sync": ON, "entry": ON, "monitoring": ON})

    report = runner.tick(et(24, 10, 0))

    assert [r.job for r in report.runs] == ["entry", "monitoring", "sync"]
    status = {r.job: r.status for r in report.runs}
    assert status == {
        "entry": RunStatus.FAILED,
        "monitoring": RunStatus.SUCCESS,
        "sync": RunStatus.SUCCESS,
    }
    rows = {row["job"]: row for row in runs_table(runner).iter_rows(named=True)}
    assert rows["entry"]["error"] == (
        "ValueError: no chain for SPY (PapermillExecutionError in cell 3)"
    )
    assert rows["sync"]["output_path"] == "runs/sync/2026/11/24/sync-20261124T150000Z.ipynb"
    assert rows["sync"]["started_at"] == et(24, 10, 0)
    assert rows["sync"]["finished_at"] >= rows["sync"]["started_at"]
    assert rows["sync"]["duration_s"] > 0
    assert rows["sync"]["error"] is None

    archived = json.loads((workspace / rows["sync"]["output_path"]).read_text())
    assert archived["metadata"]["papermill"]["parameters"] == {
        "config_path": str(workspace / "config" / "trading_config.yaml"),
        "run_ts": "2026-11-24T15:00:00+00:00",
    }
    printed = ["".join(o.get("text", "")) for c in archived["cells"] for o in c.get("outputs", [])]
    assert "sync at 2026-11-24T15:00:00+00:00\n" in printed
    failed = json.loads((workspace / rows["entry"]["output_path"]).read_text())
    assert failed["metadata"]["papermill"]["exception"] is True

    leaky = (workspace / rows["monitoring"]["output_path"]).read_text()
    assert "DU*****67" in leaky
    for path in (workspace / "runs").rglob("*.ipynb"):
        assert ACCOUNT not in path.read_text(), path
    assert ACCOUNT not in runs_table(runner).write_csv()


def test_a_job_past_its_timeout_is_killed_and_recorded(
    make_runner: MakeRunner, workspace: Path
) -> None:
    write_notebook(
        workspace / "notebooks" / "sync.ipynb",
        "print('working', flush=True)",
        "import time\ntime.sleep(120)",
    )
    runner = make_runner({"sync": ON}, timeout_cap_s=3)

    (record,) = runner.tick(et(24, 10, 0)).runs

    assert record.status is RunStatus.TIMEOUT
    assert record.error is not None and record.error.startswith("timed out after 3 s")
    assert record.output_path is not None
    partial = json.loads((workspace / record.output_path).read_text())
    assert partial["metadata"]["papermill"]["parameters"]["run_ts"].startswith("2026-11-24")
    assert runs_table(runner)["status"].to_list() == ["timeout"]
    after = JobLock(runner.locks_dir, "sync")
    assert after.acquire()  # the killed run left the lock free
    after.release()


@pytest.mark.slow  # a papermill kernel and a compaction: ~4 s
def test_the_maintenance_job_compacts_the_lake_through_its_notebook(
    make_runner: MakeRunner, workspace: Path
) -> None:
    repo_notebook = Path(__file__).parents[2] / "notebooks" / "maintenance.ipynb"
    (workspace / "notebooks" / "maintenance.ipynb").write_text(repo_notebook.read_text())
    runner = make_runner({"maintenance": ON})
    for minute in range(3):  # a few small commits to compact
        runner.set_task("sync", 5 + minute)

    (record,) = runner.tick(et(25, 0, 0)).runs

    assert record.status is RunStatus.SUCCESS, record.error
    assert runner.lake.info("scheduler_tasks").files == 1


# --- fake executor: the bookkeeping around the run -------------------------------------------
def test_a_held_lock_makes_the_tick_record_a_skip_and_the_next_tick_run_it(
    make_runner: MakeRunner, workspace: Path
) -> None:
    stub_notebooks(workspace, "sync")
    executor = RecordingExecutor()
    runner = make_runner({"sync": ON}, executor=executor)
    held = JobLock(runner.locks_dir, "sync")
    assert held.acquire()

    (skipped,) = runner.tick(et(24, 10, 0)).runs

    assert skipped.status is RunStatus.SKIPPED_LOCKED
    assert skipped.error is not None and "sync.lock" in skipped.error
    assert executor.jobs == []
    held.release()
    (ran,) = runner.tick(et(24, 10, 1)).runs  # a skip does not count as a start
    assert ran.status is RunStatus.SUCCESS
    assert runs_table(runner)["status"].to_list() == ["skipped_locked", "success"]


@pytest.mark.slow  # a second process holding the lock: ~4 s
def test_the_lock_excludes_other_processes(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, time; from pathlib import Path; from tradelib.scheduler import JobLock\n"
        "lock = JobLock(Path(sys.argv[1]), 'sync'); assert lock.acquire(); print('held', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        mine = JobLock(tmp_path, "sync")
        assert not mine.acquire()
        assert mine.holder_pid() == child.pid
    finally:
        child.communicate("\n", timeout=30)
    assert mine.acquire()  # the kernel dropped the dead holder's flock
    mine.release()


def test_a_job_due_before_the_close_but_reached_after_it_is_skipped(
    make_runner: MakeRunner, workspace: Path
) -> None:
    stub_notebooks(workspace, "monitoring", "sync")
    clock = FakeClock(et(27, 12, 55))

    def slow_job(job: str) -> None:
        if job == "monitoring":  # it runs first and takes us to the early close
            clock.current = et(27, 13, 0)

    executor = RecordingExecutor(on_run=slow_job)
    runner = make_runner({"sync": ON, "monitoring": ON}, clock=clock, executor=executor)

    report = runner.tick()

    assert report.due == ["monitoring", "sync"]
    assert [(r.job, r.status) for r in report.runs] == [
        ("monitoring", RunStatus.SUCCESS),
        ("sync", RunStatus.SKIPPED_CLOSED),
    ]
    assert executor.jobs == ["monitoring"]
    clock.current = et(27, 13, 5)
    assert runner.tick().runs == ()  # the early close: nothing more today


def test_a_run_left_running_by_a_dead_runner_is_marked_abandoned(
    make_runner: MakeRunner, workspace: Path
) -> None:
    stub_notebooks(workspace, "sync")
    runner = make_runner({"sync": ON}, executor=RecordingExecutor())
    record_run(runner.lake, RunRecord("sync-dead", "sync", et(24, 9, 30), RunStatus.RUNNING))

    assert runner.tick(et(24, 9, 33)).runs == ()  # the dead run still counts for its slot
    (ran,) = runner.tick(et(24, 9, 35)).runs

    assert ran.status is RunStatus.SUCCESS
    statuses = dict(runs_table(runner).select("run_id", "status").iter_rows())
    assert statuses["sync-dead"] == "abandoned"
    assert job_state(runner.lake, "sync") == (et(24, 9, 35), [])


def test_a_missing_notebook_is_a_failed_run_not_a_broken_tick(
    make_runner: MakeRunner, workspace: Path
) -> None:
    stub_notebooks(workspace, "sync")
    executor = RecordingExecutor()
    runner = make_runner({"sync": ON, "entry": ON}, executor=executor)

    report = runner.tick(et(24, 10, 0))

    assert [(r.job, r.status) for r in report.runs] == [
        ("entry", RunStatus.FAILED),
        ("sync", RunStatus.SUCCESS),
    ]
    assert report.runs[0].error == "notebook not found: notebooks/entry.ipynb"
    assert report.runs[0].output_path is None


def test_ticks_through_a_day_follow_the_schedule_and_runtime_edits(
    make_runner: MakeRunner, workspace: Path
) -> None:
    stub_notebooks(workspace, "sync", "variance")
    executor = RecordingExecutor()
    runner = make_runner({"sync": ON, "variance": ON}, executor=executor)
    ran: dict[str, list[str]] = {}
    for hour, minute in [(0, 0), (9, 29), (9, 30), (9, 31), (9, 35), (9, 36), (9, 40)]:
        runs = runner.tick(et(24, hour, minute)).runs
        ran[f"{hour:02}:{minute:02}"] = [r.job for r in runs]
    runner.set_task("sync", 15)
    for minute in (45, 50, 59, 60):
        runs = runner.tick(et(24, 9, minute) if minute < 60 else et(24, 10, 0)).runs
        ran[f"09:{minute}"] = [r.job for r in runs]

    assert ran == {
        "00:00": ["variance"],
        "09:29": [],
        "09:30": ["sync"],
        "09:31": [],
        "09:35": ["sync"],
        "09:36": [],
        "09:40": ["sync"],
        "09:45": ["sync"],  # 15-minute slots: 09:30, 09:45, 10:00
        "09:50": [],
        "09:59": [],
        "09:60": ["sync"],
    }
    parameters = dict(executor.calls)["variance"]
    assert parameters == {
        "config_path": str(runner.config_path),
        "run_ts": "2026-11-24T05:00:00+00:00",
    }


def test_run_job_ignores_the_schedule_but_not_the_lock(
    make_runner: MakeRunner, workspace: Path
) -> None:
    stub_notebooks(workspace, "variance")
    runner = make_runner(executor=RecordingExecutor())  # variance disabled

    first = runner.run_job("variance", et(28, 12, 0))
    second = runner.run_job("variance", et(28, 12, 0))

    assert (first.status, second.status) == (RunStatus.SUCCESS, RunStatus.SUCCESS)
    assert first.output_path != second.output_path  # same second: a distinct archive
    with JobLock(runner.locks_dir, "variance") as held:
        assert held.acquire()
        assert runner.run_job("variance").status is RunStatus.SKIPPED_LOCKED


def test_from_config_finds_the_workspace_from_the_current_folder(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace / "notebooks")
    runner = Runner.from_config()
    assert runner.root == workspace
    assert runner.config_path == workspace / "config" / "trading_config.yaml"
    assert runner.runs_dir == workspace / "runs"
    assert Path(runner.lake.root) == workspace / "data" / "lake"
    assert load_config(runner.config_path).scheduler.calendar == "XNYS"
