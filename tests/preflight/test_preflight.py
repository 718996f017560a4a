"""Preflight against the simulated gateway: go when clean, no-go naming cause and fix per reality."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from tradelib.config import TradingConfig
from tradelib.domain import NEW_YORK
from tradelib.gateway import GatewayThread, build_gateway
from tradelib.preflight import CheckStatus, PreflightReport, run_preflight

pytestmark = [  # slow: each test starts the simulated gateway
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.timeout(120),
]

TRADING_DAY = date(2025, 6, 10)  # a Tuesday: the market starts at 09:45 New York


@pytest.fixture(autouse=True)
def quiet_ib_async() -> Iterator[None]:
    # Preflight provokes IB errors on purpose; ib_async logs each at ERROR.
    logger = logging.getLogger("ib_async")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    with GatewayThread(build_gateway(seed=7, day=TRADING_DAY, port=0, speed=20.0)) as thread:
        yield thread


Run = Callable[..., PreflightReport]


@pytest.fixture
def preflight(gateway: GatewayThread, tmp_path: Path) -> Run:
    def run(strategies: list[str] | None = None, **ib: object) -> PreflightReport:
        settings: dict[str, object] = {
            "ib.mode": "paper",
            "ib.port": gateway.port,
            "ib.connect_retries": 0,
            "ib.retry_backoff_s": 0.05,
            "ib.connect_timeout_s": 5.0,
            "ib.max_requests_per_s": 0,
        }
        settings |= {f"ib.{k}": v for k, v in ib.items() if k != "account"}
        if strategies is not None:
            settings["strategies.enabled"] = strategies
        cfg = TradingConfig().with_overrides(settings)
        if "account" in ib:
            cfg = cfg.with_account(SecretStr(str(ib["account"])))
        return run_preflight(cfg, lake_uri=str(tmp_path / "lake"))

    return run


def _failed(report: PreflightReport) -> dict[str, str]:
    return {c.name: f"{c.detail} | fix: {c.fix}" for c in report.failed()}


def test_a_clean_gateway_is_a_go(preflight: Run) -> None:
    report = preflight()

    assert report.go, report.lines()
    statuses = {c.name: c.status for c in report.checks}
    for name in ("connection", "account", "option permission", "account type", "option chain"):
        assert statuses[name] is CheckStatus.PASS, report.lines()
    for name in ("quotes SPY", "quotes QQQ", "quotes IWM", "quotes VIX", "quotes SPY option"):
        assert statuses[name] is CheckStatus.PASS, report.lines()
    assert statuses["historical bars"] is CheckStatus.PASS
    assert statuses["lake"] is CheckStatus.PASS
    assert statuses["circuit breaker"] is CheckStatus.PASS
    assert statuses["clock"] is CheckStatus.WARN  # a simulated clock is days off the wall clock
    table = report.table()
    assert table.columns == ["check", "status", "detail", "fix", "ib_code"]
    assert report.lines()[-1] == "preflight: GO"


def test_an_account_the_server_does_not_manage_is_a_no_go(preflight: Run) -> None:
    report = preflight(account="DU9876543")

    assert not report.go
    failed = _failed(report)
    assert "DU*****43" in failed["connection"] and "TRADELIB_IB_ACCOUNT" in failed["connection"]
    assert "DU9876543" not in "\n".join(report.lines())


def test_paper_mode_on_a_live_port_is_a_no_go(tmp_path: Path) -> None:
    cfg = TradingConfig().with_overrides(
        {"ib.mode": "paper", "ib.port": 7496, "ib.connect_retries": 0, "ib.connect_timeout_s": 1}
    )
    report = run_preflight(cfg, host="127.0.0.1", lake_uri=str(tmp_path / "lake"))
    failed = _failed(report)
    assert "live trading port" in failed["mode"] and "7497" in failed["mode"]
    assert "connection" in failed  # nothing listens there in the test
    assert report.get("quotes").status is CheckStatus.SKIP


def test_no_market_data_subscription_is_a_no_go_with_ib_354(
    gateway: GatewayThread, preflight: Run
) -> None:
    gateway.gateway.faults.set_market_data("none")

    report = preflight()

    quotes = [c for c in report.failed() if c.name.startswith("quotes")]
    assert {c.code for c in quotes} == {354}
    assert len(quotes) == 5  # SPY, QQQ, IWM, VIX and the sample option
    assert all("subscribe" in c.fix for c in quotes)
    assert "OPRA" in report.get("quotes SPY option").fix and "CBOE" in report.get("quotes VIX").fix


def test_delayed_quotes_are_a_no_go_naming_10167(gateway: GatewayThread, preflight: Run) -> None:
    gateway.gateway.faults.set_market_data("delayed")

    report = preflight()

    spy = report.get("quotes SPY")
    assert spy.status is CheckStatus.FAIL and spy.code == 10167
    assert "delayed quotes only" in spy.detail and "real-time" in spy.detail


def test_no_option_permission_is_a_no_go(gateway: GatewayThread, preflight: Run) -> None:
    gateway.gateway.faults.set_account_limits(no_option_permission=True)

    report = preflight()

    check = report.get("option permission")
    assert check.status is CheckStatus.FAIL and check.code == 201
    assert "Trading Permissions" in check.fix
    assert report.get("account type").status is CheckStatus.SKIP
    assert gateway.gateway.faults.stats.broker_orders == 0, "what-if orders only"


def test_a_cash_account_with_naked_strategies_is_a_no_go(
    gateway: GatewayThread, preflight: Run
) -> None:
    gateway.gateway.faults.set_account_limits(cash_account=True)

    report = preflight()

    check = report.get("account type")
    assert check.status is CheckStatus.FAIL and check.code == 201
    assert "short_put" in check.fix and "short_strangle" in check.fix and "margin" in check.fix
    assert report.get("option permission").status is CheckStatus.PASS


def test_a_cash_account_with_defined_risk_strategies_only_is_a_go(
    gateway: GatewayThread, preflight: Run
) -> None:
    gateway.gateway.faults.set_account_limits(cash_account=True)

    report = preflight(strategies=["put_credit_spread", "iron_condor"])

    assert report.go, report.lines()
    assert "defined-risk" in report.get("account type").detail


def test_historical_pacing_is_a_no_go_naming_162(gateway: GatewayThread, preflight: Run) -> None:
    gateway.gateway.faults.set_hist_pacing()

    report = preflight()

    bars = report.get("historical bars")
    assert bars.status is CheckStatus.FAIL and bars.code == 162
    assert "Pacing" in bars.detail and "10 minutes" in bars.fix


def test_a_gateway_in_its_nightly_restart_is_a_no_go(
    gateway: GatewayThread, preflight: Run
) -> None:
    market_now = gateway.call(lambda: gateway.gateway.broker.now())
    assert isinstance(market_now, datetime)
    local = market_now.astimezone(NEW_YORK)
    gateway.gateway.faults.nightly_restart(local.time().replace(second=0, microsecond=0))

    report = preflight()

    check = report.get("connection")
    assert check.status is CheckStatus.FAIL
    assert "restart" in check.fix and "AutoRestartTime" in check.fix
    assert market_now.tzinfo is UTC or market_now.utcoffset() is not None
