"""The ``job_runs`` table: one row per run, written when it starts and again when it ends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import polars as pl

from tradelib.lake import Lake

RUNS_TABLE = "job_runs"
MAX_ERROR_CHARS = 500


class RunStatus(StrEnum):
    """What became of a run (the ``status`` column of ``job_runs``)."""

    RUNNING = "running"  # started, not finished yet (or the runner died: see ABANDONED)
    SUCCESS = "success"
    FAILED = "failed"  # the notebook raised, or could not be started
    TIMEOUT = "timeout"  # killed after its timeout_minutes
    SKIPPED_LOCKED = "skipped_locked"  # another run of the job held its lock
    SKIPPED_CLOSED = "skipped_closed"  # due before the close, reached after it: not run
    ABANDONED = "abandoned"  # left RUNNING by a runner that died; found by the next run
    SKIPPED_NO_GO = "skipped_no_go"  # held by the day's preflight no-go (see scheduler.gate)


# statuses that mean the job really started: the schedule counts from these
STARTED = frozenset(
    {
        RunStatus.RUNNING,
        RunStatus.SUCCESS,
        RunStatus.FAILED,
        RunStatus.TIMEOUT,
        RunStatus.ABANDONED,
    }
)


def new_run_id(job: str, started_at: datetime) -> str:
    """Return a unique run id that sorts by start time: ``<job>-<UTC stamp>-<random>``."""
    return f"{job}-{started_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def first_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Return the first non-blank line of ``text``, cut to ``limit`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run of one job, as stored in ``job_runs``."""

    run_id: str
    job: str
    started_at: datetime
    status: RunStatus
    finished_at: datetime | None = None
    duration_s: float | None = None
    error: str | None = None
    output_path: str | None = None

    @property
    def ok(self) -> bool:
        """Return True for a successful run."""
        return self.status is RunStatus.SUCCESS

    def finish(
        self, status: RunStatus, finished_at: datetime, duration_s: float, error: str | None
    ) -> RunRecord:
        """Return this run ended with ``status``."""
        return replace(
            self,
            status=status,
            finished_at=finished_at,
            duration_s=round(duration_s, 3),
            error=error,
        )

    def row(self) -> dict[str, Any]:
        """Return the ``job_runs`` row."""
        return {
            "run_id": self.run_id,
            "job": self.job,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": str(self.status),
            "duration_s": self.duration_s,
            "error": self.error,
            "output_path": self.output_path,
        }

    def summary(self) -> str:
        """Return one line for the tick log: ``sync success 1.9 s -> runs/...``."""
        text = f"{self.job} {self.status}"
        if self.duration_s is not None:
            text += f" {self.duration_s:.1f} s"
        if self.error:
            text += f": {self.error}"
        if self.output_path:
            text += f" -> {self.output_path}"
        return text


def record_run(lake: Lake, record: RunRecord) -> None:
    """Insert or update ``record`` in ``job_runs`` (keyed by run id)."""
    lake.upsert(RUNS_TABLE, [record.row()])


def last_starts(lake: Lake) -> dict[str, datetime]:
    """Return, per job, the start of its latest run that really started."""
    frame = (
        lake.read(RUNS_TABLE, columns=["job", "started_at", "status"])
        .filter(pl.col("status").is_in([str(s) for s in STARTED]))
        .group_by("job")
        .agg(pl.col("started_at").max())
        .collect()
    )
    return dict(zip(frame["job"].to_list(), frame["started_at"].to_list(), strict=True))


def job_state(lake: Lake, job: str) -> tuple[datetime | None, list[RunRecord]]:
    """Return ``job``'s latest real start and its runs still marked RUNNING."""
    frame = lake.read(
        RUNS_TABLE,
        filter=(pl.col("job") == job) & pl.col("status").is_in([str(s) for s in STARTED]),
    ).collect()
    last = frame["started_at"].max() if frame.height else None
    running = [
        RunRecord(**{**row, "status": RunStatus(row["status"])})
        for row in frame.filter(pl.col("status") == str(RunStatus.RUNNING)).iter_rows(named=True)
    ]
    return (last if isinstance(last, datetime) else None), running


def running_runs(lake: Lake) -> dict[str, list[RunRecord]]:
    """Return, per job, its runs still marked RUNNING (live, or left by a dead runner)."""
    frame = lake.read(RUNS_TABLE, filter=pl.col("status") == str(RunStatus.RUNNING)).collect()
    out: dict[str, list[RunRecord]] = {}
    for row in frame.iter_rows(named=True):
        out.setdefault(row["job"], []).append(RunRecord(**{**row, "status": RunStatus.RUNNING}))
    return out


def latest_runs(lake: Lake) -> dict[str, RunRecord]:
    """Return the latest run of every job (any status), for ``schedule ls`` and dashboards."""
    frame = (
        lake.read(RUNS_TABLE)
        .sort("started_at", "run_id")
        .group_by("job", maintain_order=True)
        .last()
        .collect()
    )
    return {
        row["job"]: RunRecord(**{**row, "status": RunStatus(row["status"])})
        for row in frame.iter_rows(named=True)
    }
