"""Shared state, session and clock of the IB broker (``IBBroker`` is assembled in ``ib``)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar

from ib_async import Contract as IbContract
from ib_async import (
    Ticker,
)

from tradelib.broker import ib_mapping as m
from tradelib.broker.connection import IBConnectionManager
from tradelib.broker.ib_clock import ServerClock
from tradelib.broker.port import (
    Broker,
    ConnectionEvent,
    EventHub,
    OptionChainInfo,
)
from tradelib.domain import (
    Contract,
    Dividend,
    OrderState,
    SecType,
    TimeInForce,
    TradingMode,
)
from tradelib.errors import (
    BrokerError,
    ConfigError,
)
from tradelib.markethours import MarketHours

log = logging.getLogger("tradelib.broker.ib")


T = TypeVar("T")

# Model-greeks inputs when IB sends no option computation (until the config carries them).
DEFAULT_RATE = 0.04
DEFAULT_DIV_YIELD = 0.0
# How long the server clock is extrapolated on the local monotonic clock before IBBroker
# asks reqCurrentTime again (ib.clock_sync_s), wall seconds.
DEFAULT_CLOCK_SYNC_S = 30.0
# A simulated server (declared rate) is re-read after this much of its time: its clock
# advances in ticks of a thread that may lag, and a job must not ask for data past it.
SIMULATED_SYNC_SERVER_S = 1.0
# A measured server rate this close to 1 is a real-time server (TWS): take it as exactly 1.
REAL_TIME_RATE_TOLERANCE = 0.05
# How long stream() and dividend() wait for a first tick (or IB's refusal), wall seconds.
FIRST_TICK_WAIT_S = 5.0
# After a line's first prices, how long dividend() still waits for IB's dividend tick.
DIVIDEND_GRACE_S = 2.0
# wait() gives up when the server clock has not moved for this long (a frozen gateway).
CLOCK_STALL_S = 10.0
# Bound on waiting for commission reports that follow executions, wall seconds.
COMMISSION_WAIT_S = 2.0
_WORKING_IB = frozenset(
    {"PendingSubmit", "ApiPending", "PreSubmitted", "Submitted", "PendingCancel"}
)
_UNACKED_IB = frozenset({"", "PendingSubmit", "ApiPending"})
_BAG_EXCHANGE = "SMART"


@dataclass(slots=True)
class _Stream:
    contract: Contract
    ib_contract: IbContract
    ticker: Ticker


@dataclass(slots=True)
class _Sent:
    """What this process knows about one of its order references."""

    plan: m.OrderPlan
    tif: TimeInForce
    state: OrderState
    keys: list[tuple[int, int]] = field(default_factory=list)  # (client id, order id)
    perm_ids: set[int] = field(default_factory=set)  # IB's permanent ids, once acknowledged
    cancel_requested: bool = False
    local: bool = False  # decided here, never sent (e.g. market closed)


class IBCore(Broker):
    """State and session of the IB broker: the connection, the server clock, the helpers every section uses.

    ``IBBroker`` is assembled from one class per port section over this state
    (contracts, account, market data, orders): they share ib_async's tables
    and our bookkeeping, so they are mixins rather than objects passing it around.
    """

    def __init__(
        self,
        connection: IBConnectionManager,
        *,
        mode: TradingMode = TradingMode.PAPER,
        line_budget: int = 100,
        hours: MarketHours | None = None,
        rate: float = DEFAULT_RATE,
        div_yield: float = DEFAULT_DIV_YIELD,
        ack_timeout_s: float | None = None,
        clock_sync_s: float = DEFAULT_CLOCK_SYNC_S,
    ) -> None:
        if line_budget <= 0:
            raise ValueError(f"line_budget must be > 0, got {line_budget}")
        if not (math.isfinite(clock_sync_s) and clock_sync_s > 0):
            raise ValueError(f"clock_sync_s must be finite and > 0, got {clock_sync_s}")
        self.events = EventHub()
        self.connection = connection
        self._ib = connection.ib
        self._mode = TradingMode(mode)
        self._line_budget = int(line_budget)
        self._hours = hours
        self._rate = float(rate)
        self._div_yield = float(div_yield)
        self._ack_timeout_s = float(ack_timeout_s or self._ib.RequestTimeout or 30.0)
        self._clock_sync_s = float(clock_sync_s)
        # Two syncs a sync interval apart measure a server's rate; a real TWS runs at 1.
        self._clock = ServerClock(
            window=max(10.0, 2.5 * self._clock_sync_s),
            min_span=10.0,
            snap_to_real_time=True,
        )
        self._last_sync: float | None = None  # time.monotonic() of the last reqCurrentTime
        self._last_answer: tuple[float, float] | None = None  # (server s, mono) of that answer
        self._lost_server_s: float | None = None  # server time of the last 1100
        self._ib_line_cap: int | None = None  # lines IB really holds, learned from error 101
        self._refused: dict[int, int] = {}  # req id -> IB code, market-data lines refused
        self._pending_lines: set[str] = set()  # contract keys stream() is still settling
        self.refused_lines = 0  # market-data lines IB refused (error 101) so far
        self._dividends: dict[tuple[str, date], Dividend | None] = {}
        self._resolved: dict[str, Contract] = {}  # contract key -> resolved contract
        self._ib_contracts: dict[int, IbContract] = {}  # con_id -> qualified IB contract
        self._min_ticks: dict[int, float] = {}  # con_id -> minTick from contract details
        self._chains: dict[tuple[str, date], OptionChainInfo] = {}
        self._streams: dict[str, _Stream] = {}  # contract key -> streaming line
        self._sent: dict[str, _Sent] = {}  # order_ref -> what we sent or decided
        self._ref_by_key: dict[tuple[int, int], str] = {}  # (client id, order id) -> order_ref
        self._ref_by_perm: dict[int, str] = {}  # perm id -> order_ref
        self._order_errors: dict[tuple[int, int], m.OrderErrorInfo] = {}  # (client, order id)
        self._reconciled: set[tuple[int, int]] = set()
        self._subscribe()

    def _subscribe(self) -> None:
        """Connect ib_async's events and the connection's callbacks to the handlers (IBBroker)."""

    # --- session --------------------------------------------------------------------------
    @property
    def mode(self) -> TradingMode:
        return self._mode

    def connect(self) -> None:
        """Connect and sync (idempotent); a paper session must be on a paper account."""
        if self.connection.is_connected:
            return
        self.connection.connect()
        account = self.connection.account
        if self._mode is TradingMode.PAPER and account and not account.upper().startswith("D"):
            self.connection.disconnect()
            raise ConfigError(
                f"paper mode connected to {self.connection.masked_account}, which is not "
                "a paper account (those start with D): check ib.port"
            )
        self._clock.reset()
        self._last_sync = None
        self._server_now()

    def disconnect(self) -> None:
        """Disconnect (idempotent); streams are dropped, orders stay at IB."""
        self._streams.clear()
        self.connection.disconnect()

    @property
    def is_connected(self) -> bool:
        return self.connection.is_connected

    def now(self) -> datetime:
        """The server's time (UTC); simulated time on the simulated gateway."""
        return datetime.fromtimestamp(self._request(self._server_now), UTC)

    def wait(self, seconds: float) -> None:
        """Process IB events until the server clock has advanced by ``seconds``.

        Time between syncs comes from the local monotonic clock (times the
        server's rate): IB is asked for its time at most once per ``clock_sync_s``.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"wait: seconds must be finite and >= 0, got {seconds}")
        target = self._request(self._server_now) + seconds
        while True:
            now = self._request(self._server_now)
            if now >= target:
                return
            rate = max(self._clock.rate, 1e-3)
            step = (target - now) / rate
            if self._last_sync is not None:
                step = min(step, self._last_sync + self._sync_interval() - time.monotonic())
            self._ib.sleep(min(max(step, 0.001), 1.0))

    def is_market_open(self, contract: Contract) -> bool:
        """True when ``contract`` trades at ``now()`` (regular hours; CME hours for futures)."""
        return self._is_open(contract, self.now())

    # --- diagnostics (preflight) -------------------------------------------------------------
    @property
    def server_version(self) -> int:
        """The TWS API version the server negotiated."""
        self._session()
        return int(self._ib.client.serverVersion())

    def managed_accounts(self) -> list[str]:
        """Every account the server manages (plain ids: never log them)."""
        self._session()
        return [a for a in self._ib.managedAccounts() if a]

    def _on_link(self, connected: bool, reason: str) -> None:
        if connected:
            self._clock.reset()
            self._last_sync = None
            self._last_answer = None
        self.events.emit(ConnectionEvent(connected, reason))

    # --- helpers ---------------------------------------------------------------------------------------
    def _session(self) -> None:
        self.connection.ensure_connected()

    def _request(self, fn: Callable[[], T]) -> T:
        """Run a blocking request; after a dropped socket, reconnect and run it once more."""
        self._session()
        try:
            return fn()
        except ConnectionError:
            self._session()
            return fn()
        except TimeoutError:
            raise BrokerError("IB did not answer in time") from None

    def _server_now(self) -> float:
        """Server epoch seconds now: extrapolated locally, synced once per ``clock_sync_s``."""
        mono = time.monotonic()
        due = self._last_sync is None or mono - self._last_sync >= self._sync_interval()
        if not due:
            est = self._clock.estimate(mono)
            if est is not None:
                return est
        return self._sync_clock()

    def _sync_interval(self) -> float:
        """Real seconds between time requests: ``clock_sync_s``; for a declared simulated rate,
        at most ``SIMULATED_SYNC_SERVER_S`` of server time (its thread may lag the estimate)."""
        if not self._clock.declared:
            return self._clock_sync_s
        server_s = min(self._clock_sync_s, SIMULATED_SYNC_SERVER_S)
        return server_s / max(self._clock.rate, 1e-9)

    def _sync_clock(self) -> float:
        """Ask IB for its time (one reqCurrentTime) and re-anchor the local estimate."""
        server = self._ib.reqCurrentTime().timestamp()
        mono = time.monotonic()
        previous = self._last_answer
        self._last_sync = mono
        self._last_answer = (server, mono)
        if previous is not None and server <= previous[0] and mono - previous[1] > CLOCK_STALL_S:
            raise BrokerError(
                f"the broker clock has not moved for {mono - previous[1]:.0f} s "
                f"(more than {CLOCK_STALL_S:g} s)"
            )
        self._clock.observe(server, mono)
        est = self._clock.estimate(mono)
        assert est is not None
        return est

    def declare_clock_rate(self, rate: float) -> None:
        """Tell the clock the server's rate from now on (a simulated gateway whose speed we set)."""
        self._clock.declare_rate(rate, time.monotonic())

    def resync_clock(self, rate: float | None = None) -> None:
        """Re-read the server's time now (one request); ``rate``: the speed a simulated server was just set to.

        A real TWS never needs this. A harness that changes a simulated
        gateway's speed must call it, since between syncs time is extrapolated.
        """
        self._request(self._sync_clock)
        if rate is not None:
            self.declare_clock_rate(rate)

    def _event_ts(self) -> datetime:
        est = self._clock.estimate(time.monotonic())
        return datetime.fromtimestamp(est, UTC) if est is not None else datetime.now(UTC)

    def _market_hours(self) -> MarketHours:
        if self._hours is None:
            self._hours = MarketHours()
        return self._hours

    def _is_open(self, contract: Contract, when: datetime) -> bool:
        hours = self._market_hours()
        if contract.sec_type is SecType.FUTURE:
            return bool(hours.futures_is_open(when))
        return bool(hours.is_open(when))
