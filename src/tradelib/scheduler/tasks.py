"""The task table: how often each job runs, kept in the lake and editable at runtime.

The config's ``scheduler.tasks`` is only the seed: the first tick copies every job
the lake does not know yet into ``scheduler_tasks``; from then on the lake row
wins, so ``tradelib schedule set`` (or ``set_task_interval`` from a notebook)
changes the schedule without touching the config file or restarting anything.

The job registry maps a job name to its papermill notebook (``notebooks/<job>.ipynb``)
and builds its parameters, which are written into the archived notebook and so
must never carry a secret.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradelib.config import SchedulerConfig, TaskSchedule
from tradelib.config.base import JobName
from tradelib.errors import SchedulerError, SecretInParametersError, UnknownJobError
from tradelib.lake import Lake
from tradelib.secrets import ACCOUNT_PATTERN, registered_secrets

TASKS_TABLE = "scheduler_tasks"
NOTEBOOKS_DIR = "notebooks"
# a job name becomes a file name and a lock name: keep it to a safe alphabet
_JOB_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def check_job_name(job: str) -> str:
    """Return ``job`` if it is a valid job name (lowercase, digits, ``_``, ``-``)."""
    if not _JOB_NAME.fullmatch(job):
        raise SchedulerError(f"invalid job name {job!r}: use lowercase letters, digits, '_' or '-'")
    return job


@dataclass(frozen=True, slots=True)
class Task:
    """One row of ``scheduler_tasks``: a job and its schedule."""

    job: str
    every_minutes: int
    market_hours_only: bool
    timeout_minutes: int
    enabled: bool = True
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        check_job_name(self.job)
        if self.every_minutes <= 0:
            raise SchedulerError(f"{self.job}: every_minutes must be > 0, got {self.every_minutes}")
        if self.timeout_minutes <= 0:
            raise SchedulerError(
                f"{self.job}: timeout_minutes must be > 0, got {self.timeout_minutes}"
            )

    @classmethod
    def from_schedule(cls, job: str, schedule: TaskSchedule) -> Task:
        """Build the task for ``job`` from its config entry."""
        return cls(
            job=job,
            every_minutes=schedule.every_minutes,
            market_hours_only=schedule.market_hours_only,
            timeout_minutes=schedule.timeout_minutes,
            enabled=schedule.enabled,
        )

    def row(self, updated_at: datetime) -> dict[str, Any]:
        """Return the lake row for this task, stamped ``updated_at``."""
        return {
            "job": self.job,
            "every_minutes": self.every_minutes,
            "market_hours_only": self.market_hours_only,
            "timeout_minutes": self.timeout_minutes,
            "enabled": self.enabled,
            "updated_at": updated_at,
        }


def default_tasks(
    schedules: Mapping[JobName, TaskSchedule] | Mapping[str, TaskSchedule],
) -> list[Task]:
    """Return the seed tasks from the config's ``scheduler.tasks``, in config order."""
    return [Task.from_schedule(job, schedule) for job, schedule in schedules.items()]


def read_tasks(lake: Lake) -> list[Task]:
    """Return the tasks stored in the lake, sorted by job name (empty before the first seed)."""
    frame = lake.read(TASKS_TABLE).sort("job").collect()
    return [Task(**row) for row in frame.iter_rows(named=True)]


def seed_tasks(lake: Lake, defaults: Iterable[Task], now: datetime) -> list[Task]:
    """Write the ``defaults`` the lake does not hold yet; return every stored task.

    Rows already in the lake are never overwritten: they may have been edited at runtime.
    """
    stored = {task.job: task for task in read_tasks(lake)}
    missing = [task for task in defaults if task.job not in stored]
    if missing:
        lake.upsert(TASKS_TABLE, [task.row(now) for task in missing])
        stored.update({task.job: replace(task, updated_at=now) for task in missing})
    return [stored[job] for job in sorted(stored)]


def set_task_interval(
    lake: Lake,
    job: str,
    every_minutes: int | None = None,
    *,
    market_hours_only: bool | None = None,
    timeout_minutes: int | None = None,
    enabled: bool | None = None,
    defaults: Iterable[Task] | None = None,
    now: datetime | None = None,
) -> Task:
    """Change a job's schedule in the lake; return the stored task.

    Fields left as None keep their current value (the lake row, else the job's
    entry in ``defaults``, by default the package's default schedule). A job in neither needs ``every_minutes``; it then
    runs inside market hours with a 10-minute timeout unless told otherwise.
    Takes effect at the next tick.
    """
    check_job_name(job)
    stamp = now or datetime.now(UTC)
    if defaults is None:
        defaults = default_tasks(SchedulerConfig().tasks)
    current = {t.job: t for t in defaults} | {t.job: t for t in read_tasks(lake)}
    base = current.get(job)
    if base is None:
        if every_minutes is None:
            raise UnknownJobError(job=job, known=", ".join(sorted(current)) or "none")
        base = Task.from_schedule(job, TaskSchedule(every_minutes=every_minutes))
    task = Task(
        job=job,
        every_minutes=base.every_minutes if every_minutes is None else every_minutes,
        market_hours_only=(
            base.market_hours_only if market_hours_only is None else market_hours_only
        ),
        timeout_minutes=base.timeout_minutes if timeout_minutes is None else timeout_minutes,
        enabled=base.enabled if enabled is None else enabled,
        updated_at=stamp,
    )
    lake.upsert(TASKS_TABLE, [task.row(stamp)])
    return task


# --- the job registry ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JobSpec:
    """How to run one job: its notebook, relative to the workspace root."""

    name: str
    notebook: Path  # absolute

    @property
    def exists(self) -> bool:
        """Return whether the notebook is there to run."""
        return self.notebook.is_file()


class JobRegistry:
    """Map job names to notebooks: ``<root>/notebooks/<job>.ipynb`` by convention.

    ``overrides`` points a job at another notebook (tests, a custom job).
    """

    def __init__(self, root: Path, overrides: Mapping[str, Path] | None = None) -> None:
        self.root = root
        self._overrides = {check_job_name(k): Path(v) for k, v in (overrides or {}).items()}

    def __repr__(self) -> str:
        return f"JobRegistry({str(self.root)!r})"

    def spec(self, job: str) -> JobSpec:
        """Return the spec of ``job`` (the notebook may not exist yet)."""
        check_job_name(job)
        path = self._overrides.get(job) or self.root / NOTEBOOKS_DIR / f"{job}.ipynb"
        return JobSpec(job, path if path.is_absolute() else self.root / path)


def job_parameters(job: str, *, config_path: Path | None, run_ts: datetime) -> dict[str, str]:
    """Return the papermill parameters offered to a run: the config file and the run's time.

    ``config_path`` is "" when there is no file (the job then finds its own);
    ``run_ts`` and its alias ``now`` are the tick's time in ISO 8601 UTC, so a job
    driven by a simulated clock computes at the simulated time. Nothing else, on
    purpose: parameters are written into the archived notebook, so anything
    secret (the account, credentials) reaches the job through the environment.
    Raises ``SecretInParametersError`` if a value looks secret.
    """
    stamp = run_ts.astimezone(UTC).isoformat()
    params = {
        "config_path": "" if config_path is None else str(config_path),
        "run_ts": stamp,
        "now": stamp,
    }
    check_no_secrets(job, params)
    return params


def declared_parameters(notebook: Path) -> frozenset[str] | None:
    """Return the names assigned in ``notebook``'s ``parameters`` cell (None: no such cell).

    The runner passes a notebook only the parameters it declares, so a job that
    does not take ``run_ts`` gets no papermill "unknown parameter" warning.
    """
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    for cell in cells:
        if cell.get("cell_type") != "code" or "parameters" not in cell.get("metadata", {}).get(
            "tags", []
        ):
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except SyntaxError:
            return None
        names: set[str] = set()
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        return frozenset(names)
    return None


def check_no_secrets(job: str, params: Mapping[str, object]) -> None:
    """Raise ``SecretInParametersError`` if a parameter holds a registered secret or an account id."""
    secrets = [s for s in registered_secrets() if s]
    for name, value in params.items():
        text = str(value)
        if ACCOUNT_PATTERN.search(text) or any(secret in text for secret in secrets):
            raise SecretInParametersError(job=job, name=name)
