"""The collector over IBBroker and ib_async, against the simulated TWS gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time, timedelta

import polars as pl
import pytest

from tradelib.broker.connection import IBConnectionManager
from tradelib.broker.ib import IBBroker
from tradelib.broker.sim import SimBroker
from tradelib.domain import NEW_YORK, TradingMode
from tradelib.futures.collector import CollectorSettings, FuturesCollector
from tradelib.gateway import GatewayThread, SimGateway
from tradelib.lake import Lake
from tradelib.stores.futures import BARS_TABLE, GAP_END, GAP_START, SYMBOL, TS, read_gaps

from .conftest import START, market

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]
SPEED = 20.0  # gateway market seconds per real second between waits


class FastIBBroker(IBBroker):
    """IBBroker whose gateway runs fast inside ``wait`` (at ``SPEED`` otherwise)."""

    def __init__(self, connection: IBConnectionManager, thread: GatewayThread) -> None:
        super().__init__(connection, mode=TradingMode.PAPER)
        self.thread = thread

    def _speed(self, value: float) -> None:
        gateway = self.thread.gateway
        self.thread.call(lambda: setattr(gateway, "speed", value))
        self.resync_clock(value)  # IBBroker extrapolates time between syncs: say the new pace

    def wait(self, seconds: float) -> None:
        self._speed(max(SPEED, seconds / 0.25))
        try:
            super().wait(seconds)
        finally:
            self._speed(SPEED)


class DroppingIBBroker(FastIBBroker):
    """A ``FastIBBroker`` whose gateway drops every socket once at ``drop_at``."""

    def __init__(self, connection: IBConnectionManager, thread: GatewayThread) -> None:
        super().__init__(connection, thread)
        self.drop_at = START + timedelta(seconds=150)
        self.dropped = False
        self.dropped_at = START

    def wait(self, seconds: float) -> None:
        super().wait(seconds)
        now = self.now()
        if not self.dropped and now >= self.drop_at:
            self.dropped, self.dropped_at = True, now
            self.thread.gateway.faults.drop_connections()


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    thread = GatewayThread(SimGateway(SimBroker(market()), port=0, speed=SPEED, tick_interval=0.05))
    thread.start()
    yield thread
    thread.stop()


def _connection(gateway: GatewayThread) -> IBConnectionManager:
    return IBConnectionManager(
        "127.0.0.1",
        gateway.port,
        (2, 11),
        role="futures",
        connect_timeout_s=5.0,
        retry_backoff_s=0.1,
        max_requests_per_s=0,
    )


def test_over_ib_a_dropped_socket_becomes_a_gap_and_no_polled_bar_is_lost(
    gateway: GatewayThread, lake: Lake
) -> None:
    broker = DroppingIBBroker(_connection(gateway), gateway)
    settings = CollectorSettings(
        poll_interval_s=30.0, flush_interval_s=60.0, step_s=10.0, reconnect_delays_s=(2.0,)
    )
    try:
        report = FuturesCollector(broker, lake, settings).run(until=START + timedelta(minutes=5))
    finally:
        broker.disconnect()
    assert broker.dropped and report.reconnects == 1
    gaps = read_gaps(lake, ["ES"])
    assert gaps.height == 1
    gap = gaps.row(0, named=True)
    assert gap[GAP_START] <= broker.dropped_at < gap[GAP_END]
    es = lake.read(BARS_TABLE).filter(pl.col(SYMBOL) == "ES").collect().get_column(TS).sort()
    assert es.filter((es >= gap[GAP_START]) & (es < gap[GAP_END])).len() == 0
    # every other second from the first bar to the stop is there, once
    first, last = es[0], es[-1]
    assert first == START and last >= START + timedelta(minutes=5) - timedelta(seconds=2)
    before, after = gap[GAP_START] - first, last + timedelta(seconds=1) - gap[GAP_END]
    assert es.len() == before.seconds + after.seconds
    assert es.is_unique().all()


def test_the_collector_survives_the_nightly_restart_and_records_the_gap_unfilled(
    gateway: GatewayThread, lake: Lake
) -> None:
    restart = START + timedelta(minutes=2)  # 10:02 New York: drops everyone, refuses for 2 min
    gateway.gateway.faults.nightly_restart(time(restart.astimezone(NEW_YORK).hour, 2))
    broker = FastIBBroker(_connection(gateway), gateway)
    settings = CollectorSettings(
        poll_interval_s=30.0, flush_interval_s=60.0, step_s=10.0, reconnect_delays_s=(1.0,)
    )
    # A refused session costs the client its connect timeout in real time, while the gateway's
    # clock runs on: leave ample market time after the restart for collecting to resume.
    end = START + timedelta(minutes=16)
    try:
        report = FuturesCollector(broker, lake, settings).run(until=end)
    finally:
        broker.disconnect()

    assert report.reconnects == 1
    assert gateway.gateway.faults.stats.connections_dropped >= 1
    symbols = ["ES", "NQ", "RTY", "SPY", "QQQ", "IWM"]
    gaps = read_gaps(lake, symbols)
    assert sorted(gaps.get_column(SYMBOL)) == sorted(symbols), "one gap per symbol"
    bars = lake.read(BARS_TABLE).collect()
    for gap in gaps.iter_rows(named=True):
        assert gap[GAP_END] is not None, "closed once the gateway took sessions again"
        assert gap[GAP_START] <= restart + timedelta(seconds=1)
        assert gap[GAP_END] >= restart + timedelta(minutes=2), "the refused window is in the gap"
        ts = bars.filter(pl.col(SYMBOL) == gap[SYMBOL]).get_column(TS)
        assert ts.filter((ts >= gap[GAP_START]) & (ts < gap[GAP_END])).len() == 0, "never filled"
        assert ts.filter(ts >= gap[GAP_END]).len() > 0, "collecting resumed after the restart"
        assert ts.is_unique().all()
