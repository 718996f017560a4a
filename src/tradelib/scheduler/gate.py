"""The daily preflight gate: no go, no new entries.

Before the first broker job of a trading day (``scheduler.preflight.broker_jobs``)
the runner runs the preflight. Its verdict is a ``job_runs`` row of the job
``preflight`` (``success`` = go, ``failed`` = no-go with the failed checks), so
every tick and every process sees it:

* go: the day's broker jobs run; the preflight is not run again that day;
* no-go: ``entry_jobs`` are held (a ``skipped_no_go`` row with the reason, one per
  verdict, not one per tick), an alert ``preflight_failed`` is raised, and the
  preflight runs again at most every ``recheck_minutes``. Exits (monitoring) and
  sync still run, as under the circuit breaker: a careful trader wants a stop
  loss honoured on a day new risk is refused. When the failure is the session
  itself (``mode``: a paper config on a live port; ``account``: not the account
  the config names), every broker job is held: even a closing order would go to
  the wrong account.

``ib.mode: sim`` has nothing to check: no gate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from tradelib.config import TradingConfig
from tradelib.lake import Lake
from tradelib.preflight import Check, CheckStatus, PreflightReport
from tradelib.scheduler.runs import RUNS_TABLE, RunRecord, RunStatus

PREFLIGHT_JOB = "preflight"
# checks whose failure means the session is the wrong one: hold every broker job
SESSION_CHECKS = frozenset({"mode", "account"})
_HOLD = re.compile(r"^no-go \[hold: ([a-z0-9_,-]*)\]")

PreflightFn = Callable[[TradingConfig], PreflightReport]


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """Today's preflight verdict: go, or the jobs it holds and why."""

    go: bool
    checked_at: datetime
    reason: str  # "" on a go
    held: frozenset[str]
    fresh: bool  # the preflight ran in this tick (else: read from an earlier one)
    report: PreflightReport | None = None  # only when fresh

    def holds(self, job: str) -> bool:
        return not self.go and job in self.held

    def line(self) -> str:
        """One line for the tick log."""
        when = "ran" if self.fresh else f"from {self.checked_at:%H:%M} UTC"
        if self.go:
            return f"preflight GO ({when})"
        return f"preflight NO-GO ({when}): {self.reason}"


def held_jobs(cfg: TradingConfig, failed: list[Check]) -> frozenset[str]:
    """The jobs a no-go with these failed checks holds."""
    gate = cfg.scheduler.preflight
    if SESSION_CHECKS & {c.name for c in failed}:
        return frozenset(gate.broker_jobs)
    return frozenset(gate.entry_jobs)


def no_go_reason(held: frozenset[str], failed: list[Check]) -> str:
    """The ``error`` text of a no-go row: what is held, then each failed check."""
    checks = "; ".join(f"{c.name}: {c.detail}" for c in failed)
    return f"no-go [hold: {','.join(sorted(held))}] {checks}"


def latest_verdict(lake: Lake, day_start: datetime) -> RunRecord | None:
    """The newest preflight row since ``day_start`` (None: not run yet today)."""
    frame = (
        lake.read(
            RUNS_TABLE,
            filter=(pl.col("job") == PREFLIGHT_JOB) & (pl.col("started_at") >= day_start),
        )
        .sort("started_at")
        .tail(1)
        .collect()
    )
    if frame.height == 0:
        return None
    row = frame.row(0, named=True)
    return RunRecord(**{**row, "status": RunStatus(row["status"])})


def verdict_from_record(record: RunRecord, cfg: TradingConfig) -> GateVerdict:
    """Rebuild a verdict from its ``job_runs`` row."""
    if record.status is RunStatus.SUCCESS:
        return GateVerdict(True, record.started_at, "", frozenset(), fresh=False)
    reason = record.error or "no-go"
    match = _HOLD.match(reason)
    held = (
        frozenset(j for j in match.group(1).split(",") if j)
        if match
        else frozenset(cfg.scheduler.preflight.entry_jobs)
    )
    return GateVerdict(False, record.started_at, reason, held, fresh=False)


def day_start(at: datetime, tz: ZoneInfo) -> datetime:
    """Midnight of ``at``'s day in the scheduler's time zone, as UTC."""
    local = at.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def needs_check(record: RunRecord | None, at: datetime, recheck: timedelta) -> bool:
    """Run the preflight now? Not yet today, or a no-go older than ``recheck``."""
    if record is None:
        return True
    return record.status is not RunStatus.SUCCESS and at - record.started_at >= recheck


def crashed_report(exc: BaseException) -> PreflightReport:
    """A preflight that raised is a no-go naming the error (never a silent go)."""
    return PreflightReport(
        (
            Check(
                "preflight",
                CheckStatus.FAIL,
                f"the preflight itself failed: {type(exc).__name__}: {exc}",
                "run `tradelib preflight` by hand to see what breaks",
            ),
        )
    )
