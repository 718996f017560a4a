"""The task table: seeded from the config, edited at runtime, and the job parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelib.errors import SchedulerError, SecretInParametersError, UnknownJobError
from tradelib.scheduler import (
    JobRegistry,
    Task,
    job_parameters,
    read_tasks,
    set_task_interval,
)
from tradelib.scheduler.tasks import declared_parameters
from tradelib.secrets import register_secret

from .conftest import FakeClock, MakeRunner, et, write_notebook


def test_the_first_tick_seeds_the_task_table_from_the_config(make_runner: MakeRunner) -> None:
    runner = make_runner({"sync": {"every_minutes": 10, "enabled": True}})
    assert read_tasks(runner.lake) == []
    runner.tick(et(28, 12, 0))  # a Saturday: nothing runs, but the table is seeded
    tasks = {t.job: t for t in read_tasks(runner.lake)}
    assert sorted(tasks) == [
        "daily_report",
        "entry",
        "maintenance",
        "monitoring",
        "sync",
        "variance",
    ]
    assert tasks["sync"].every_minutes == 10
    assert tasks["sync"].enabled
    assert tasks["variance"].every_minutes == 1440
    assert not tasks["variance"].market_hours_only


def test_a_runtime_edit_wins_over_the_config_at_later_ticks(make_runner: MakeRunner) -> None:
    runner = make_runner({"sync": {"every_minutes": 10}})
    runner.tasks()
    set_task_interval(runner.lake, "sync", 2, timeout_minutes=3, now=et(24, 10, 0))
    runner.tasks()  # seeding again must not undo the edit
    (sync,) = [t for t in read_tasks(runner.lake) if t.job == "sync"]
    assert (sync.every_minutes, sync.timeout_minutes, sync.market_hours_only) == (2, 3, True)
    assert sync.updated_at == et(24, 10, 0)


def test_a_job_missing_from_the_lake_is_seeded_at_the_next_tick(
    make_runner: MakeRunner,
) -> None:
    runner = make_runner({"variance": {"every_minutes": 60}})
    runner.lake.upsert("scheduler_tasks", [])  # nothing stored yet
    jobs = {t.job: t for t in runner.tasks()}
    assert jobs["variance"].every_minutes == 60


def test_set_keeps_the_fields_it_is_not_given(make_runner: MakeRunner) -> None:
    runner = make_runner(clock=FakeClock(et(24, 10, 0)))
    task = runner.set_task("variance", 60)
    assert task == Task("variance", 60, False, 10, False, et(24, 10, 0))
    task = runner.set_task("variance", 30, enabled=True, market_hours_only=True)
    assert (task.every_minutes, task.market_hours_only, task.enabled) == (30, True, True)


def test_an_unknown_job_needs_an_interval_and_a_valid_name(make_runner: MakeRunner) -> None:
    runner = make_runner()
    with pytest.raises(UnknownJobError, match="nightly"):
        set_task_interval(runner.lake, "nightly", None)
    with pytest.raises(SchedulerError, match="invalid job name"):
        set_task_interval(runner.lake, "../etc", 5)
    with pytest.raises(SchedulerError, match="every_minutes"):
        set_task_interval(runner.lake, "sync", 0)
    assert set_task_interval(runner.lake, "nightly", 720).market_hours_only


def test_parameters_are_the_config_file_and_the_run_time_only(tmp_path: Path) -> None:
    params = job_parameters("sync", config_path=tmp_path / "c.yaml", run_ts=et(24, 10, 0))
    assert params == {
        "config_path": str(tmp_path / "c.yaml"),
        "run_ts": "2026-11-24T15:00:00+00:00",
        "now": "2026-11-24T15:00:00+00:00",
    }
    assert job_parameters("sync", config_path=None, run_ts=et(24, 10, 0))["config_path"] == ""


def test_a_secret_never_becomes_a_parameter(tmp_path: Path) -> None:
    register_secret("hunter2-credential")
    with pytest.raises(SecretInParametersError, match="config_path"):
        job_parameters("sync", config_path=tmp_path / "hunter2-credential", run_ts=et(24, 10, 0))
    with pytest.raises(SecretInParametersError):
        job_parameters("sync", config_path=tmp_path / "DU7654321.yaml", run_ts=et(24, 10, 0))


def test_the_registry_maps_jobs_to_notebooks_and_reads_their_parameters(tmp_path: Path) -> None:
    registry = JobRegistry(tmp_path)
    spec = registry.spec("sync")
    assert spec.notebook == tmp_path / "notebooks" / "sync.ipynb"
    assert not spec.exists
    write_notebook(spec.notebook, "print(1)", params='config_path: str = ""\nlimit = 3')
    assert spec.exists
    assert declared_parameters(spec.notebook) == {"config_path", "limit"}
    other = JobRegistry(tmp_path, {"sync": Path("elsewhere/s.ipynb")}).spec("sync")
    assert other.notebook == tmp_path / "elsewhere" / "s.ipynb"
