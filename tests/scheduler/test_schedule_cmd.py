"""The CLI: `tradelib schedule set/ls/run/install` and `tradelib tick`, through Typer's runner."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tradelib.cli.schedule_cmd import app, tick
from tradelib.config import load_config
from tradelib.lake import Lake
from tradelib.scheduler import JobLock, read_tasks
from tradelib.scheduler.runner import open_lake

from .conftest import ALL_OFF, write_config, write_notebook

cli = CliRunner()
TEMPLATE = Path(__file__).parents[2] / "scheduled" / "crontab"

FAKE_CRONTAB = """#!/bin/sh
# a stand-in for crontab(1) keeping the "user's crontab" in $FAKE_CRONTAB_FILE
case "$1" in
  -l) if [ -f "$FAKE_CRONTAB_FILE" ]; then cat "$FAKE_CRONTAB_FILE"; else echo "no crontab for tester" >&2; exit 1; fi ;;
  -) cat > "$FAKE_CRONTAB_FILE" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def in_workspace(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run commands from inside the workspace, as cron does."""
    monkeypatch.chdir(workspace)
    return workspace


@pytest.fixture
def fake_crontab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a fake `crontab` first on PATH; return the file holding the user's crontab."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "crontab"
    script.write_text(FAKE_CRONTAB)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    store = tmp_path / "user-crontab"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CRONTAB_FILE", str(store))
    return store


def test_set_changes_the_interval_in_the_lake_and_ls_shows_it(in_workspace: Path) -> None:
    result = cli.invoke(app, ["set", "sync", "15", "--any-time", "--timeout", "3", "--enable"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sync: every 15 min, any time, timeout 3 min, enabled")
    assert "notebooks/sync.ipynb does not exist yet" in result.output

    listing = cli.invoke(app, ["ls"])
    assert listing.exit_code == 0, listing.output
    lines = {line.split()[0]: line for line in listing.output.splitlines()[1:]}
    assert sorted(lines) == [
        "daily_report",
        "entry",
        "maintenance",
        "monitoring",
        "sync",
        "variance",
    ]
    assert lines["sync"].split()[:7] == ["sync", "15", "min", "any", "3", "min", "yes"]
    assert lines["entry"].split()[1:7] == ["30", "min", "market", "10", "min", "no"]

    assert cli.invoke(app, ["set", "sync", "20", "--disable"]).exit_code == 0
    (sync,) = [t for t in read_tasks(open_lake_of(in_workspace)) if t.job == "sync"]
    assert (sync.every_minutes, sync.market_hours_only, sync.enabled) == (20, False, False)


def open_lake_of(root: Path) -> Lake:
    return open_lake(load_config(root / "config" / "trading_config.yaml"), root)


def test_set_refuses_a_zero_interval_and_a_bad_name(in_workspace: Path) -> None:
    assert cli.invoke(app, ["set", "sync", "0"]).exit_code == 2
    bad = cli.invoke(app, ["set", "../x", "5"])
    assert bad.exit_code != 0
    assert "invalid job name" in bad.output


def test_run_runs_a_job_now_and_fails_when_it_is_locked(in_workspace: Path) -> None:
    write_notebook(in_workspace / "notebooks" / "variance.ipynb", "print('ok')")
    done = cli.invoke(app, ["run", "variance"])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("variance success")
    assert "-> runs/variance/" in done.output

    with JobLock(in_workspace / "runs" / "locks", "variance") as held:
        assert held.acquire()
        locked = cli.invoke(app, ["run", "variance"])
    assert locked.exit_code == 1
    assert "variance skipped_locked" in locked.output


def test_tick_reports_nothing_due_outside_market_hours(in_workspace: Path) -> None:
    write_config(in_workspace, {**ALL_OFF, "sync": {"enabled": True}})
    tick_app = typer.Typer()
    tick_app.command()(tick)
    result = cli.invoke(tick_app, ["--at", "2026-11-26T15:00:00Z"])  # Thanksgiving
    assert result.exit_code == 0, result.output
    assert result.output == "tick 2026-11-26T15:00:00Z: nothing due\n"
    assert cli.invoke(tick_app, ["--at", "2026-11-26T15:00"]).exit_code == 2


def test_install_dry_run_shows_the_resolved_path_and_touches_nothing(
    in_workspace: Path, fake_crontab: Path
) -> None:
    (in_workspace / "scheduled").mkdir()
    (in_workspace / "scheduled" / "crontab").write_text(TEMPLATE.read_text())
    theirs = "# my jobs\n0 3 * * * /usr/local/bin/backup\n"
    fake_crontab.write_text(theirs)

    result = cli.invoke(app, ["install", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith(theirs)
    assert (
        f"* * * * * cd {in_workspace} && mkdir -p runs && .venv/bin/tradelib tick" in result.output
    )
    assert "__TRADELIB_HOME__" not in result.output
    assert fake_crontab.read_text() == theirs


def test_install_writes_the_crontab_once_however_often_it_runs(
    in_workspace: Path, fake_crontab: Path
) -> None:
    (in_workspace / "scheduled").mkdir()
    (in_workspace / "scheduled" / "crontab").write_text(TEMPLATE.read_text())
    assert not fake_crontab.exists()  # the user has no crontab yet

    for _ in range(2):
        result = cli.invoke(app, ["install"])
        assert result.exit_code == 0, result.output
    installed = fake_crontab.read_text()
    assert installed.count("tradelib tick") == 1
    assert installed.count(f"cd {in_workspace} &&") == 2  # the tick and the commented collector
