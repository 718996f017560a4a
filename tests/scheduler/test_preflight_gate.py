"""The daily preflight gate: against the simulated gateway, a no-go holds entries, alerts, re-checks.

Real parts: the simulated TWS gateway with IB's realities injected as faults, the
real ``run_preflight`` over ib_async, real Delta tables; only papermill is stood in
for (``RecordingExecutor``), since what is under test is which jobs run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tradelib.alerts import read_alerts
from tradelib.config import TradingConfig, load_config
from tradelib.gateway import GatewayThread, build_gateway
from tradelib.preflight import PreflightReport, run_preflight
from tradelib.scheduler import Runner, RunStatus

from .conftest import ALL_OFF, FakeClock, RecordingExecutor, et, write_config, write_notebook

ON = {"enabled": True}
BROKER_JOBS = ("entry", "monitoring", "sync")
OPEN = et(17, 10, 0)  # Tuesday 17 Nov 2026, 10:00 New York: the session is open
GATEWAY_DAY = date(2025, 6, 10)


@pytest.fixture(autouse=True)
def quiet_ib_async() -> Iterator[None]:
    logger = logging.getLogger("ib_async")  # the preflight provokes IB errors on purpose
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    with GatewayThread(build_gateway(seed=7, day=GATEWAY_DAY, port=0, speed=20.0)) as thread:
        yield thread


class CountingPreflight:
    """The real preflight, counted."""

    def __init__(self) -> None:
        self.calls = 0
        self.runner: Runner | None = None

    def __call__(self, cfg: TradingConfig) -> PreflightReport:
        self.calls += 1
        assert self.runner is not None
        return run_preflight(cfg, lake_uri=self.runner.lake.root)


def make_gated_runner(
    workspace: Path, port: int, preflight: Any = None, **ib: Any
) -> tuple[Runner, FakeClock, RecordingExecutor]:
    for job in (*BROKER_JOBS, "variance"):
        write_notebook(workspace / "notebooks" / f"{job}.ipynb", "x = 1")
    path = write_config(workspace, {**ALL_OFF, **dict.fromkeys((*BROKER_JOBS, "variance"), ON)})
    cfg = load_config(path).with_overrides(
        {
            "ib.mode": "paper",
            "ib.port": port,
            "ib.connect_retries": 0,
            "ib.retry_backoff_s": 0.05,
            "ib.connect_timeout_s": 5.0,
            "ib.max_requests_per_s": 0,
            **{f"ib.{k}": v for k, v in ib.items()},
        }
    )
    clock, executor = FakeClock(OPEN), RecordingExecutor()
    counting = preflight if preflight is not None else CountingPreflight()
    runner = Runner(
        cfg, root=workspace, config_path=path, clock=clock, executor=executor, preflight=counting
    )
    if isinstance(counting, CountingPreflight):
        counting.runner = runner
    return runner, clock, executor


def runs(runner: Runner, job: str) -> pl.DataFrame:
    return runner.lake.read("job_runs", filter=pl.col("job") == job).sort("started_at").collect()


def preflight_alerts(runner: Runner) -> pl.DataFrame:
    stored = read_alerts(runner.lake)
    return stored.filter(pl.col("kind") == "preflight_failed")


pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_a_go_day_runs_normally_and_checks_only_once(
    workspace: Path, gateway: GatewayThread
) -> None:
    runner, _, executor = make_gated_runner(workspace, gateway.port)
    counting = runner.preflight
    assert isinstance(counting, CountingPreflight)

    first = runner.tick(OPEN)

    assert first.preflight is not None and first.preflight.go and first.preflight.fresh
    assert sorted(executor.jobs) == ["entry", "monitoring", "sync", "variance"]
    assert runs(runner, "preflight")["status"].to_list() == ["success"]
    assert "preflight GO (ran)" in first.lines()[0]

    later = runner.tick(OPEN + timedelta(minutes=5))  # sync and monitoring due again

    assert counting.calls == 1  # the day's go is read from the lake, not checked again
    assert later.preflight is not None and later.preflight.go and not later.preflight.fresh
    assert executor.jobs.count("monitoring") == 2
    assert preflight_alerts(runner).height == 0


@pytest.mark.slow  # ~12 s: two real preflights over ib_async
@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ({"no_option_permission": True}, "option permission"),
        ({"cash_account": True}, "account type"),  # naked short puts / strangles enabled
    ],
)
def test_a_no_go_holds_entry_alerts_and_rechecks_until_fixed(
    workspace: Path, gateway: GatewayThread, fault: dict[str, bool], check: str
) -> None:
    gateway.gateway.faults.set_account_limits(**fault)
    runner, _, executor = make_gated_runner(workspace, gateway.port)
    counting = runner.preflight
    assert isinstance(counting, CountingPreflight)

    first = runner.tick(OPEN)

    verdict = first.preflight
    assert verdict is not None and not verdict.go and verdict.held == {"entry"}
    # exits and sync still run: a stop loss must be honoured on a day new risk is refused
    assert sorted(executor.jobs) == ["monitoring", "sync", "variance"]
    (held,) = runs(runner, "entry").iter_rows(named=True)
    assert held["status"] == RunStatus.SKIPPED_NO_GO
    assert check in held["error"] and "hold: entry" in held["error"]
    (pf,) = runs(runner, "preflight").iter_rows(named=True)
    assert pf["status"] == "failed" and check in pf["error"]
    (alert,) = preflight_alerts(runner).iter_rows(named=True)
    assert check in alert["title"] and "entry" in alert["title"]
    assert "fix:" in alert["message"]
    assert any("NO-GO" in line for line in first.lines())

    # within the re-check interval: no new preflight, entry still held, no new row
    runner.tick(OPEN + timedelta(minutes=5))
    assert counting.calls == 1
    assert "entry" not in executor.jobs
    assert runs(runner, "entry").height == 1

    # fixed; the next check after 15 minutes is a go and entry runs
    gateway.gateway.faults.set_account_limits(**dict.fromkeys(fault, False))
    after = runner.tick(OPEN + timedelta(minutes=16))
    assert counting.calls == 2
    assert after.preflight is not None and after.preflight.go
    assert "entry" in executor.jobs
    assert runs(runner, "preflight")["status"].to_list() == ["failed", "success"]
    assert runs(runner, "entry")["status"].to_list() == ["skipped_no_go", "success"]


def test_a_wrong_port_holds_every_broker_job_but_not_the_others(workspace: Path) -> None:
    # paper mode pointed at the live TWS port (nothing listens there in the test)
    runner, _, executor = make_gated_runner(workspace, 7496, connect_timeout_s=1.0)

    report = runner.tick(OPEN)

    assert report.preflight is not None and report.preflight.held == set(BROKER_JOBS)
    assert executor.jobs == ["variance"]  # not a broker job: runs
    for job in BROKER_JOBS:
        assert runs(runner, job)["status"].to_list() == ["skipped_no_go"]
    (alert,) = preflight_alerts(runner).iter_rows(named=True)
    assert "mode" in alert["title"] and "live trading port" in alert["message"]


def test_a_preflight_that_raises_is_a_no_go_never_a_go(workspace: Path) -> None:
    def broken(cfg: TradingConfig) -> PreflightReport:
        raise RuntimeError("gateway answered garbage")

    runner, _, executor = make_gated_runner(workspace, 4002, preflight=broken)

    report = runner.tick(OPEN)

    assert report.preflight is not None and not report.preflight.go
    assert "entry" not in executor.jobs and "monitoring" in executor.jobs
    assert "gateway answered garbage" in runs(runner, "entry")["error"].item()


def test_sim_mode_and_non_broker_ticks_run_no_preflight(workspace: Path) -> None:
    def never(cfg: TradingConfig) -> PreflightReport:
        raise AssertionError("no preflight expected")

    runner, _, executor = make_gated_runner(workspace, 4002, preflight=never, mode="sim")
    assert runner.tick(OPEN).preflight is None
    assert "entry" in executor.jobs

    paper, _, _ = make_gated_runner(workspace / "paper", 4002, preflight=never)
    assert paper.gate(["variance", "maintenance"], OPEN) is None  # no broker job due
