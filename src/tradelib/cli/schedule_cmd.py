"""`tradelib schedule ...` (set, ls, install, run) and `tradelib tick`, the command cron calls.

The workspace is the folder holding ``config/trading_config.yaml`` above the
current directory (cron ``cd``s into the checkout first); the config is
``--config``, else $TRADELIB_CONFIG, else the workspace's.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradelib.cli.params import MAX_TASK_MINUTES, check_job, parse_utc_time

if TYPE_CHECKING:
    from tradelib.scheduler import Runner

app = typer.Typer(
    help="The job schedule: intervals (kept in the lake), manual runs, the crontab.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="trading_config.yaml (default: $TRADELIB_CONFIG or the workspace's).",
        dir_okay=False,
    ),
]


def _runner(config: Path | None) -> Runner:
    # imported here so `tradelib --help` does not pay for the lake and the calendar
    from tradelib.scheduler import Runner

    return Runner.from_config(config)


def _when(ts: datetime | None, runner: Runner) -> str:
    return "-" if ts is None else ts.astimezone(runner.tz).strftime("%Y-%m-%d %H:%M %Z")


def _parse_at(text: str) -> datetime:
    if not re.search(r"(Z|[+-]\d\d:?\d\d)$", text.strip()):
        raise typer.BadParameter("give a time zone, e.g. 2026-11-27T15:00Z", param_hint="--at")
    ts = parse_utc_time(text)
    assert ts is not None
    return ts


def _known_job(runner: Runner, job: str) -> None:
    """Refuse a job that is neither scheduled nor has a notebook: it would fail every run."""
    scheduled = {t.job for t in runner.tasks()}
    if job not in scheduled and not runner.registry.spec(job).exists:
        raise typer.BadParameter(
            f"unknown job {job!r}: not scheduled and no notebooks/{job}.ipynb "
            f"(known: {', '.join(sorted(scheduled))})",
            param_hint="JOB",
        )


@app.command("set")
def set_(
    job: Annotated[
        str,
        typer.Argument(
            help="Job name (sync, entry, monitoring, variance, ...).", callback=check_job
        ),
    ],
    every: Annotated[
        int, typer.Argument(min=1, max=MAX_TASK_MINUTES, help="Run every EVERY minutes.")
    ],
    market_hours: Annotated[
        bool | None,
        typer.Option(
            "--market-hours/--any-time",
            help="Run only while the exchange is open, or at any time (default: unchanged).",
        ),
    ] = None,
    timeout: Annotated[
        int | None,
        typer.Option("--timeout", min=1, max=MAX_TASK_MINUTES, help="Kill a run after M minutes."),
    ] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Turn the job on or off.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Change how often JOB runs (takes effect at the next tick)."""
    runner = _runner(config)
    _known_job(runner, job)
    task = runner.set_task(
        job, every, market_hours_only=market_hours, timeout_minutes=timeout, enabled=enabled
    )
    hours = "market hours" if task.market_hours_only else "any time"
    state = "enabled" if task.enabled else "disabled"
    typer.echo(
        f"{task.job}: every {task.every_minutes} min, {hours}, "
        f"timeout {task.timeout_minutes} min, {state}"
    )
    if not runner.registry.spec(job).exists:
        typer.echo(
            f"warning: {runner.registry.spec(job).notebook} does not exist yet; "
            "its runs will fail until it does",
            err=True,
        )


@app.command("ls")
def ls(config: ConfigOption = None) -> None:
    """List the jobs: schedule, last run and when each is next due."""
    from tradelib.scheduler import latest_runs

    runner = _runner(config)
    decisions = {d.job: d for d in runner.decisions()}
    latest = latest_runs(runner.lake)
    typer.echo(
        f"{'job':<12} {'every':>7} {'hours':<7} {'timeout':>7} {'on':<3} "
        f"{'last run':<21} {'status':<14} {'took':>7}  next"
    )
    for task in runner.tasks():
        last = latest.get(task.job)
        decision = decisions[task.job]
        nxt = "now" if decision.due else _when(decision.next_at, runner)
        took = "-" if last is None or last.duration_s is None else f"{last.duration_s:.1f}s"
        typer.echo(
            f"{task.job:<12} {task.every_minutes:>4} min "
            f"{'market' if task.market_hours_only else 'any':<7} "
            f"{task.timeout_minutes:>3} min {'yes' if task.enabled else 'no':<3} "
            f"{_when(last.started_at if last else None, runner):<21} "
            f"{str(last.status) if last else '-':<14} {took:>7}  {nxt}"
        )


@app.command("run")
def run(
    job: Annotated[str, typer.Argument(help="The job to run now.", callback=check_job)],
    config: ConfigOption = None,
) -> None:
    """Run JOB now, whatever its schedule (but never alongside another run of it)."""
    from tradelib.scheduler import RunStatus

    record = _runner(config).run_job(job)
    typer.echo(record.summary())
    if record.status is not RunStatus.SUCCESS:
        raise typer.Exit(1)


@app.command("install")
def install(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the resulting crontab; change nothing.")
    ] = False,
) -> None:
    """Write scheduled/crontab into your crontab (other entries kept; safe to repeat)."""
    from tradelib.config import workspace_root
    from tradelib.scheduler.cron import install_crontab

    home = workspace_root()
    merged = install_crontab(home, dry_run=dry_run)
    if dry_run:
        typer.echo(merged, nl=False)
    else:
        typer.echo(f"installed the tradelib scheduler for {home} into your crontab")


def tick(
    config: ConfigOption = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Pretend it is this time (ISO 8601 with zone); for testing."),
    ] = None,
) -> None:
    """Run the jobs that are due now (cron calls this every minute)."""
    report = _runner(config).tick(None if at is None else _parse_at(at))
    for line in report.lines():
        typer.echo(line)
