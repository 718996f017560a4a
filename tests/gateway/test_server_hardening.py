"""The gateway as a server facing bad input: huge frames, bad handshakes, invalid orders (issue 17)."""

from __future__ import annotations

import logging
import math
import socket
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
from ib_async import IB, LimitOrder, Stock, Trade

from tradelib.gateway import GatewayThread, build_gateway
from tradelib.gateway.parsing import MAX_MESSAGE_BYTES

from .conftest import TRADING_DAY, IbErrorLog

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ConnectFn = Callable[..., IB]
WaitFn = Callable[..., bool]


class Records(logging.Handler):
    """Every record of level WARNING or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def tracebacks(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.exc_info or r.levelno >= logging.ERROR]

    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _raw(gw: GatewayThread) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    return sock


def _handshake(sock: socket.socket, version: bytes = b"v157..178") -> None:
    sock.sendall(b"API\0" + len(version).to_bytes(4, "big") + version)


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed the connection (EOF or reset), reading what it sent."""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _still_serves(gw: GatewayThread, connect: ConnectFn, client_id: int = 77) -> None:
    ib = connect(gw, client_id=client_id)
    assert ib.reqCurrentTime().year >= 2025
    ib.disconnect()


# --- framing ---------------------------------------------------------------------------------


def test_a_2gb_length_prefix_drops_the_connection_without_allocating_it(
    gateway: GatewayThread, connect: ConnectFn, records: Records
) -> None:
    sock = _raw(gateway)
    _handshake(sock)
    sock.recv(4096)  # the server's hello
    tracemalloc.start()
    try:
        sock.sendall((2**31 - 1).to_bytes(4, "big"))
        try:
            for _ in range(64):  # 32 MB of body, more than the cap allows
                sock.sendall(b"x" * (512 * 1024))
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed = _closed_by_server(sock)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        sock.close()

    assert closed
    assert peak < 4 * MAX_MESSAGE_BYTES // 2, f"peak {peak / 2**20:.0f} MiB"
    assert "exceeds" in records.text() and "2147483647" in records.text()
    assert records.tracebacks() == []
    _still_serves(gateway, connect)


@pytest.mark.parametrize(
    "version", [b"vabc..xyz", b"", b"\xff\xfe\xfd", b"v9999", b"v1..2", b"v178..157"]
)
def test_a_bad_handshake_is_refused_cleanly(
    gateway: GatewayThread, connect: ConnectFn, records: Records, version: bytes
) -> None:
    sock = _raw(gateway)
    _handshake(sock, version)

    assert _closed_by_server(sock)
    sock.close()
    assert records.tracebacks() == []
    assert "refused" in records.text() or "closed" in records.text()
    _still_serves(gateway, connect)


# --- invalid orders ------------------------------------------------------------------------------


def _spy(ib: IB) -> Stock:
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    return spy


def _finished(ib: IB, trade: Trade, wait_until: WaitFn) -> bool:
    return wait_until(ib, lambda: trade.orderStatus.status in ("Cancelled", "Inactive"))


@pytest.mark.parametrize(
    ("quantity", "limit"),
    [(1, math.nan), (1, -math.inf), (1, math.inf), (math.nan, 600.0)],
    ids=["limit-nan", "limit-minus-inf", "limit-inf", "quantity-nan"],
)
def test_an_invalid_order_is_refused_under_its_own_id(
    gateway: GatewayThread,
    connect: ConnectFn,
    wait_until: WaitFn,
    ib_errors: IbErrorLog,
    records: Records,
    quantity: float,
    limit: float,
) -> None:
    ib_errors.allow("Error 321,", "Warning 321,")
    ib = connect(gateway)
    trade = ib.placeOrder(_spy(ib), LimitOrder("BUY", quantity, limit))

    assert _finished(ib, trade, wait_until), trade.orderStatus.status
    codes = [e.errorCode for e in trade.log if e.errorCode]
    assert codes and set(codes) <= {321}, trade.log
    assert gateway.gateway.faults.stats.broker_orders == 0
    assert gateway.gateway.faults.stats.errors_sent.get(321, 0) == 1
    assert records.tracebacks() == []


@pytest.mark.parametrize("limit", [-5.0, 0.0])
def test_a_single_leg_limit_at_or_below_zero_is_rejected(
    gateway: GatewayThread,
    connect: ConnectFn,
    wait_until: WaitFn,
    ib_errors: IbErrorLog,
    limit: float,
) -> None:
    ib_errors.allow("Error 201,")
    ib = connect(gateway)
    trade = ib.placeOrder(_spy(ib), LimitOrder("SELL", 1, limit))

    assert _finished(ib, trade, wait_until), trade.orderStatus.status
    assert [e.errorCode for e in trade.log if e.errorCode] == [201]
    assert trade.orderStatus.filled == 0
    assert gateway.gateway.faults.stats.broker_orders == 0


# --- accounts --------------------------------------------------------------------------------------


@pytest.fixture
def two_accounts() -> Iterator[GatewayThread]:
    gw = build_gateway(seed=7, day=TRADING_DAY, port=0, accounts=("DU0000001", "DU0000002"))
    with GatewayThread(gw) as thread:
        yield thread


def test_the_gateway_can_manage_several_accounts(
    two_accounts: GatewayThread, connect: ConnectFn
) -> None:
    ib = connect(two_accounts)
    assert ib.managedAccounts() == ["DU0000001", "DU0000002"]
    summary = ib.accountSummary("DU0000002")
    assert {v.tag for v in summary} >= {"NetLiquidation", "TotalCashValue"}


def test_an_order_without_an_account_is_refused_when_several_are_managed(
    two_accounts: GatewayThread,
    connect: ConnectFn,
    wait_until: WaitFn,
    ib_errors: IbErrorLog,
) -> None:
    ib_errors.allow("Error 436,", "Error 321,")
    ib = connect(two_accounts)
    spy = _spy(ib)
    nameless = ib.placeOrder(spy, LimitOrder("BUY", 1, 1.0))
    foreign = ib.placeOrder(spy, LimitOrder("BUY", 1, 1.0, account="DU9876543"))

    assert _finished(ib, nameless, wait_until) and _finished(ib, foreign, wait_until)
    assert [e.errorCode for e in nameless.log if e.errorCode] == [436]
    assert [e.errorCode for e in foreign.log if e.errorCode] == [321]
    assert two_accounts.gateway.faults.stats.broker_orders == 0
