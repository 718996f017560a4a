"""Replay a recorded day from the lake: the same jobs over what the market showed them.

A day the scheduler ran in simulation (the demo's last day, for one) leaves in
the lake a checkpoint (the simulated account and every table's Delta version at
the day's start, the job slots, the config) and a market tape (every answer
the market gave the jobs). ``replay_day`` rebuilds the lake as it was at the
day's start (Delta time travel into a lake in memory), runs the day's jobs
again, in the same order and at the same market times, through the same
session boundaries the job processes had, over a ``TapeSource`` that answers
only what the day recorded, and compares what they decided with what the lake
holds after the live day: strategies, orders, fills, decisions and
predictions, value for value (``tradelib.book.compare``).

Parity is the proof that what is backtested is what runs: any difference (or a
question the tape cannot answer) names the first place replay and live parted.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tradelib import alerts
from tradelib.backtest.tape import TapeMissError, TapeSource, entries_from_frame
from tradelib.book.compare import COMPARED, LakeComparison, compare_lakes
from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import SimState, sim_session
from tradelib.config import TradingConfig
from tradelib.errors import TradelibError
from tradelib.jobs.context import JobContext, LakeContext
from tradelib.jobs.entry import run_entry
from tradelib.jobs.monitoring import run_monitoring
from tradelib.jobs.snapshot import record_account, record_positions
from tradelib.jobs.sync import run_sync
from tradelib.jobs.variance import run_variance
from tradelib.lake import Lake
from tradelib.lake.memory import MemoryLake
from tradelib.stores.replay import REPLAY_TABLES, Checkpoint, read_checkpoint, read_tape

__all__ = ["ReplayError", "ReplayResult", "replay_day"]

Progress = Callable[[str], None]
_BROKER_JOBS: dict[str, Callable[[JobContext], object]] = {
    "sync": run_sync,
    "entry": run_entry,
    "monitoring": run_monitoring,
}


class ReplayError(TradelibError):
    template = "replay of {day}: {problem}"


@dataclass(slots=True)
class ReplayResult:
    """What replaying one day did, and how it compares with what the live day did."""

    day: date
    lake_uri: str
    jobs: list[str] = field(default_factory=list)
    tape_answers: int = 0
    answers_asked: int = 0
    day_rows: dict[str, int] = field(default_factory=dict)  # live rows of the day per table
    comparison: LakeComparison | None = None
    wall_s: float = 0.0

    @property
    def parity(self) -> bool:
        """True when every compared table is identical, value for value."""
        return self.comparison is not None and self.comparison.same

    def lines(self) -> list[str]:
        verdict = "100% parity" if self.parity else "NO PARITY"
        out = [
            f"replay of {self.day} from {self.lake_uri}: {verdict}",
            f"  jobs replayed: {len(self.jobs)} ({', '.join(self.jobs)})",
            f"  market answers: {self.answers_asked:,} asked of {self.tape_answers:,} recorded",
            "  the live day's rows: "
            + ", ".join(f"{t} {n}" for t, n in sorted(self.day_rows.items())),
        ]
        if self.comparison is not None:
            out.extend(f"  {line}" for line in self.comparison.lines()[1:])
        out.append(f"  finished in {self.wall_s:.1f}s")
        return out


def _lake_at(
    lake: Lake, versions: dict[str, int], name: str, tables: list[str] | None = None
) -> MemoryLake:
    """A lake in memory holding ``lake``'s tables as they were at ``versions``."""
    out = MemoryLake(name)
    for table, version in sorted(versions.items()):
        if table in REPLAY_TABLES or (tables is not None and table not in tables):
            continue
        frame = lake.read_version(table, version).collect()
        if frame.height:
            out.append(table, frame)
    return out


def _day_rows(live: MemoryLake, start: MemoryLake) -> dict[str, int]:
    rows = {}
    for table in COMPARED:
        name = str(table)
        after = live.frame(name).height if live.exists(name) else 0
        before = start.frame(name).height if start.exists(name) else 0
        rows[name] = after - before
    return rows


def replay_day(
    lake: Lake,
    day: date,
    *,
    cfg: TradingConfig | None = None,
    progress: Progress | None = None,
) -> ReplayResult:
    """Replay ``day`` from ``lake`` (its checkpoint and tape) and compare with the live day.

    ``cfg`` defaults to the config the day ran with (stored in the checkpoint).
    Raise ``ReplayDataError`` when the day has no finished checkpoint (naming the
    days that have one) and ``ReplayError`` when the tape cannot answer a question.
    """
    started = time.perf_counter()
    checkpoint = read_checkpoint(lake, day)
    cfg = cfg or TradingConfig.model_validate_json(checkpoint.config_json)
    # a replay never sends an alert: what it would raise stays in its own lake
    cfg = cfg.model_copy(update={"alerts": cfg.alerts.model_copy(update={"enabled": False})})
    result = ReplayResult(day, str(lake.root))
    state = pickle.loads(checkpoint.broker_state)  # the lake's own checkpoint
    if not isinstance(state, SimState):
        raise ReplayError(day=day, problem="the checkpoint holds no simulated account")
    tape_rows = read_tape(lake, day)
    if tape_rows.is_empty():
        raise ReplayError(day=day, problem="the lake holds no market tape for it")
    tape = TapeSource(entries_from_frame(tape_rows), start=state.market_now)
    tape.config = state.market_config  # saved with the account between sessions, as live
    result.tape_answers = tape.entries
    work = _lake_at(lake, checkpoint.start_versions, f"replay-{day}")
    start_copy = _lake_at(lake, checkpoint.start_versions, "start", [str(t) for t in COMPARED])
    previous = alerts.install(alerts.Alerter.from_config(cfg, work))
    try:
        with tempfile.TemporaryDirectory(prefix="tradelib-replay-") as tmp:
            path = Path(tmp) / "broker.pkl"
            path.write_bytes(checkpoint.broker_state)
            _run_slots(cfg, checkpoint, tape, work, path, result, progress)
    except TapeMissError as exc:
        raise ReplayError(day=day, problem=str(exc)) from None
    finally:
        alerts.install(previous)
    if checkpoint.end_versions is None:
        raise ReplayError(day=day, problem="the live day never finished")
    live = _lake_at(lake, checkpoint.end_versions, f"live-{day}", [str(t) for t in COMPARED])
    result.answers_asked = tape.asked
    result.day_rows = _day_rows(live, start_copy)
    result.comparison = compare_lakes(live, work)
    result.wall_s = time.perf_counter() - started
    return result


def _no_broker() -> SimBroker:
    raise ReplayError(day="?", problem="the checkpoint's account file is missing")


def _run_slots(
    cfg: TradingConfig,
    checkpoint: Checkpoint,
    tape: TapeSource,
    work: MemoryLake,
    path: Path,
    result: ReplayResult,
    progress: Progress | None,
) -> None:
    """Each slot through the sessions the live day had: move time, run the job, snapshot."""
    hours = tape.hours
    for job, at in checkpoint.slots:
        with sim_session(path, _no_broker, advance_to=at, market=tape):
            pass  # the market moves to the job's time, fills and expiries on the way
        if job == "variance":
            run_variance(LakeContext.at_time(cfg, work, at))
        elif job in _BROKER_JOBS:
            with sim_session(path, _no_broker, market=tape) as broker:
                _BROKER_JOBS[job](JobContext.of(broker, work, cfg, hours))
        else:
            raise ReplayError(day=checkpoint.day, problem=f"unknown job {job!r} in the slots")
        with sim_session(path, _no_broker, market=tape) as sim:
            record_account(sim, work)
            record_positions(sim, work, sim.now())
        result.jobs.append(job)
        if progress is not None:
            progress(f"  {at:%H:%M} UTC  {job:<10} replayed")
