"""What a replay needs from the lake: each day's market tape and its starting checkpoint.

The tape (``market_tape``) holds every answer the simulated market gave the
day's jobs; the checkpoint (``replay_checkpoints``) holds the simulated account
at the day's start, the Delta version of every table before and after the
day's jobs, the job slots as they ran and the config they ran with. Together
they let ``tradelib backtest --source lake --day D`` run the same jobs again
and compare what they decide with what the lake recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl

from tradelib.errors import TradelibError
from tradelib.lake import TABLES, Lake, TableName

__all__ = [
    "REPLAY_TABLES",
    "Checkpoint",
    "ReplayDataError",
    "finish_checkpoint",
    "read_checkpoint",
    "read_tape",
    "replayable_days",
    "table_versions",
    "write_checkpoint",
    "write_tape",
]

# The replay's own records are not part of the state a day starts from.
REPLAY_TABLES = frozenset({str(TableName.MARKET_TAPE), str(TableName.REPLAY_CHECKPOINTS)})


class ReplayDataError(TradelibError):
    template = "replay of {day} from {lake}: {problem}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A replayable day as the lake recorded it."""

    day: date
    ts: datetime
    broker_state: bytes
    start_versions: dict[str, int]
    end_versions: dict[str, int] | None
    slots: list[tuple[str, datetime]]
    config_json: str


def table_versions(lake: Lake) -> dict[str, int]:
    """The current Delta version of every table the lake holds (the replay's own excluded)."""
    out: dict[str, int] = {}
    for name in TABLES:
        if name in REPLAY_TABLES:
            continue
        version = lake.version(name)
        if version is not None:
            out[name] = version
    return out


def write_tape(lake: Lake, day: date, tape: pl.DataFrame) -> int:
    """Append ``tape`` (key, ts, method, value) as answers given on ``day``; rows written."""
    if tape.is_empty():
        return 0
    return lake.append(TableName.MARKET_TAPE, tape.with_columns(pl.lit(day).alias("day")))


def read_tape(lake: Lake, day: date) -> pl.DataFrame:
    """Every answer recorded for ``day`` (a key asked in several sessions kept once)."""
    if not lake.exists(TableName.MARKET_TAPE):
        return TABLES[TableName.MARKET_TAPE].empty()
    frame = lake.read(TableName.MARKET_TAPE, filter=pl.col("day") == day).collect()
    return frame.unique("key", keep="first", maintain_order=True)


def write_checkpoint(
    lake: Lake,
    day: date,
    *,
    ts: datetime,
    broker_state: bytes,
    slots: list[tuple[str, datetime]],
    config_json: str,
) -> None:
    """Record ``day``'s start: the account, the lake's versions now, the slots to run."""
    row = {
        "day": day,
        "ts": ts,
        "created_at": datetime.now(UTC),
        "broker_state": broker_state,
        "start_versions_json": json.dumps(table_versions(lake), sort_keys=True),
        "end_versions_json": None,
        "slots_json": json.dumps([[job, at.isoformat()] for job, at in slots]),
        "config_json": config_json,
    }
    lake.upsert(TableName.REPLAY_CHECKPOINTS, [row])


def finish_checkpoint(lake: Lake, day: date) -> None:
    """Record the lake's versions once ``day``'s jobs are done (what the replay compares with)."""
    frame = lake.read(TableName.REPLAY_CHECKPOINTS, filter=pl.col("day") == day).collect()
    if frame.is_empty():
        raise ReplayDataError(day=day, lake=lake.root, problem="no checkpoint to finish")
    row = frame.row(0, named=True)
    row["end_versions_json"] = json.dumps(table_versions(lake), sort_keys=True)
    lake.upsert(TableName.REPLAY_CHECKPOINTS, [row])


def replayable_days(lake: Lake) -> list[date]:
    """The days with a finished checkpoint, oldest first."""
    if not lake.exists(TableName.REPLAY_CHECKPOINTS):
        return []
    frame = (
        lake.read(TableName.REPLAY_CHECKPOINTS, columns=["day", "end_versions_json"])
        .filter(pl.col("end_versions_json").is_not_null())
        .collect()
    )
    return sorted(frame["day"].to_list())


def read_checkpoint(lake: Lake, day: date) -> Checkpoint:
    """``day``'s checkpoint; ``ReplayDataError`` naming the replayable days if there is none."""
    days = replayable_days(lake)
    if day not in days:
        known = (
            ", ".join(str(d) for d in days)
            or "none (a replayable day is recorded by a job day run through the scheduler in simulation, e.g. the demo's last day)"
        )
        raise ReplayDataError(
            day=day, lake=lake.root, problem=f"no finished checkpoint; replayable days: {known}"
        )
    row = (
        lake.read(TableName.REPLAY_CHECKPOINTS, filter=pl.col("day") == day)
        .collect()
        .row(0, named=True)
    )
    return Checkpoint(
        day=row["day"],
        ts=row["ts"],
        broker_state=row["broker_state"],
        start_versions=json.loads(row["start_versions_json"]),
        end_versions=json.loads(row["end_versions_json"]),
        slots=[(job, datetime.fromisoformat(at)) for job, at in json.loads(row["slots_json"])],
        config_json=row["config_json"],
    )
