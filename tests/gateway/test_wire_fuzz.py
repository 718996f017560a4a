"""Random and garbled frames on the gateway's wire: it never crashes, never tracebacks (issue 17).

Each example opens a raw connection, sends a (possibly broken) handshake and
a few frames built from real message ids with random fields, or plain noise,
then hangs up. After all of them a fresh ib_async client must still get served.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ib_async import IB

from tradelib.gateway import GatewayThread, build_gateway
from tradelib.gateway.parsing import In

from .conftest import TRADING_DAY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ConnectFn = Callable[..., IB]

_FIELD_TEXT = st.one_of(
    st.sampled_from(
        ["", "0", "1", "-1", "SPY", "OPT", "STK", "BAG", "SMART", "nan", "inf", "Infinite", "1e308"]
    ),
    st.integers(min_value=-(2**63), max_value=2**63).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)
_MSG_IDS = st.sampled_from([int(m) for m in In] + [0, 999, -3])


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["fields"] * 6 + ["noise", "bad_length"]))
    if kind == "noise":
        body = draw(st.binary(max_size=200))
        return len(body).to_bytes(4, "big") + body
    if kind == "bad_length":
        return draw(st.integers(min_value=0, max_value=2**32 - 1)).to_bytes(4, "big") + draw(
            st.binary(max_size=16)
        )
    msg_id = draw(_MSG_IDS)
    fields = [str(msg_id), *draw(st.lists(_FIELD_TEXT, max_size=40))]
    body = "\0".join(fields).encode("utf-8", errors="surrogatepass") + b"\0"
    return len(body).to_bytes(4, "big") + body


@st.composite
def _session(draw: st.DrawFn) -> bytes:
    hello = draw(
        st.one_of(
            st.just(b"v157..178"),
            st.just(b"v100..200"),
            st.just(b"v157..178"),
            st.binary(max_size=24),
            st.sampled_from([b"vabc..xyz", b"", b"\xff\xfe", b"v178", b"v1..99999999999999"]),
        )
    )
    prefix = draw(st.sampled_from([b"API\0", b"API\0", b"API\0", b"XYZ\0"]))
    start = b""
    if draw(st.integers(0, 3)) > 0:  # mostly a proper startApi first, so handlers past the gate run
        client_id = draw(st.integers(min_value=100, max_value=10_000))
        body = f"{int(In.START_API)}\x002\x00{client_id}\x00\x00".encode()
        start = len(body).to_bytes(4, "big") + body
    frames = draw(st.lists(_frame(), max_size=10))
    return prefix + len(hello).to_bytes(4, "big") + hello + start + b"".join(frames)


class _Problems(logging.Handler):
    """Errors and tracebacks logged by anything but the test's own ib_async client."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []
        self.refusals = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("ib_async"):
            return
        if record.exc_info or record.levelno >= logging.ERROR:
            self.messages.append(record.getMessage())
        elif record.levelno == logging.WARNING:
            self.refusals += 1


@pytest.fixture(scope="module")
def fuzz_gateway() -> Iterator[GatewayThread]:
    with GatewayThread(build_gateway(seed=7, day=TRADING_DAY, port=0)) as thread:
        yield thread


@pytest.fixture(scope="module")
def problems() -> Iterator[_Problems]:
    handler = _Problems()
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)


def _send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(0.5)
            while sock.recv(65536):
                pass
        except OSError:
            pass  # the gateway may hang up first: that is allowed


@settings(
    max_examples=int(os.environ.get("TRADELIB_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=_session())
def test_garbled_wire_never_breaks_the_gateway(
    fuzz_gateway: GatewayThread, problems: _Problems, data: bytes
) -> None:
    _send(fuzz_gateway.port, data)
    assert problems.messages == [], problems.messages


def test_the_fuzzed_gateway_still_serves_a_fresh_client(
    fuzz_gateway: GatewayThread, problems: _Problems, connect: ConnectFn
) -> None:
    ib = connect(fuzz_gateway, client_id=1)
    assert ib.reqCurrentTime().year >= 2025
    assert ib.managedAccounts() == ["DU0000001"]
    assert problems.messages == []
    assert problems.refusals > 0, "the fuzz reached the refusals"
