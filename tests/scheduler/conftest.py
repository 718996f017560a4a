"""Shared fixtures: an isolated workspace in tmp_path, notebooks, fake clocks and executors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tradelib.config import load_config
from tradelib.scheduler import Outcome, Runner, RunStatus
from tradelib.secrets import clear_registered_secrets

ACCOUNT = "DU1234567"
PARAMS = 'config_path: str = ""  # the config file\nrun_ts: str = ""  # the tick time'


def et(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A New York wall time in late 2026 (EST, UTC-5) as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) + timedelta(hours=5)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current


class RecordingExecutor:
    """Stands in for papermill: writes a stub output and remembers every call."""

    def __init__(self, on_run: Callable[[str], None] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.on_run = on_run

    def __call__(
        self,
        notebook: Path,
        output: Path,
        parameters: Mapping[str, Any],
        *,
        cwd: Path,
        timeout_s: float,
    ) -> Outcome:
        job = notebook.stem
        self.calls.append((job, dict(parameters)))
        output.write_text(json.dumps({"parameters": dict(parameters)}))
        if self.on_run is not None:
            self.on_run(job)
        return Outcome(RunStatus.SUCCESS)

    @property
    def jobs(self) -> list[str]:
        return [job for job, _ in self.calls]


def write_notebook(path: Path, *code: str, params: str = PARAMS) -> Path:
    """Write a small python3 notebook: a ``parameters`` cell, then ``code`` cells."""
    cells = [
        {
            "id": "parameters",
            "cell_type": "code",
            "metadata": {"tags": ["parameters"]},
            "source": params,
            "outputs": [],
            "execution_count": None,
        },
        *(
            {
                "id": f"cell-{n}",
                "cell_type": "code",
                "metadata": {},
                "source": src,
                "outputs": [],
                "execution_count": None,
            }
            for n, src in enumerate(code)
        ),
    ]
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


CONFIG = """\
storage:
  lake_uri: data/lake
  runs_dir: runs
scheduler:
  tasks:
{tasks}
"""


def write_config(root: Path, tasks: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``config/trading_config.yaml`` under ``root`` with these scheduler tasks."""
    lines = [f"    {job}: {json.dumps(dict(fields))}" for job, fields in tasks.items()]
    path = root / "config" / "trading_config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG.format(tasks="\n".join(lines)))
    return path


# every default job off: each test switches on only the jobs it is about
ALL_OFF = {
    job: {"enabled": False}
    for job in ("sync", "entry", "monitoring", "variance", "maintenance", "daily_report")
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep the real environment, CWD and the secret registry out of every test."""
    for name in ("TRADELIB_CONFIG", "TRADELIB_IB_ACCOUNT", "TRADELIB_ALLOW_LIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    clear_registered_secrets()
    yield
    clear_registered_secrets()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace: config (every job off), notebooks/ and nothing run yet."""
    root = tmp_path / "ws"
    (root / "notebooks").mkdir(parents=True)
    write_config(root, ALL_OFF)
    return root


MakeRunner = Callable[..., Runner]


@pytest.fixture
def make_runner(workspace: Path) -> MakeRunner:
    """Build a runner on the workspace, its config loaded like the CLI does."""

    def make(tasks: Mapping[str, Mapping[str, Any]] | None = None, **kwargs: Any) -> Runner:
        path = write_config(workspace, {**ALL_OFF, **(tasks or {})})
        return Runner(load_config(path), root=workspace, config_path=path, **kwargs)

    return make
