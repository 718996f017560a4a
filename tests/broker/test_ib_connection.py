"""IBConnectionManager: client ids per role, retries, masking, and trading-mode guards."""

from __future__ import annotations

import logging
import socket

import pytest

from tradelib.broker.connection import DEFAULT_MAX_REQUESTS_PER_S, IBConnectionManager, LinkState
from tradelib.broker.ib import IBBroker
from tradelib.broker.modes import build_broker, ensure_mode_allowed
from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.domain import TradingMode
from tradelib.errors import ConfigError, LiveTradingNotAllowed, NotConnectedError
from tradelib.gateway import GatewayThread

from .conftest import IbErrorLog, connect_ib, start_gateway

pytestmark = [pytest.mark.usefixtures("ib_errors"), pytest.mark.timeout(60)]

ACCOUNT = "DU7654321"


def _config(**overrides: object) -> TradingConfig:
    return TradingConfig().with_overrides(overrides).with_account(ACCOUNT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- roles and client ids --------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "first"), [("jobs", 1), ("futures", 2), ("research", 3)])
def test_each_role_connects_with_its_own_client_id_then_the_fallbacks(
    role: str, first: int
) -> None:
    manager = IBConnectionManager.from_config(_config(), role)
    assert manager.client_ids == (first, 11, 12, 13)
    assert manager.role == role


def test_dashboards_never_get_a_connection() -> None:
    with pytest.raises(ValueError, match="dashboards"):
        IBConnectionManager.from_config(_config(), "dashboards")


def test_timeouts_retries_and_safe_pacing_come_from_the_config() -> None:
    cfg = _config(
        **{"ib.connect_timeout_s": 3.0, "ib.request_timeout_s": 7.0, "ib.connect_retries": 5}
    )
    manager = IBConnectionManager.from_config(cfg)
    assert (manager.connect_timeout_s, manager.connect_retries) == (3.0, 5)
    assert manager.ib.RequestTimeout == 7.0
    assert manager.ib.RaiseRequestErrors is True
    assert manager.ib.client.MaxRequests == DEFAULT_MAX_REQUESTS_PER_S


def test_the_account_is_masked_in_the_repr_and_in_ib_async_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = IBConnectionManager.from_config(_config())
    assert ACCOUNT not in repr(manager)
    with caplog.at_level(logging.INFO, logger="ib_async.wrapper"):
        logging.getLogger("ib_async.wrapper").info("position: account=%s", ACCOUNT)
    assert ACCOUNT not in caplog.text and "DU*****21" in caplog.text


# --- connecting ------------------------------------------------------------------------------------


def test_nothing_listening_fails_after_the_configured_attempts(ib_errors: IbErrorLog) -> None:
    ib_errors.allow("API connection failed", "Make sure API port")
    manager = IBConnectionManager(
        "127.0.0.1", _free_port(), (1,), connect_timeout_s=2.0, connect_retries=2, retry_backoff_s=0
    )
    with pytest.raises(NotConnectedError, match="after 3 attempt"):
        manager.connect()
    assert manager.state is LinkState.FAILED and not manager.is_connected


def test_calls_before_connect_say_so() -> None:
    manager = IBConnectionManager("127.0.0.1", _free_port(), (1,))
    with pytest.raises(NotConnectedError, match="connect"):
        manager.ensure_connected()


@pytest.mark.integration
def test_connect_reports_the_account_and_client_and_disconnect_is_final() -> None:
    thread = start_gateway()
    try:
        broker = connect_ib(thread)
        states: list[tuple[bool, str]] = []
        broker.connection.on_state.append(lambda up, why: states.append((up, why)))
        broker.connect()
        assert broker.connection.account == "DU0000001"
        assert "DU*****01" in repr(broker) and "DU0000001" not in repr(broker)
        broker.disconnect()
        assert broker.connection.state is LinkState.CLOSED
        assert states == [(True, "connected"), (False, "disconnect requested")]
        with pytest.raises(NotConnectedError):
            broker.positions()
    finally:
        thread.stop()


# --- trading modes ---------------------------------------------------------------------------------


def test_sim_mode_builds_the_embedded_simulated_broker() -> None:
    broker = build_broker(_config())
    assert isinstance(broker, SimBroker) and broker.mode is TradingMode.SIM


def test_paper_and_readonly_modes_build_an_unconnected_ib_broker() -> None:
    paper = build_broker(_config(**{"ib.mode": "paper"}))
    readonly = build_broker(_config(**{"ib.mode": "readonly"}))
    assert isinstance(paper, IBBroker) and paper.mode is TradingMode.PAPER
    assert isinstance(readonly, IBBroker) and readonly.mode is TradingMode.READONLY
    assert not paper.is_connected


def test_paper_mode_refuses_a_live_trading_port() -> None:
    with pytest.raises(ConfigError, match="7496"):
        ensure_mode_allowed(_config(**{"ib.mode": "paper", "ib.port": 7496}))


@pytest.mark.parametrize(
    ("allow_live", "env", "missing"),
    [
        (False, {"TRADELIB_ALLOW_LIVE": "1"}, "allow_live"),
        (True, {}, "TRADELIB_ALLOW_LIVE"),
        (False, {}, "allow_live is false and"),
    ],
)
def test_live_mode_needs_the_config_opt_in_and_the_environment_variable(
    allow_live: bool, env: dict[str, str], missing: str
) -> None:
    cfg = _config(**{"ib.mode": "live", "ib.allow_live": allow_live, "ib.port": 7496})
    with pytest.raises(LiveTradingNotAllowed, match=missing):
        build_broker(cfg, env=env)


def test_live_mode_with_both_opt_ins_builds_a_live_ib_broker() -> None:
    cfg = _config(**{"ib.mode": "live", "ib.allow_live": True, "ib.port": 7496})
    broker = build_broker(cfg, env={"TRADELIB_ALLOW_LIVE": "1"})
    assert isinstance(broker, IBBroker) and broker.mode is TradingMode.LIVE


@pytest.mark.integration
def test_paper_mode_refuses_to_run_on_a_live_account() -> None:
    thread: GatewayThread = start_gateway(account="U1234567")
    try:
        broker = connect_ib(thread, mode=TradingMode.PAPER)
        with pytest.raises(ConfigError, match="not a paper account"):
            broker.connect()
        assert not broker.is_connected
    finally:
        thread.stop()
