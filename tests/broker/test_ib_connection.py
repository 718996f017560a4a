"""IBConnectionManager: client ids per role, retries, masking, outage alerts, and trading-mode guards."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tradelib.alerts import Alerter, MemoryAlertStore
from tradelib.alerts.model import AlertKind
from tradelib.broker.connection import DEFAULT_MAX_REQUESTS_PER_S, IBConnectionManager, LinkState
from tradelib.broker.ib import IBBroker
from tradelib.broker.modes import build_broker, ensure_mode_allowed
from tradelib.broker.sim import SimBroker
from tradelib.config import AlertsConfig, TradingConfig
from tradelib.domain import TradingMode, utc
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


# --- outages and the connection-lost alert -------------------------------------------------------
T0 = utc(2026, 11, 24, 15)


class FakeClock:
    """The wall clock the outage watch reads, moved by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def outage_gateway() -> Iterator[GatewayThread]:
    thread = start_gateway()
    yield thread
    thread.stop()


def _drop_and_refuse(gateway: GatewayThread, manager: IBConnectionManager) -> None:
    """Drop the socket and refuse the client id (326), so every reconnect fails."""
    gateway.gateway.faults.refuse_client_ids(manager.client_ids)
    gateway.gateway.faults.drop_connections()
    _notice_drop(manager)


def _notice_drop(manager: IBConnectionManager) -> None:
    """Run ib_async's loop until it has seen the close (its in-flight wait ends with it)."""
    with contextlib.suppress(ConnectionError):
        manager.ib.sleep(0.3)


def _still_down(manager: IBConnectionManager) -> None:
    with pytest.raises(NotConnectedError):
        manager.ensure_connected()


@pytest.mark.integration
def test_a_connection_down_past_the_threshold_alerts_once_and_a_reconnect_ends_the_outage(
    outage_gateway: GatewayThread, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Error 326,", "Peer closed connection", "API connection failed")
    clock = FakeClock()
    store = MemoryAlertStore()
    alerter = Alerter(AlertsConfig(), store, channels=[], env={})
    manager = IBConnectionManager(
        "127.0.0.1",
        outage_gateway.port,
        (7,),
        connect_timeout_s=2.0,
        connect_retries=0,
        retry_backoff_s=0.01,
        max_requests_per_s=0,
        connection_lost_minutes=5,
        clock=clock,
        alert=alerter.emit,
    )
    manager.connect()
    try:
        _drop_and_refuse(outage_gateway, manager)
        _still_down(manager)
        clock.advance(4)
        _still_down(manager)
        assert not store.records, "down, but not yet for longer than 5 minutes"

        clock.advance(2)
        _still_down(manager)
        clock.advance(10)
        _still_down(manager)
        [record] = store.records.values()
        assert record.alert.kind is AlertKind.CONNECTION_LOST
        assert "6 min" in record.alert.title, "raised at the first check past the threshold"
        assert record.alert.ts == T0 + timedelta(minutes=6)

        outage_gateway.gateway.faults.accept_client_ids(manager.client_ids)
        clock.advance(1)
        manager.ensure_connected()
        assert manager.is_connected and manager.check_outage() is None

        clock.advance(60)  # a second outage, long after: it alerts again, on its own key
        _drop_and_refuse(outage_gateway, manager)
        _still_down(manager)
        clock.advance(5.5)
        _still_down(manager)
        assert len(store.records) == 2
        keys = {r.alert.key for r in store.records.values()}
        assert len(keys) == 2, "one alert per outage"
    finally:
        manager.disconnect()


@pytest.mark.integration
def test_a_drop_repaired_within_the_threshold_raises_no_alert(
    outage_gateway: GatewayThread, ib_errors: IbErrorLog
) -> None:
    ib_errors.allow("Peer closed connection")
    clock = FakeClock()
    raised: list[object] = []
    manager = IBConnectionManager(
        "127.0.0.1",
        outage_gateway.port,
        (8,),
        connect_timeout_s=2.0,
        retry_backoff_s=0.01,
        max_requests_per_s=0,
        connection_lost_minutes=5,
        clock=clock,
        alert=raised.append,
    )
    manager.connect()
    try:
        outage_gateway.gateway.faults.drop_connections()
        _notice_drop(manager)
        clock.advance(4)
        manager.ensure_connected()  # the reconnect succeeds within the threshold
        clock.advance(10)
        assert manager.is_connected and manager.check_outage() is None
        assert raised == [] and manager.reconnects == 1
    finally:
        manager.disconnect()


def test_the_threshold_comes_from_the_alerts_config() -> None:
    manager = IBConnectionManager.from_config(_config(**{"alerts.connection_lost_minutes": 12.0}))
    assert manager._watch is not None and manager._watch.threshold_minutes == 12.0
    assert manager.check_outage() is None, "never connected and not failing: no outage"


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
