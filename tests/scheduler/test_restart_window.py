"""The broker's daily restart: broker jobs due around it wait, then run on the next tick."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tradelib.config import load_config
from tradelib.errors import ConfigError
from tradelib.scheduler import Runner

from .conftest import ALL_OFF, FakeClock, RecordingExecutor, et, write_config, write_notebook

ON = {"enabled": True, "every_minutes": 1}


def _runner(workspace: Path, restart: str | None) -> tuple[Runner, RecordingExecutor]:
    for job in ("monitoring", "variance"):
        write_notebook(workspace / "notebooks" / f"{job}.ipynb", "x = 1")
    tasks = {**ALL_OFF, "monitoring": ON, "variance": {**ON, "market_hours_only": False}}
    path = write_config(workspace, tasks)
    cfg = load_config(path).with_overrides({"scheduler.broker_restart": restart})
    executor = RecordingExecutor()
    runner = Runner(
        cfg, root=workspace, config_path=path, clock=FakeClock(et(17, 11)), executor=executor
    )
    return runner, executor


def test_broker_jobs_wait_out_the_restart_window_and_run_after_it(workspace: Path) -> None:
    runner, executor = _runner(workspace, "11:30")  # New York time, inside the session
    runner.tick(et(17, 11, 25))  # 5 minutes before the restart: monitoring waits
    assert executor.jobs == ["variance"]  # a job that never talks to the broker runs
    runner.tick(et(17, 11, 40))  # 10 minutes after: the edge of the window, still waiting
    assert executor.jobs.count("monitoring") == 0
    runner.tick(et(17, 11, 41))
    assert executor.jobs.count("monitoring") == 1


def test_without_a_restart_time_nothing_waits(workspace: Path) -> None:
    runner, executor = _runner(workspace, None)
    runner.tick(et(17, 11, 30))
    assert "monitoring" in executor.jobs
    assert not runner.in_restart_window("monitoring", et(17, 11, 30))


def test_the_window_wraps_midnight(workspace: Path) -> None:
    runner, _ = _runner(workspace, "23:55")
    assert runner.in_restart_window("sync", et(18, 0, 3))  # 00:03 the next day
    assert not runner.in_restart_window("sync", et(18, 0, 3) + timedelta(minutes=10))


def test_a_restart_that_is_not_a_time_names_the_key(workspace: Path) -> None:
    path = write_config(workspace, ALL_OFF)
    with pytest.raises(ConfigError, match="broker_restart"):
        load_config(path).with_overrides({"scheduler.broker_restart": "25:99"})
