"""The runner: what cron's every-minute ``tradelib tick`` does.

A tick seeds the task table (first time only), reads the tasks and each job's
last start, asks ``due.decide_all`` which jobs are due, and runs them one after
the other (the machine has two cores; a job must not starve the next). Each run:

1. takes the job's ``flock`` (busy: record ``skipped_locked`` and move on);
2. re-checks under the lock that the job is still due (another tick may have
   run it meanwhile) and that the market is still open for a market-hours job
   (due before the close, reached after it: record ``skipped_closed``);
3. records a ``running`` row, runs the notebook with papermill into
   ``<runs>/<job>/<YYYY>/<MM>/<DD>/<job>-<UTC stamp>.ipynb`` with a timeout,
   masks any secret that leaked into that notebook, and records the end.

Before the first broker job of a trading day the tick runs the preflight; on a
no-go it holds the entry jobs (or, for a wrong account or port, every broker job),
records and alerts why, and re-checks every few minutes (``scheduler.gate``).

A failing job never stops the others; the tick itself raises only for a broken
workspace (unreadable config, unreachable lake).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tradelib.clock import Clock, WallClock
from tradelib.config import ACCOUNT_ENV, TradingConfig, load_config, resolve_config_path
from tradelib.config import workspace_root as find_workspace_root
from tradelib.errors import (
    CommitConflictError,
    SchedulerError,
    SecretInParametersError,
    UnknownJobError,
)
from tradelib.lake import Lake
from tradelib.markethours import MarketHours, require_utc
from tradelib.preflight.report import PreflightReport
from tradelib.scheduler.due import Decision, SessionCalendar, decide, decide_all
from tradelib.scheduler.execute import NotebookExecutor, Outcome, PapermillExecutor
from tradelib.scheduler.gate import (
    PREFLIGHT_JOB,
    GateVerdict,
    PreflightFn,
    crashed_report,
    day_start,
    held_jobs,
    latest_verdict,
    needs_check,
    no_go_reason,
    verdict_from_record,
)
from tradelib.scheduler.lock import JobLock
from tradelib.scheduler.runs import (
    RunRecord,
    RunStatus,
    job_state,
    last_starts,
    latest_runs,
    new_run_id,
    record_run,
    running_runs,
)
from tradelib.scheduler.tasks import (
    JobRegistry,
    Task,
    declared_parameters,
    default_tasks,
    job_parameters,
    seed_tasks,
    set_task_interval,
)
from tradelib.secrets import mask_text, registered_secrets

log = logging.getLogger(__name__)

LOCKS_DIR = "locks"


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick decided and ran."""

    now: datetime
    decisions: tuple[Decision, ...]
    runs: tuple[RunRecord, ...]
    preflight: GateVerdict | None = None  # None: no broker job was due, or no gate (sim)

    @property
    def due(self) -> list[str]:
        """Return the jobs that were due at the start of the tick."""
        return [d.job for d in self.decisions if d.due]

    def lines(self) -> list[str]:
        """Return the tick's log lines (one per run)."""
        head = f"tick {self.now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
        gate = [f"{head}: {self.preflight.line()}"] if self.preflight is not None else []
        if not self.runs:
            return [*gate, f"{head}: nothing due"]
        return [*gate, *(f"{head}: {run.summary()}" for run in self.runs)]


def open_lake(cfg: TradingConfig, root: Path) -> Lake:
    """Open the configured lake, a relative local path resolved against ``root``."""
    storage = cfg.storage
    return Lake(
        storage.resolved_uri(root),
        storage_options=storage.storage_options(),
        commit_retries=storage.commit_retries,
        expected_writers=storage.expected_writers,
        verify_conditional_put=storage.verify_conditional_put,
    )


def _run_preflight(cfg: TradingConfig, lake: Lake) -> PreflightReport:
    from tradelib.preflight import run_preflight

    return run_preflight(cfg, lake_uri=lake.root)


class Runner:
    """Decide and run the due jobs of one workspace.

    Everything with an edge is injected: the lake, the clock, the calendar, the
    job registry, the notebook executor and the preflight (default: ``run_preflight``
    against ``cfg.ib``). ``timeout_cap_s`` caps every job's timeout (tests, a fast
    demo); ``config_path`` is the file handed to the jobs.
    """

    def __init__(
        self,
        cfg: TradingConfig,
        *,
        root: Path,
        config_path: Path | None = None,
        lake: Lake | None = None,
        clock: Clock | None = None,
        hours: SessionCalendar | None = None,
        registry: JobRegistry | None = None,
        executor: NotebookExecutor | None = None,
        timeout_cap_s: float | None = None,
        preflight: PreflightFn | None = None,
    ) -> None:
        self.cfg = cfg
        self.root = root.resolve()
        self.config_path = None if config_path is None else config_path.resolve()
        self.lake = lake or open_lake(cfg, self.root)
        self.clock: Clock = clock or WallClock()
        self.hours: SessionCalendar = hours or MarketHours(cfg.scheduler.calendar)
        self.tz = ZoneInfo(cfg.scheduler.timezone)
        self.registry = registry or JobRegistry(self.root)
        self.executor: NotebookExecutor = executor or PapermillExecutor()
        self.timeout_cap_s = timeout_cap_s
        self.runs_dir = cfg.storage.resolved_runs_dir(self.root)
        self.preflight: PreflightFn = preflight or (lambda c: _run_preflight(c, self.lake))

    @classmethod
    def from_config(
        cls,
        config_path: str | Path | None = None,
        *,
        root: Path | None = None,
        clock: Clock | None = None,
        timeout_cap_s: float | None = None,
    ) -> Runner:
        """Build the runner of the workspace at ``root`` (default: found from the cwd).

        The config is ``config_path``, else $TRADELIB_CONFIG, else the workspace's.
        """
        path = resolve_config_path(config_path)
        return cls(
            load_config(path),
            root=root or find_workspace_root(),
            config_path=path,
            clock=clock,
            timeout_cap_s=timeout_cap_s,
        )

    def __repr__(self) -> str:
        return f"Runner({str(self.root)!r}, lake={self.lake!r})"

    @property
    def locks_dir(self) -> Path:
        """Return the folder of the per-job lock files."""
        return self.runs_dir / LOCKS_DIR

    # --- the schedule ------------------------------------------------------------------
    def tasks(self, now: datetime | None = None) -> list[Task]:
        """Return the task table, seeding the config's jobs the lake does not know yet."""
        stamp = require_utc(now, "now") if now is not None else self.clock.now()
        return seed_tasks(self.lake, default_tasks(self.cfg.scheduler.tasks), stamp)

    def task(self, job: str) -> Task:
        """Return the task of ``job``, or raise ``UnknownJobError``."""
        tasks = {t.job: t for t in self.tasks()}
        if job not in tasks:
            raise UnknownJobError(job=job, known=", ".join(sorted(tasks)))
        return tasks[job]

    def set_task(
        self,
        job: str,
        every_minutes: int | None = None,
        *,
        market_hours_only: bool | None = None,
        timeout_minutes: int | None = None,
        enabled: bool | None = None,
    ) -> Task:
        """Change ``job``'s schedule in the lake (the config's entry fills the gaps)."""
        self.tasks()  # seed first, so the config's values are the base, not the defaults
        return set_task_interval(
            self.lake,
            job,
            every_minutes,
            market_hours_only=market_hours_only,
            timeout_minutes=timeout_minutes,
            enabled=enabled,
            defaults=default_tasks(self.cfg.scheduler.tasks),
            now=self.clock.now(),
        )

    def decisions(self, now: datetime | None = None) -> list[Decision]:
        """Return, for every task, whether it is due at ``now`` (default: the clock's now)."""
        at = require_utc(now, "now") if now is not None else self.clock.now()
        return decide_all(self.tasks(at), last_starts(self.lake), at, self.hours, self.tz)

    def archive_path(self, job: str, started_at: datetime) -> Path:
        """Return where the executed notebook of a run starting at ``started_at`` goes."""
        ts = started_at.astimezone(UTC)
        folder = self.runs_dir / job / f"{ts:%Y}" / f"{ts:%m}" / f"{ts:%d}"
        path = folder / f"{job}-{ts:%Y%m%dT%H%M%SZ}.ipynb"
        n = 2
        while path.exists():  # two runs in the same second (a run-now after a tick)
            path = folder / f"{job}-{ts:%Y%m%dT%H%M%SZ}-{n}.ipynb"
            n += 1
        return path

    # --- running -----------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> TickReport:
        """Run every job due at ``now`` (default: the clock's now), one after the other."""
        at = require_utc(now, "now") if now is not None else self.clock.now()
        self.reap_abandoned(at)
        tasks = self.tasks(at)
        decisions = decide_all(tasks, last_starts(self.lake), at, self.hours, self.tz)
        by_job = {t.job: t for t in tasks}
        runs: list[RunRecord] = []
        gate = self.gate([d.job for d in decisions if d.due], at)
        for decision in decisions:
            if not decision.due:
                continue
            if self.in_restart_window(decision.job, at):
                log.info("scheduler: %s waits out the broker's daily restart", decision.job)
                continue  # still due: the first tick after the window runs it
            if gate is not None and gate.holds(decision.job):
                held = self._hold(decision.job, at, gate)
                if held is not None:
                    runs.append(held)
                continue
            try:
                record = self._run(by_job[decision.job], scheduled=True, fixed_now=now)
            except Exception:  # one job's broken bookkeeping must not stop the others
                log.exception("scheduler: running %s failed", decision.job)
                continue
            if record is not None:
                runs.append(record)
        return TickReport(at, tuple(decisions), tuple(runs), gate)

    def in_restart_window(self, job: str, at: datetime) -> bool:
        """True when ``job`` talks to the broker and ``at`` is near its daily restart."""
        sched = self.cfg.scheduler
        if sched.broker_restart is None or job not in sched.preflight.broker_jobs:
            return False
        local = at.astimezone(self.tz)
        at_time = datetime.strptime(sched.broker_restart, "%H:%M").time()
        restart = datetime.combine(local.date(), at_time, self.tz)
        window = timedelta(minutes=sched.broker_restart_window_minutes)
        # the restart nearest ``at`` (yesterday's or tomorrow's around midnight)
        nearest = min(
            (restart + timedelta(days=d) for d in (-1, 0, 1)), key=lambda r: abs(r - local)
        )
        return abs(local - nearest) <= window

    # --- the daily preflight ----------------------------------------------------------
    def gate(self, due: list[str], now: datetime | None = None) -> GateVerdict | None:
        """Today's preflight verdict when a broker job is ``due`` (None: no gate needed).

        Reads the day's verdict from ``job_runs``; runs the preflight when there is
        none yet today, or when the last one was a no-go older than the re-check
        interval. A fresh no-go is recorded and alerted.
        """
        at = self._now(now)
        settings = self.cfg.scheduler.preflight
        if not settings.enabled or self.cfg.ib.mode == "sim":
            return None
        if not set(due) & set(settings.broker_jobs):
            return None
        last = latest_verdict(self.lake, day_start(at, self.tz))
        if not needs_check(last, at, timedelta(minutes=settings.recheck_minutes)):
            assert last is not None
            return verdict_from_record(last, self.cfg)
        return self._check(at)

    def _check(self, at: datetime) -> GateVerdict:
        started = time.monotonic()
        try:
            report = self.preflight(self.cfg)
        except Exception as exc:  # a preflight that cannot run is a no-go, never a go
            log.exception("scheduler: the preflight raised")
            report = crashed_report(exc)
        duration = time.monotonic() - started
        failed = report.failed()
        held = frozenset() if report.go else held_jobs(self.cfg, failed)
        reason = "" if report.go else self._mask(no_go_reason(held, failed))
        record = RunRecord(new_run_id(PREFLIGHT_JOB, at), PREFLIGHT_JOB, at, RunStatus.RUNNING)
        status = RunStatus.SUCCESS if report.go else RunStatus.FAILED
        record_run(self.lake, record.finish(status, at, duration, reason or None))
        verdict = GateVerdict(report.go, at, reason, held, fresh=True, report=report)
        if not report.go:
            log.warning("scheduler: %s", verdict.line())
            from tradelib.alerts import Alerter, emit, preflight_alert

            alert = preflight_alert(failed, sorted(held), at)
            emit(alert, alerter=Alerter.from_config(self.cfg, self.lake))
        return verdict

    def _hold(self, job: str, at: datetime, gate: GateVerdict) -> RunRecord | None:
        """Record ``job`` held by ``gate`` once per verdict (not on every tick)."""
        latest = latest_runs(self.lake).get(job)
        if (
            latest is not None
            and latest.status is RunStatus.SKIPPED_NO_GO
            and latest.started_at >= gate.checked_at
        ):
            return None
        record = RunRecord(
            new_run_id(job, at),
            job,
            at,
            RunStatus.SKIPPED_NO_GO,
            finished_at=at,
            duration_s=0.0,
            error=f"held by the preflight of {gate.checked_at:%H:%M} UTC: {gate.reason}",
        )
        record_run(self.lake, record)
        return record

    def reap_abandoned(self, now: datetime | None = None) -> list[RunRecord]:
        """Mark ABANDONED every RUNNING run whose job lock nobody holds; return them.

        A run holds its job's ``flock`` from before its RUNNING row is written until
        after its end is recorded, and the kernel drops the lock when the process
        dies. So a free lock with a RUNNING row means the runner was killed: say so
        now, not at that job's next due run (a day later for maintenance).
        """
        at = self._now(now)
        reaped: list[RunRecord] = []
        for job in sorted(running_runs(self.lake)):
            try:
                lock = JobLock(self.locks_dir, job)
            except SchedulerError:  # a name that was never ours to lock
                continue
            if not lock.acquire():
                continue  # a live run holds it
            with lock:
                _, still_running = job_state(self.lake, job)  # re-read under the lock
                for stale in still_running:
                    reaped.append(self._abandon(stale, at))
        return reaped

    def _abandon(self, stale: RunRecord, at: datetime) -> RunRecord:
        found = at.astimezone(UTC)
        record = stale.finish(
            RunStatus.ABANDONED,
            max(found, stale.started_at),
            0.0,
            f"the runner stopped before recording the end (no process held the "
            f"{stale.job} lock at {found:%Y-%m-%dT%H:%M:%SZ})",
        )
        record_run(self.lake, record)
        log.warning("scheduler: %s run %s abandoned", stale.job, stale.run_id)
        self._alert(record)
        return record

    def run_job(self, job: str, now: datetime | None = None) -> RunRecord:
        """Run ``job`` now whatever its schedule, unless another run of it holds the lock."""
        record = self._run(self.task(job), scheduled=False, fixed_now=now)
        assert record is not None  # an unscheduled run always yields a record
        return record

    def _now(self, fixed_now: datetime | None) -> datetime:
        return require_utc(fixed_now, "now") if fixed_now is not None else self.clock.now()

    def _run(self, task: Task, *, scheduled: bool, fixed_now: datetime | None) -> RunRecord | None:
        at = self._now(fixed_now)
        lock = JobLock(self.locks_dir, task.job)
        if not lock.acquire():
            holder = lock.holder_pid()
            record = RunRecord(
                new_run_id(task.job, at),
                task.job,
                at,
                RunStatus.SKIPPED_LOCKED,
                finished_at=at,
                duration_s=0.0,
                error=f"another run holds {lock.path.name}"
                + (f" (pid {holder})" if holder else ""),
            )
            record_run(self.lake, record)
            return record
        with lock:
            return self._run_locked(task, at, scheduled=scheduled, fixed_now=fixed_now)

    def _run_locked(
        self, task: Task, at: datetime, *, scheduled: bool, fixed_now: datetime | None
    ) -> RunRecord | None:
        last, still_running = job_state(self.lake, task.job)
        if scheduled:
            if task.market_hours_only and self.hours.session_for(at) is None:
                record = RunRecord(
                    new_run_id(task.job, at),
                    task.job,
                    at,
                    RunStatus.SKIPPED_CLOSED,
                    finished_at=at,
                    duration_s=0.0,
                    error="due before the close, reached after it: not run after hours",
                )
                record_run(self.lake, record)
                return record
            if not decide(task, last, at, self.hours, self.tz).due:
                return None  # another tick ran it while we waited for our turn
        # we hold the lock, so nobody is running these: their runner died mid-run
        for stale in still_running:
            self._abandon(stale, at)
        return self._execute(task, at, fixed_now)

    def _execute(self, task: Task, at: datetime, fixed_now: datetime | None) -> RunRecord:
        started = time.monotonic()
        run_id = new_run_id(task.job, at)
        spec = self.registry.spec(task.job)
        output = self.archive_path(task.job, at)
        record = RunRecord(run_id, task.job, at, RunStatus.RUNNING, output_path=self._show(output))
        outcome: Outcome
        try:
            params = job_parameters(task.job, config_path=self.config_path, run_ts=at)
        except SecretInParametersError as exc:
            outcome, record = Outcome(RunStatus.FAILED, str(exc)), _no_output(record)
        else:
            if not spec.exists:
                outcome = Outcome(
                    RunStatus.FAILED, f"notebook not found: {self._show(spec.notebook)}"
                )
                record = _no_output(record)
            else:
                declared = declared_parameters(spec.notebook)
                if declared is not None:
                    params = {k: v for k, v in params.items() if k in declared}
                try:
                    record_run(self.lake, record)
                except CommitConflictError as exc:
                    # not started: better no run than one the lake cannot account for
                    return self._record_end(
                        _no_output(record).finish(
                            RunStatus.FAILED,
                            self._now(fixed_now),
                            time.monotonic() - started,
                            self._mask(f"not started, could not record the start: {exc}"),
                        )
                    )
                output.parent.mkdir(parents=True, exist_ok=True)
                outcome = self.executor(
                    spec.notebook, output, params, cwd=self.root, timeout_s=self._timeout_s(task)
                )
                self._scrub(output)
        duration = time.monotonic() - started
        if fixed_now is None:
            finished = max(self.clock.now(), at)
        else:  # a pinned time (the demo's simulated clock): end = start + the real duration
            finished = at + timedelta(seconds=duration)
        error = None if outcome.error is None else self._mask(outcome.error)
        final = self._record_end(record.finish(outcome.status, finished, duration, error))
        self._alert(final)
        return final

    def _record_end(self, final: RunRecord) -> RunRecord:
        """Record how a run ended; a commit conflict that outlasts the retries is a FAILED run.

        The lake already retried with backoff; one more try records the failure and its
        reason, so the row never stays RUNNING (the next tick reaps it if even that fails).
        """
        try:
            record_run(self.lake, final)
            return final
        except CommitConflictError as exc:
            failed = replace(
                final,
                status=RunStatus.FAILED,
                error=self._mask(f"{final.status}, but the end could not be recorded: {exc}"),
            )
        try:
            record_run(self.lake, failed)
        except CommitConflictError:
            log.exception("scheduler: could not record the end of %s", final.run_id)
        return failed

    def _alert(self, record: RunRecord) -> None:
        """Alert on a failed or timed-out run (never raises; channels have timeouts)."""
        from tradelib.alerts import Alerter, emit, job_alert

        alert = job_alert(record)
        if alert is not None:
            emit(alert, alerter=Alerter.from_config(self.cfg, self.lake))

    def _timeout_s(self, task: Task) -> float:
        limit = task.timeout_minutes * 60.0
        return limit if self.timeout_cap_s is None else min(limit, self.timeout_cap_s)

    def _show(self, path: Path) -> str:
        """Return ``path`` relative to the workspace when inside it (portable in the lake)."""
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    def _secrets(self) -> list[str]:
        account = os.environ.get(ACCOUNT_ENV, "").strip()
        return [*registered_secrets(), *([account] if account else [])]

    def _mask(self, text: str) -> str:
        return mask_text(text, self._secrets())

    def _scrub(self, output: Path) -> None:
        """Mask any secret a job printed into its archived notebook (defence in depth)."""
        if not output.is_file():
            return
        text = output.read_text(encoding="utf-8")
        masked = self._mask(text)
        if masked != text:
            log.warning("scheduler: masked a secret in %s", self._show(output))
            output.write_text(masked, encoding="utf-8")


def _no_output(record: RunRecord) -> RunRecord:
    return RunRecord(record.run_id, record.job, record.started_at, record.status)


def tick(
    now: datetime | None = None,
    *,
    config_path: str | Path | None = None,
    root: Path | None = None,
) -> TickReport:
    """Run one tick of the workspace's scheduler (what cron calls every minute)."""
    return Runner.from_config(config_path, root=root).tick(now)
