"""Issue 17: a killed tick's run is marked abandoned by the very next tick, and a lake
commit conflict that outlasts the retries is a failed run with its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradelib.errors import CommitConflictError
from tradelib.scheduler import JobLock, Runner, RunRecord, RunStatus, record_run
from tradelib.scheduler import runner as runner_module

from .conftest import MakeRunner, RecordingExecutor, et, write_notebook

ON = {"enabled": True}


def rows(runner: Runner) -> dict[str, dict[str, Any]]:
    frame = runner.lake.read("job_runs").collect()
    return {row["run_id"]: row for row in frame.iter_rows(named=True)}


def test_a_killed_runs_row_is_abandoned_at_the_next_tick_not_the_next_due_run(
    make_runner: MakeRunner, workspace: Path
) -> None:
    runner = make_runner({"maintenance": ON}, executor=RecordingExecutor())
    # the tick that started maintenance at 09:30 was killed: its row says running
    dead = RunRecord("maintenance-dead", "maintenance", et(24, 9, 30), RunStatus.RUNNING)
    record_run(runner.lake, dead)

    report = runner.tick(et(24, 9, 31))  # maintenance is next due in 24 h

    assert report.runs == ()
    row = rows(runner)["maintenance-dead"]
    assert row["status"] == "abandoned"
    assert "no process held the maintenance lock" in row["error"]
    assert row["finished_at"] == et(24, 9, 31)


def test_a_run_whose_lock_is_held_is_still_running(
    make_runner: MakeRunner, workspace: Path
) -> None:
    runner = make_runner({"maintenance": ON}, executor=RecordingExecutor())
    live = RunRecord("maintenance-live", "maintenance", et(24, 9, 30), RunStatus.RUNNING)
    record_run(runner.lake, live)

    with JobLock(runner.locks_dir, "maintenance") as lock:
        assert lock.acquire()
        assert runner.reap_abandoned(et(24, 9, 31)) == []

    assert rows(runner)["maintenance-live"]["status"] == "running"


def test_a_conflict_recording_the_end_is_a_failed_run_with_its_reason(
    make_runner: MakeRunner, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notebook(workspace / "notebooks" / "sync.ipynb", "x = 1")
    runner = make_runner({"sync": ON}, executor=RecordingExecutor())
    real = runner_module.record_run

    def conflicting(lake: Any, record: RunRecord) -> None:
        if record.status is RunStatus.SUCCESS:  # the end, after the retries ran out
            raise CommitConflictError(table="job_runs", attempts=6, problem="concurrent commit")
        real(lake, record)

    monkeypatch.setattr(runner_module, "record_run", conflicting)
    (run,) = runner.tick(et(24, 10, 0)).runs

    assert run.status is RunStatus.FAILED
    stored = runner.lake.read("job_runs").filter(pl.col("job") == "sync").collect()
    assert stored["status"].to_list() == ["failed"]
    assert "end could not be recorded" in stored["error"][0]
    assert "job_runs" in stored["error"][0]


def test_a_conflict_recording_the_start_runs_nothing_and_says_why(
    make_runner: MakeRunner, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notebook(workspace / "notebooks" / "sync.ipynb", "x = 1")
    executor = RecordingExecutor()
    runner = make_runner({"sync": ON}, executor=executor)
    real = runner_module.record_run

    def conflicting(lake: Any, record: RunRecord) -> None:
        if record.status is RunStatus.RUNNING:
            raise CommitConflictError(table="job_runs", attempts=6, problem="concurrent commit")
        real(lake, record)

    monkeypatch.setattr(runner_module, "record_run", conflicting)
    (run,) = runner.tick(et(24, 10, 0)).runs

    assert executor.jobs == []
    assert run.status is RunStatus.FAILED
    assert "could not record the start" in (run.error or "")
