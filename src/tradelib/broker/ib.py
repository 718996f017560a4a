"""IBBroker: the broker port over ib_async (TWS, IB Gateway or the simulated gateway).

With ``tradelib.broker.connection`` this is the only module importing ib_async;
translation to and from domain types lives in ``tradelib.broker.ib_mapping``.

Choices worth knowing:

* Time is the server's: ``now()`` is the last reqCurrentTime answer carried
  forward on the local monotonic clock (times the server's rate: 1 for a real
  TWS), re-read at most once per ``ib.clock_sync_s``; ``wait()`` sleeps in
  ib_async until that estimate reaches the target. A simulated gateway whose
  speed we set declares its rate (``resync_clock``) and is re-read every
  second of its own time, so a fast gateway makes long waits short.
* Orders are idempotent by ``orderRef`` (or, when IB echoes it empty, by the
  order and perm ids recorded at send): before sending, IBBroker looks for an
  open or completed order or an execution with that reference (across client
  ids, after refreshing from the broker) and returns it instead. Orders outside
  regular hours are rejected locally (IB would otherwise queue a DAY order for
  the next open), as a value, like every other rejection.
* ib_async marks an order Cancelled after any non-warning error even where IB
  may still hold it: such orders are reconciled with the broker's open orders
  before their state is trusted; an error that really ended an order makes it
  REJECTED with IB's code and text.
* Snapshots use free streaming lines only (budget minus streams) as the batch
  size, so snapshots and streams together never exceed the line budget; IB's
  request pacing is ib_async's throttle (``ib.max_requests_per_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl
from ib_async import (
    ComboLeg,
    ExecutionFilter,
    Order,
    RequestError,
    Ticker,
    Trade,
)
from ib_async import Contract as IbContract
from ib_async import Fill as IbFill
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from tradelib.broker import ib_mapping as m
from tradelib.broker.connection import IBConnectionManager
from tradelib.broker.port import (
    Broker,
    ConnectionEvent,
    EventHub,
    FillEvent,
    OptionChainInfo,
    OrderStatusEvent,
    QuoteEvent,
    admit_streams,
)
from tradelib.domain import (
    NEW_YORK,
    AccountSnapshot,
    Contract,
    Dividend,
    Fill,
    Leg,
    OrderIntent,
    OrderState,
    OrderStatus,
    Position,
    Quote,
    SecType,
    TimeInForce,
    TradingMode,
)
from tradelib.errors import (
    BrokerError,
    ConfigError,
    ContractError,
    MarketDataLineLimitError,
    ReadOnlyModeError,
    UnknownOrderError,
)
from tradelib.markethours import MarketHours
from tradelib.pricing import TickRule, tick_rule_for

if TYPE_CHECKING:
    from tradelib.config import TradingConfig

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


class ServerClock:
    """The broker's clock, estimated from its whole-second currentTime answers.

    Samples are (server epoch seconds, local monotonic seconds). The rate
    (server seconds per local second) is measured over the newest samples
    spanning at least ``min_span`` server seconds within ``window`` local
    seconds, so whole-second truncation costs little; it is 1.0 until measured.
    """

    def __init__(
        self, *, window: float = 10.0, min_span: float = 10.0, snap_to_real_time: bool = False
    ) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=256)
        self._window = window
        self._min_span = min_span
        self._snap = snap_to_real_time
        self._declared = False
        self.rate = 1.0
        self._floor = -math.inf  # never go back in time

    def observe(self, server_s: float, mono: float) -> None:
        """Record that the server said ``server_s`` (truncated to the second) at ``mono``."""
        s = float(server_s) + 0.5  # centre the truncation error
        self._samples.append((s, mono))
        while self._samples and mono - self._samples[0][1] > self._window:
            self._samples.popleft()
        if self._declared:
            return
        for s0, m0 in self._samples:
            if s - s0 >= self._min_span and mono - m0 > 0:
                rate = max((s - s0) / (mono - m0), 0.0)
                if self._snap and abs(rate - 1.0) < REAL_TIME_RATE_TOLERANCE:
                    rate = 1.0  # whole-second truncation, not a server running off real time
                self.rate = rate
                break

    def declare_rate(self, rate: float, mono: float) -> None:
        """Take ``rate`` as known from ``mono`` on (a simulated server whose speed we set).

        The estimate at ``mono`` becomes the anchor, so time never jumps.
        """
        est = self.estimate(mono)
        if est is not None:
            self._samples.append((est, mono))
        self.rate = max(float(rate), 0.0)
        self._declared = True

    @property
    def declared(self) -> bool:
        """True once the rate was declared (a simulated server whose speed we set)."""
        return self._declared

    def estimate(self, mono: float, max_age: float = math.inf) -> float | None:
        """Server epoch seconds now (``mono``), never less than an earlier estimate.

        None when the newest sample is older than ``max_age``.
        """
        if not self._samples:
            return None
        s, m0 = self._samples[-1]
        if mono - m0 > max_age:
            return None
        value = max(s + (mono - m0) * self.rate, self._floor)
        self._floor = value
        return value

    def at(self, mono: float) -> float | None:
        """Server epoch seconds at a past or present ``mono`` (not clamped; None before any sample)."""
        if not self._samples:
            return None
        s, m0 = self._samples[-1]
        return s + (mono - m0) * self.rate

    def reset(self) -> None:
        """Forget every sample (the server may have changed); a declared rate is kept."""
        self._samples.clear()
        if not self._declared:
            self.rate = 1.0
        self._floor = -math.inf


@dataclass(frozen=True, slots=True)
class QuoteProbe:
    """What one market-data line really delivers (preflight)."""

    contract: Contract
    data_type: str  # "realtime" | "frozen" | "delayed" | "delayed_frozen" | "none"
    code: int | None = None  # IB's error or warning code for the line (354, 10167...)
    message: str = ""
    quote: Quote | None = None


@dataclass(frozen=True, slots=True)
class WhatIf:
    """IB's answer to a what-if order: accepted (with its margin change) or rejected."""

    accepted: bool
    code: int | None = None
    message: str = ""
    init_margin_change: float = math.nan


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


class IBBroker(Broker):
    """The broker port over an ``IBConnectionManager`` (ib_async underneath)."""

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
        self._ib.errorEvent += self._on_error
        self._ib.orderStatusEvent += self._on_order_status
        self._ib.commissionReportEvent += self._on_commission
        self._ib.pendingTickersEvent += self._on_tickers
        connection.on_restore.append(self._resubscribe)
        connection.on_state.append(self._on_link)

    @classmethod
    def from_config(
        cls,
        cfg: TradingConfig,
        role: str = "jobs",
        *,
        env: Mapping[str, str] | None = None,
        connection: IBConnectionManager | None = None,
    ) -> IBBroker:
        """Build for ``cfg.ib.mode`` paper, live (double opt-in checked) or readonly."""
        from tradelib.broker.modes import ensure_mode_allowed

        mode = ensure_mode_allowed(cfg, env)
        if mode is TradingMode.SIM:
            raise ConfigError(
                "ib.mode is 'sim': use SimBroker (tradelib.broker.modes.build_broker)"
            )
        return cls(
            connection or IBConnectionManager.from_config(cfg, role),
            mode=mode,
            line_budget=cfg.market_data.line_budget,
            hours=MarketHours(cfg.scheduler.calendar),
            rate=cfg.strategies.risk_free_rate,
            div_yield=DEFAULT_DIV_YIELD,
            clock_sync_s=cfg.ib.clock_sync_s,
        )

    def __repr__(self) -> str:
        state = "connected" if self.connection.is_connected else "disconnected"
        account = self.connection.masked_account or "-"
        return (
            f"IBBroker({account}, {self._mode.value}, {state}, client {self.connection.client_id})"
        )

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

    # --- account --------------------------------------------------------------------------
    def account(self) -> AccountSnapshot:
        """A fresh account summary (init/maint margin are IB's Full* requirements).

        BrokerError naming the fields when IB's answer leaves any balance out.
        """
        values = self._request(self._account_summary)
        missing = m.missing_account_fields(values)
        if missing:
            # NaN balances would pass silently through risk checks and the lake: refuse.
            raise BrokerError(
                f"IB's account summary for {self.connection.masked_account or 'the account'} "
                f"lacks {', '.join(missing)}: no snapshot without them (is the account "
                "managed by this session, and its summary subscription allowed?)"
            )
        return m.account_snapshot(values, self.now(), self.connection.masked_account)

    def positions(self) -> list[Position]:
        """Every non-zero position, freshly requested, with portfolio values where IB sent them."""
        rows = self._request(lambda: list(self._ib.reqPositions()))
        account = self.connection.account
        latest: dict[int, Any] = {}
        for row in rows:
            if not account or row.account == account:
                latest[int(row.contract.conId)] = row
        items = {int(i.contract.conId): i for i in self._ib.portfolio(account)}
        out: list[Position] = []
        for con_id, row in latest.items():
            if float(row.position) == 0:
                continue
            position = m.domain_position(row, items.get(con_id))
            out.append(position)
            self._remember(position.contract, row.contract)
        return out

    def _account_summary(self) -> dict[str, str]:
        """Request the summary tags once (and cancel: IB allows two live summary subscriptions)."""
        ib = self._ib
        req_id = ib.client.getReqId()
        future = ib.wrapper.startReq(req_id)  # type: ignore[no-untyped-call]
        # ib_async keeps rows of earlier summaries: only this answer's rows count.
        ib.wrapper.acctSummary.clear()
        ib.client.reqAccountSummary(req_id, "All", ",".join(m.SUMMARY_TAGS))  # type: ignore[no-untyped-call]
        try:
            ib.run(asyncio.wait_for(future, self._ack_timeout_s))
        finally:
            with contextlib.suppress(Exception):
                ib.client.cancelAccountSummary(req_id)  # type: ignore[no-untyped-call]
        account = self.connection.account
        values: dict[str, str] = {}
        for value in ib.wrapper.acctSummary.values():
            if account and value.account != account:
                continue
            if value.currency in ("", "USD", "BASE") or value.tag not in values:
                values[value.tag] = value.value
        return values

    # --- contracts --------------------------------------------------------------------------
    def resolve(self, contract: Contract) -> Contract:
        """Qualify ``contract`` with IB (cached); ContractError naming it if unknown or ambiguous."""
        self._session()
        return self._resolve(contract)

    def _resolve(self, contract: Contract) -> Contract:
        cached = self._resolved.get(contract.key)
        if cached is not None:
            return cached
        spec = IbContract(**m.contract_fields(contract))
        try:
            details = self._request(lambda: list(self._ib.reqContractDetails(spec)))
        except RequestError as exc:
            if exc.code == m.CODE_NO_SECURITY:
                details = []
            else:
                raise BrokerError(
                    f"resolving {contract.key}: {exc.message}", code=exc.code
                ) from None
        if not details:
            raise ContractError(f"no security definition for {contract.key} ({contract.symbol})")
        if len(details) > 1:
            raise ContractError(f"{contract.key} is ambiguous: {len(details)} contracts match")
        ib_contract = details[0].contract
        if ib_contract is None:
            raise ContractError(f"IB returned no contract for {contract.key}")
        resolved = m.domain_contract(ib_contract)
        self._remember(resolved, ib_contract, details[0].minTick)
        self._resolved[contract.key] = resolved
        return resolved

    def _remember(self, contract: Contract, ib_contract: IbContract, min_tick: float = 0.0) -> None:
        if contract.con_id:
            self._ib_contracts.setdefault(contract.con_id, ib_contract)
            if min_tick and math.isfinite(min_tick) and min_tick > 0:
                self._min_ticks[contract.con_id] = float(min_tick)
            self._resolved.setdefault(contract.key, contract)

    def _ib_contract(self, contract: Contract) -> IbContract:
        resolved = self._resolve(contract)
        assert resolved.con_id is not None
        return self._ib_contracts[resolved.con_id]

    def option_chain(self, underlying: str) -> OptionChainInfo:
        """Expiries from reqSecDefOptParams, strikes per expiry from contract details (cached per day)."""
        symbol = underlying.strip().upper()
        today = self.now().astimezone(NEW_YORK).date()
        cached = self._chains.get((symbol, today))
        if cached is not None:
            return cached
        stock = self._resolve(Contract.stock(symbol))
        rows = self._request(
            lambda: list(self._ib.reqSecDefOptParams(symbol, "", "STK", int(stock.con_id or 0)))
        )
        if not rows:
            raise ContractError(f"no option chain for {symbol}")
        row = next(
            (r for r in rows if r.exchange == "SMART" and r.tradingClass == symbol),
            next((r for r in rows if r.exchange == "SMART"), rows[0]),
        )
        expiries = sorted(
            d for d in (m.parse_ib_date(e) for e in row.expirations) if d is not None and d >= today
        )
        per_expiry = self._request(
            lambda: self._strikes_by_expiry(symbol, row.tradingClass, expiries)
        )
        chain = OptionChainInfo(
            symbol,
            tuple(expiries),
            per_expiry,
            float(row.multiplier or 100),
            row.tradingClass or symbol,
            "SMART",
        )
        self._chains[(symbol, today)] = chain
        return chain

    def _strikes_by_expiry(
        self, symbol: str, trading_class: str, expiries: Sequence[date]
    ) -> dict[date, tuple[float, ...]]:
        """Listed call strikes per expiry, one contract-details request per expiry, concurrently."""
        specs = [
            IbContract(
                secType="OPT",
                symbol=symbol,
                lastTradeDateOrContractMonth=m.ib_date(e),
                right="C",
                exchange="SMART",
                currency="USD",
                tradingClass=trading_class or symbol,
            )
            for e in expiries
        ]

        async def fetch() -> list[Any]:
            return list(
                await asyncio.gather(
                    *(self._ib.reqContractDetailsAsync(s) for s in specs), return_exceptions=True
                )
            )

        answers = self._ib.run(asyncio.wait_for(fetch(), self._ack_timeout_s))
        out: dict[date, tuple[float, ...]] = {}
        for expiry, details in zip(expiries, answers, strict=True):
            if isinstance(details, BaseException):
                continue
            strikes = sorted({float(d.contract.strike) for d in details})
            if strikes:
                out[expiry] = tuple(strikes)
            for d in details:
                c = m.domain_contract(d.contract)
                self._remember(c, d.contract, d.minTick)
        return out

    # --- market data --------------------------------------------------------------------------
    def snapshot(self, contracts: Sequence[Contract]) -> list[Quote]:
        """One quote per contract (same order); options carry IB's greeks, else our model's."""
        self._session()
        resolved = [self._resolve(c) for c in contracts]
        quotes = self._quotes(resolved)
        missing = m.spot_symbols(q for q in quotes)
        if missing:
            spots = {
                q.contract.symbol: q.mark
                for q in self._quotes([self._resolve(Contract.stock(s)) for s in sorted(missing)])
            }
            quotes = m.with_model_greeks(
                quotes, spots, self.now(), rate=self._rate, div_yield=self._div_yield
            )
        return quotes

    def _quotes(self, resolved: Sequence[Contract]) -> list[Quote]:
        by_key: dict[str, Quote] = {}
        todo: dict[str, Contract] = {}
        for c in resolved:
            stream = self._streams.get(c.key)
            if stream is not None and _has_data(stream.ticker):
                by_key[c.key] = m.domain_quote(c, stream.ticker, self._stream_ts())
            else:
                todo[c.key] = c
        if todo:
            tickers = self._request(lambda: self._snapshot_tickers(list(todo.values())))
            ts = self.now()
            for key, c in todo.items():
                ticker = tickers.get(key)
                by_key[key] = (
                    m.domain_quote(c, ticker, ts)
                    if ticker is not None
                    else Quote(contract=c, ts=ts)
                )
        return [by_key[c.key] for c in resolved]

    def _snapshot_tickers(self, contracts: Sequence[Contract]) -> dict[str, Ticker]:
        """Snapshot requests in batches no larger than the free streaming lines."""
        batch = max(1, self.line_budget - len(self._streams))
        specs = [(c.key, self._ib_contract(c)) for c in contracts]
        out: dict[str, Ticker] = {}

        async def one(spec: IbContract) -> Ticker | None:
            try:
                [ticker] = await self._ib.reqTickersAsync(spec)
            except RequestError as exc:
                log.warning("no snapshot for %s: %s", spec.localSymbol or spec.symbol, exc.message)
                return None
            return ticker

        async def fetch(chunk: list[tuple[str, IbContract]]) -> list[Ticker | None]:
            return list(await asyncio.gather(*(one(spec) for _, spec in chunk)))

        for i in range(0, len(specs), batch):
            chunk = specs[i : i + batch]
            tickers = self._ib.run(asyncio.wait_for(fetch(chunk), self._ack_timeout_s))
            for (key, _), ticker in zip(chunk, tickers, strict=True):
                if ticker is not None:
                    out[key] = ticker
        return out

    @property
    def line_budget(self) -> int:
        """The configured budget, or fewer when IB refused lines below it (error 101)."""
        if self._ib_line_cap is None:
            return self._line_budget
        return min(self._line_budget, self._ib_line_cap)

    def stream(self, contracts: Sequence[Contract]) -> None:
        """Start streaming; MarketDataLineLimitError (nothing started) if over the line budget.

        IB may hold fewer lines than the budget says (other sessions, a smaller
        subscription): a line it refuses with error 101 is cancelled with every
        other line of this call, the budget shrinks to what IB held, and the
        error carries code 101; those contracts stay on snapshots.
        """
        self._session()
        new = admit_streams(self._streams, [self._resolve(c) for c in contracts], self.line_budget)
        held_before = len(self._streams)
        req_ids: dict[str, int] = {}
        self._pending_lines = set(new)
        try:
            self._start_lines(new, req_ids)
        finally:
            self._pending_lines = set()
        refused = [k for k in new if req_ids[k] in self._refused]
        if not refused:
            return
        for key in new:  # all or nothing, as the port promises
            stream = self._streams.pop(key, None)
            if stream is not None:
                self._ib.cancelMktData(stream.ib_contract)
        for rid in req_ids.values():
            self._refused.pop(rid, None)
        self.refused_lines += len(refused)
        held = held_before + len(new) - len(refused)
        self._ib_line_cap = held if self._ib_line_cap is None else min(self._ib_line_cap, held)
        log.warning(
            "IB refused %d market-data line(s) with error %d (it holds %d): "
            "line budget lowered from %d to %d; those contracts stay on snapshots",
            len(refused),
            m.CODE_TOO_MANY_TICKERS,
            held,
            self._line_budget,
            self.line_budget,
        )
        raise MarketDataLineLimitError(
            in_use=held_before,
            budget=self.line_budget,
            requested=len(new),
            code=m.CODE_TOO_MANY_TICKERS,
        )

    def _start_lines(self, new: Mapping[str, Contract], req_ids: dict[str, int]) -> None:
        """Request every line of ``new``; return once each has data or was refused (or timed out)."""
        for key, c in new.items():
            ib_contract = self._ib_contract(c)
            ticker = self._ib.reqMktData(ib_contract, _generic_ticks(c), False, False)
            self._streams[key] = _Stream(c, ib_contract, ticker)
            req_ids[key] = self._ticker_req_id(ticker)
        deadline = time.monotonic() + min(self._ack_timeout_s, FIRST_TICK_WAIT_S)

        def settled() -> bool:
            return all(
                _has_data(self._streams[k].ticker) or req_ids[k] in self._refused for k in new
            )

        while not settled() and time.monotonic() < deadline:
            self._request(lambda: self._ib.sleep(0.01))

    def _ticker_req_id(self, ticker: Ticker) -> int:
        """The request id ib_async used for ``ticker``'s market-data line (0 if unknown)."""
        by_ticker: Mapping[Ticker, int] = self._ib.wrapper.ticker2ReqId.get("mktData", {})
        return int(by_ticker.get(ticker, 0))

    def unstream(self, contracts: Sequence[Contract]) -> None:
        """Stop streaming ``contracts`` (unknown ones are ignored)."""
        self._session()
        for c in contracts:
            key = self._resolved.get(c.key, c).key
            stream = self._streams.pop(key, None)
            if stream is not None:
                self._ib.cancelMktData(stream.ib_contract)

    def streaming(self) -> list[Contract]:
        """Contracts currently streaming."""
        self._session()
        return [s.contract for s in self._streams.values()]

    def latest(self, contract: Contract) -> Quote | None:
        """The streamed quote (None if not streaming or no data yet); stale while IB reports 1100."""
        self._session()
        stream = self._streams.get(contract.key)
        if stream is None or not _has_data(stream.ticker):
            return None
        quote = m.domain_quote(stream.contract, stream.ticker, self._stream_ts())
        if quote.contract.is_option and quote.greeks is None:
            und = self._streams.get(Contract.stock(quote.contract.symbol).key)
            if und is not None and _has_data(und.ticker):
                spot = m.domain_quote(und.contract, und.ticker, quote.ts).mark
                quote = m.with_model_greeks(
                    [quote],
                    {quote.contract.symbol: spot},
                    quote.ts,
                    rate=self._rate,
                    div_yield=self._div_yield,
                )[0]
        return quote

    def _stream_ts(self) -> datetime:
        """A live line reflects the market now; after 1100 its data dates from the loss."""
        lost = self.connection.data_lost_at
        if lost is None:
            est = self._clock.estimate(time.monotonic())
        elif self._lost_server_s is not None:
            est = self._lost_server_s
        else:
            est = self._clock.at(lost)
        if est is None:
            return self.now()
        return datetime.fromtimestamp(est, UTC)

    def dividend(self, symbol: str) -> Dividend | None:
        """The next ex-dividend date and amount of ``symbol`` (None when IB reports none).

        Read from IB's dividend tick (generic tick 456, tick type 59) of the
        stock's line, streaming already or opened for the question and released
        (it needs one free line: MarketDataLineLimitError otherwise). Cached per day.
        """
        self._session()
        sym = symbol.strip().upper()
        today = self.now().astimezone(NEW_YORK).date()
        if (sym, today) in self._dividends:
            return self._dividends[(sym, today)]
        stock = self._resolve(Contract.stock(sym))
        stream = self._streams.get(stock.key)
        if stream is not None:
            answer = self._await_dividends(stream.ticker, 0)
        else:
            admit_streams(self._streams, [stock], self.line_budget)
            ib_contract = self._ib_contract(stock)
            ticker = self._ib.reqMktData(ib_contract, m.GENERIC_DIVIDENDS, False, False)
            req_id = self._ticker_req_id(ticker)
            try:
                answer = self._await_dividends(ticker, req_id)
            finally:
                self._ib.cancelMktData(ib_contract)
            if self._refused.pop(req_id, None) is not None:
                self.refused_lines += 1
                raise MarketDataLineLimitError(
                    in_use=len(self._streams),
                    budget=self.line_budget,
                    requested=1,
                    code=m.CODE_TOO_MANY_TICKERS,
                )
        dividend = m.domain_dividend(sym, answer)
        self._dividends[(sym, today)] = dividend
        return dividend

    def _await_dividends(self, ticker: Ticker, req_id: int) -> Any:
        """Wait for ``ticker``'s dividend tick: IB sends it with the line's first ticks."""
        deadline = time.monotonic() + min(self._ack_timeout_s, FIRST_TICK_WAIT_S)
        data_at: float | None = None
        while ticker.dividends is None and req_id not in self._refused:
            mono = time.monotonic()
            if mono > deadline or (data_at is not None and mono - data_at > DIVIDEND_GRACE_S):
                break  # a stock without dividends may never get the tick
            if data_at is None and _has_data(ticker):
                data_at = mono
            self._request(lambda: self._ib.sleep(0.01))
        return ticker.dividends

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

    def account_values(self) -> dict[str, str]:
        """The account summary as IB sent it (tag -> text), e.g. AccountType."""
        return self._request(self._account_summary)

    def probe_quotes(self, contracts: Sequence[Contract]) -> list[QuoteProbe]:
        """Open one line at a time and report what arrives: real-time, delayed or nothing (+ IB's code)."""
        self._session()
        notes: dict[int, tuple[int, str]] = {}

        def on_error(req_id: int, code: int, message: str, contract: Any) -> None:
            notes.setdefault(req_id, (code, message))

        self._ib.errorEvent += on_error
        try:
            self._ib.reqMarketDataType(1)  # ask for what the jobs need: real time
            return [self._probe_one(self._resolve(c), notes) for c in contracts]
        finally:
            self._ib.errorEvent -= on_error

    def _probe_one(self, contract: Contract, notes: Mapping[int, tuple[int, str]]) -> QuoteProbe:
        admit_streams(self._streams, [contract], self.line_budget)
        ib_contract = self._ib_contract(contract)
        fresh: list[bool] = []  # ib_async shares one ticker per contract: wait for new ticks

        def on_tickers(tickers: Any) -> None:
            if any(t is ticker for t in tickers):
                fresh.append(True)

        ticker = self._ib.reqMktData(ib_contract, "", False, False)
        self._ib.pendingTickersEvent += on_tickers
        req_id = self._ticker_req_id(ticker)
        deadline = time.monotonic() + min(self._ack_timeout_s, FIRST_TICK_WAIT_S)
        try:
            while not (fresh and _has_data(ticker)) and time.monotonic() < deadline:
                note = notes.get(req_id)
                if note is not None and not m.is_warning(note[0]):
                    break
                self._request(lambda: self._ib.sleep(0.02))
        finally:
            self._ib.pendingTickersEvent -= on_tickers
            self._ib.cancelMktData(ib_contract)
        self._refused.pop(req_id, None)
        code, message = notes.get(req_id, (None, ""))
        if not (fresh and _has_data(ticker)):
            return QuoteProbe(contract, "none", code, message)
        kind = m.MAP_MARKET_DATA_TYPE.get(int(ticker.marketDataType or 1), "realtime")
        quote = m.domain_quote(contract, ticker, self._event_ts())
        return QuoteProbe(contract, kind, code, message, quote)

    def what_if(self, intent: OrderIntent) -> WhatIf:
        """Ask IB whether it would accept ``intent`` (a what-if: nothing is placed, any mode)."""
        self._session()
        try:
            legs = tuple(Leg(self._resolve(leg.contract), leg.ratio) for leg in intent.legs)
        except ContractError as exc:
            return WhatIf(False, m.CODE_NO_SECURITY, exc.message)
        plan = m.plan_order(replace(intent, legs=legs), self._tick_rule(legs))
        contract = self._order_contract(legs, plan)
        order = Order(**plan.order_fields(self.connection.account), whatIf=True)
        try:
            state = self._request(lambda: self._ib.whatIfOrder(contract, order))
        except RequestError as exc:
            return WhatIf(False, exc.code, exc.message)
        change = getattr(state, "initMarginChange", "")
        try:
            margin = float(change)
        except (TypeError, ValueError):
            margin = math.nan
        return WhatIf(True, init_margin_change=margin)

    def _resubscribe(self, new_session: bool) -> None:
        """Re-request every streaming line (after a reconnect or IB's 1101); never blocks."""
        for key, stream in list(self._streams.items()):
            if not new_session:  # 1101: IB dropped the line, ib_async still holds its ticker
                self._ib.cancelMktData(stream.ib_contract)
            ticker = self._ib.reqMktData(
                stream.ib_contract, _generic_ticks(stream.contract), False, False
            )
            self._streams[key] = _Stream(stream.contract, stream.ib_contract, ticker)
        if self._streams:
            log.info("resubscribed %d market-data lines", len(self._streams))

    def bars(
        self, contract: Contract, start: datetime, end: datetime, bar_seconds: int
    ) -> pl.DataFrame:
        """Historical OHLCV bars in [start, end); IB's 162 is retried with backoff, then raised."""
        self._session()
        ib_contract = self._ib_contract(contract)
        size = m.bar_size_setting(bar_seconds)
        duration = m.duration_text((end - start).total_seconds())
        attempts = self.connection.connect_retries + 1

        def fetch() -> list[Any]:
            return list(
                self._ib.reqHistoricalData(
                    ib_contract,
                    endDateTime=m.ib_datetime(end),
                    durationStr=duration,
                    barSizeSetting=size,
                    whatToShow="TRADES",
                    useRTH=False,
                    formatDate=2,
                )
            )

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self.connection.retry_backoff_s, exp_base=2),
            retry=retry_if_exception(
                lambda e: isinstance(e, RequestError) and e.code == m.CODE_HISTORICAL_DATA
            ),
            reraise=True,
        )
        try:
            rows = retrying(lambda: self._request(fetch))
        except RequestError as exc:
            raise BrokerError(
                f"historical data for {contract.key}: {exc.message}", code=exc.code
            ) from None
        day_start = self._day_start
        records = [
            (m.bar_start(b.date, day_start), b.open, b.high, b.low, b.close, float(b.volume))
            for b in rows
        ]
        df = pl.DataFrame(
            records,
            schema={
                "ts": pl.Datetime("us", "UTC"),
                "open": pl.Float64,
                "high": pl.Float64,
                "low": pl.Float64,
                "close": pl.Float64,
                "volume": pl.Float64,
            },
            orient="row",
        )
        return df.filter((pl.col("ts") >= start) & (pl.col("ts") < end))

    def _day_start(self, day: date) -> datetime:
        hours = self._market_hours()
        if hours.is_trading_day(day):
            return hours.session_bounds(day)[0]
        return m.session_day_start(day)

    # --- orders -----------------------------------------------------------------------------------
    def place_order(self, intent: OrderIntent) -> OrderState:
        """Send ``intent`` once: an order or execution with its order_ref is returned instead."""
        self._session()
        if not self._mode.may_place_orders:
            raise ReadOnlyModeError(action=f"place order {intent.order_ref}")
        existing = self._lookup(intent.order_ref, refresh=True)
        if existing is not None:
            return existing
        now = self.now()
        try:
            legs = tuple(Leg(self._resolve(leg.contract), leg.ratio) for leg in intent.legs)
        except ContractError as exc:
            return self._decide_locally(intent, now, exc.message, m.CODE_NO_SECURITY)
        closed = [leg.contract.key for leg in legs if not self._is_open(leg.contract, now)]
        if closed:
            return self._decide_locally(
                intent,
                now,
                f"market closed for {', '.join(closed)} at {now:%Y-%m-%d %H:%M} UTC",
                m.CODE_ORDER_REJECTED,
            )
        plan = m.plan_order(replace(intent, legs=legs), self._tick_rule(legs))
        ib_contract = self._order_contract(legs, plan)
        order = Order(**plan.order_fields(self.connection.account))
        pending = OrderState(
            order_ref=intent.order_ref,
            status=OrderStatus.PENDING,
            quantity=intent.quantity,
            limit_price=None if plan.limit_price is None else plan.limit_price * plan.price_factor,
            updated_at=now,
        )
        sent = _Sent(plan, intent.tif, pending)
        self._sent[intent.order_ref] = sent
        try:
            trade = self._ib.placeOrder(ib_contract, order)
            key = (int(self.connection.client_id or 0), int(trade.order.orderId))
            sent.keys.append(key)
            self._ref_by_key[key] = intent.order_ref
            deadline = time.monotonic() + self._ack_timeout_s
            while trade.orderStatus.status in _UNACKED_IB and time.monotonic() < deadline:
                if not self._ib.isConnected():
                    raise ConnectionError("connection lost before IB acknowledged the order")
                self._ib.sleep(0.002)
        except ConnectionError:
            # Whether IB got it is unknown: ask IB, never resend blindly.
            self._session()
            found = self._lookup(intent.order_ref, refresh=True)
            if found is not None:
                return found
            sent.state = replace(
                pending, reason="connection lost before IB acknowledged the order; not at IB"
            )
            return sent.state
        return self._trade_state(trade, reconcile=True)

    def _decide_locally(
        self, intent: OrderIntent, now: datetime, reason: str, code: int
    ) -> OrderState:
        state = OrderState(
            order_ref=intent.order_ref,
            status=OrderStatus.REJECTED,
            quantity=intent.quantity,
            limit_price=intent.limit_price,
            updated_at=now,
            reason=reason,
            error_code=code,
        )
        plan = m.OrderPlan(
            "BUY", intent.quantity, "LMT", intent.limit_price, "DAY", intent.order_ref, (), 1.0, 1
        )
        self._sent[intent.order_ref] = _Sent(plan, intent.tif, state, local=True)
        self.events.emit(OrderStatusEvent(state))
        return state

    def _order_contract(self, legs: Sequence[Leg], plan: m.OrderPlan) -> IbContract:
        """The leg's own contract for a single leg, else a BAG of the plan's combo legs."""
        if not plan.is_combo:
            return self._ib_contract(legs[0].contract)
        combo = [
            ComboLeg(conId=leg.con_id, ratio=leg.ratio, action=leg.action, exchange=_BAG_EXCHANGE)
            for leg in plan.combo_legs
        ]
        return IbContract(
            secType="BAG",
            symbol=legs[0].contract.symbol,
            exchange=_BAG_EXCHANGE,
            currency="USD",
            comboLegs=combo,
        )

    def _tick_rule(self, legs: Sequence[Leg]) -> TickRule:
        """The option class's tick rule (coarsest safe grid); a single future or stock uses its minTick."""
        options = [leg.contract for leg in legs if leg.contract.is_option]
        if options:
            return tick_rule_for(options[0].trading_class or options[0].symbol)
        c = legs[0].contract
        min_tick = self._min_ticks.get(int(c.con_id or 0), 0.01)
        return TickRule.fixed(min_tick)

    def cancel_order(self, order_ref: str) -> OrderState:
        """Cancel a working order and wait for IB's answer; a terminal order is returned unchanged."""
        self._session()
        if not self._mode.may_place_orders:
            raise ReadOnlyModeError(action=f"cancel order {order_ref}")
        trade = self._find_trade(order_ref)
        if trade is None:
            self._request(self._refresh_orders)
            trade = self._find_trade(order_ref)
        if trade is None:
            state = self._lookup(order_ref, refresh=False)
            if state is None:
                raise UnknownOrderError(order_ref=order_ref)
            return state
        state = self._trade_state(trade, reconcile=True)
        if state.status.is_terminal:
            return state
        sent = self._sent.get(order_ref)
        if sent is not None:
            sent.cancel_requested = True
        self._ib.cancelOrder(trade.order)
        deadline = time.monotonic() + self._ack_timeout_s
        while not trade.isDone() and time.monotonic() < deadline:
            self._request(lambda: self._ib.sleep(0.002))
        return self._trade_state(trade, reconcile=True)

    def order(self, order_ref: str) -> OrderState | None:
        """Current state of the order with ``order_ref`` (None if IB has none and we sent none)."""
        self._session()
        return self._lookup(order_ref, refresh=False)

    def open_orders(self) -> list[OrderState]:
        """Every working order of the account (all client ids), fresh from IB."""
        self._session()
        trades = self._request(lambda: list(self._ib.reqAllOpenOrders()))
        out = []
        for trade in trades:
            if trade.orderStatus.status not in _WORKING_IB:
                continue
            state = self._trade_state(trade, reconcile=False)
            if not state.status.is_terminal:
                out.append(state)
        return out

    def executions(self, since: datetime | None = None) -> list[Fill]:
        """Leg fills since ``since`` (default: midnight New York of today), with commissions."""
        self._session()
        if since is None:
            local = self.now().astimezone(NEW_YORK)
            since = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        self._request(lambda: self._ib.reqExecutions(ExecutionFilter()))
        legs = [f for f in self._ib.fills() if f.contract.secType != "BAG"]
        deadline = time.monotonic() + COMMISSION_WAIT_S
        while any(not m.has_commission(f) for f in legs) and time.monotonic() < deadline:
            self._request(lambda: self._ib.sleep(0.005))
        fills = [self._domain_fill(f) for f in legs]
        return sorted((f for f in fills if f.ts >= since), key=lambda f: (f.ts, f.exec_id))

    # --- order bookkeeping ---------------------------------------------------------------------------
    def _find_trade(self, order_ref: str) -> Trade | None:
        matches = [t for t in self._ib.trades() if self._ref_of(t) == order_ref]
        if not matches:
            return None
        live = [t for t in matches if not t.isDone()]
        return max(live or matches, key=lambda t: (t.order.permId, t.order.orderId))

    def _ref_of(self, trade: Trade) -> str:
        """The order_ref of ``trade``: IB's echo, else the ids recorded when it was sent."""
        order = trade.order
        if order.orderRef:
            return str(order.orderRef)
        by_perm = self._ref_by_perm.get(int(order.permId or 0))
        if by_perm is not None:
            return by_perm
        return self._ref_by_key.get((int(order.clientId), int(order.orderId)), "")

    def _exec_ref(self, fill: IbFill) -> str:
        """The order_ref of an execution: IB's echo, else the ids recorded when it was sent."""
        ex = fill.execution
        if ex.orderRef:
            return str(ex.orderRef)
        by_perm = self._ref_by_perm.get(int(ex.permId or 0))
        if by_perm is not None:
            return by_perm
        return self._ref_by_key.get((int(ex.clientId), int(ex.orderId)), "")

    def _fills_of(self, order_ref: str) -> list[IbFill]:
        """Executions of ``order_ref``: by IB's orderRef echo, else by the recorded ids."""
        return [f for f in self._ib.fills() if self._exec_ref(f) == order_ref]

    def _domain_fill(self, fill: IbFill) -> Fill:
        """A leg fill carrying our order_ref even when IB echoed it empty."""
        out = m.domain_fill(fill)
        if not out.order_ref:
            ref = self._exec_ref(fill)
            if ref:
                out = replace(out, order_ref=ref)
        return out

    def _refresh_orders(self) -> None:
        """Pull today's open and completed orders of every client from IB.

        Executions are not pulled here: an order that executed is open or completed,
        and its fills are fetched only when its totals are needed (``_trade_state``).
        """
        self._ib.reqAllOpenOrders()
        with contextlib.suppress(RequestError):
            self._ib.reqCompletedOrders(False)

    def _lookup(self, order_ref: str, *, refresh: bool) -> OrderState | None:
        """The broker's state of ``order_ref``: its order, else its executions, else our decision."""
        trade = self._find_trade(order_ref)
        fills = self._fills_of(order_ref)
        if trade is None and not fills and refresh:
            self._request(self._refresh_orders)
            trade = self._find_trade(order_ref)
            fills = self._fills_of(order_ref)
        if trade is not None:
            return self._trade_state(trade, reconcile=True)
        sent = self._sent.get(order_ref)
        if fills:
            plan = sent.plan if sent is not None else _plan_from_fills(order_ref, fills)
            return m.state_from_fills(plan, fills, self.now())
        if sent is not None and (sent.local or sent.state.status.is_terminal):
            return sent.state
        return None

    def _trade_state(self, trade: Trade, *, reconcile: bool) -> OrderState:
        key = (int(trade.order.clientId), int(trade.order.orderId))
        error = self._order_errors.get(key)
        if (
            reconcile
            and error is not None
            and trade.orderStatus.status in ("Cancelled", "ApiCancelled")
            and key not in self._reconciled
        ):
            # ib_async cancels an order on any error; ask IB whether it is really gone.
            self._reconciled.add(key)
            with contextlib.suppress(RequestError, asyncio.TimeoutError):
                self._request(lambda: self._ib.reqAllOpenOrders())
        ref = self._ref_of(trade)
        sent = self._sent.get(ref)
        perm = int(trade.order.permId or 0)
        if sent is not None and perm and perm not in sent.perm_ids:
            sent.perm_ids.add(perm)
            self._ref_by_perm[perm] = ref
        plan = (
            sent.plan
            if sent is not None and not sent.local
            else replace(
                m.plan_of_ib_order(trade.order, trade.contract.secType == "BAG"), order_ref=ref
            )
        )
        reason = ""
        status = trade.orderStatus.status
        if status in ("Cancelled", "ApiCancelled") and error is None:
            reason = self._cancel_reason(trade, sent)
        elif status == "Inactive" and error is None:
            reason = "inactive at IB"
        state = m.order_state(
            plan,
            trade.orderStatus,
            trade.order,
            updated_at=self._event_ts(),
            error=error,
            reason=reason,
        )
        if state.filled_quantity == 0 and status in ("Filled", "Cancelled", "ApiCancelled"):
            # A completed order (listed after a reconnect) carries no fill totals: use its executions.
            fills = self._fills_of(ref)
            if not fills and reconcile and status == "Filled":
                self._request(lambda: self._ib.reqExecutions(ExecutionFilter()))
                fills = self._fills_of(ref)
            if fills:
                known = m.state_from_fills(plan, fills, state.updated_at or self._event_ts())
                state = replace(
                    state,
                    filled_quantity=known.filled_quantity,
                    avg_fill_price=known.avg_fill_price,
                )
        if sent is not None and not sent.local:
            sent.state = state
        return state

    def _cancel_reason(self, trade: Trade, sent: _Sent | None) -> str:
        if sent is not None and sent.cancel_requested:
            return "cancelled by request"
        tif = sent.tif if sent is not None else TimeInForce(trade.order.tif or "DAY")
        if tif is TimeInForce.DAY:
            legs = [self._resolved_by_con_id(trade.contract)]
            est = self._event_ts()
            if all(c is not None and not self._is_open(c, est) for c in legs):
                return "day order expired at the close"
        return "cancelled by IB"

    def _resolved_by_con_id(self, ib_contract: IbContract) -> Contract | None:
        if ib_contract.secType == "BAG":
            legs = ib_contract.comboLegs or []
            con_id = int(legs[0].conId) if legs else 0
        else:
            con_id = int(ib_contract.conId)
        for c in self._resolved.values():
            if c.con_id == con_id:
                return c
        if ib_contract.secType != "BAG":
            with contextlib.suppress(ContractError):
                return m.domain_contract(ib_contract)
        return None

    # --- events from ib_async (inside its loop: never block here) -----------------------------------
    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if code == m.CODE_CONNECTIVITY_LOST:
            # The server time when quotes stopped: the clock's rate may change before they resume.
            self._lost_server_s = self._clock.estimate(time.monotonic())
        if req_id <= 0 or m.is_warning(code) or code in m.SYSTEM_CODES:
            return
        if code == m.CODE_TOO_MANY_TICKERS:
            self._line_refused(req_id)
            return
        client = int(self.connection.client_id or 0)
        if (client, req_id) in self._ib.wrapper.trades or any(
            (client, req_id) in s.keys for s in self._sent.values()
        ):
            self._order_errors[(client, req_id)] = m.OrderErrorInfo(code, message)
            self._reconciled.discard((client, req_id))

    def _line_refused(self, req_id: int) -> None:
        """IB refused a market-data line (101): note it; a line already kept is dropped now."""
        self._refused[req_id] = m.CODE_TOO_MANY_TICKERS
        for key, stream in list(self._streams.items()):
            if key in self._pending_lines or self._ticker_req_id(stream.ticker) != req_id:
                continue
            # A resubscription IB refused: the line is gone, its quotes come from snapshots.
            del self._streams[key]
            self._refused.pop(req_id, None)
            self._ib.cancelMktData(stream.ib_contract)
            self.refused_lines += 1
            self._ib_line_cap = len(self._streams)
            log.warning(
                "IB refused the market-data line of %s (error %d): back to snapshots, "
                "line budget now %d",
                key,
                m.CODE_TOO_MANY_TICKERS,
                self.line_budget,
            )

    def _on_order_status(self, trade: Trade) -> None:
        if self._ref_of(trade):
            self.events.emit(OrderStatusEvent(self._trade_state(trade, reconcile=False)))

    def _on_commission(self, trade: Trade, fill: IbFill, report: Any) -> None:
        if fill.contract.secType != "BAG":
            with contextlib.suppress(ContractError):
                self.events.emit(FillEvent(self._domain_fill(fill)))

    def _on_tickers(self, tickers: Any) -> None:
        if not self._streams:
            return
        ts = self._stream_ts()
        by_ticker = {id(s.ticker): s for s in self._streams.values()}
        for ticker in tickers:
            stream = by_ticker.get(id(ticker))
            if stream is not None and _has_data(ticker):
                self.events.emit(QuoteEvent(m.domain_quote(stream.contract, ticker, ts)))

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


def _has_data(ticker: Ticker) -> bool:
    return any(
        math.isfinite(x) and x != -1.0 for x in (ticker.bid, ticker.ask, ticker.last, ticker.close)
    )


def _generic_ticks(contract: Contract) -> str:
    """Open interest (generic tick 101) for options; IB's dividends (456) for stocks."""
    if contract.is_option:
        return m.GENERIC_OPEN_INTEREST
    return m.GENERIC_DIVIDENDS if contract.sec_type is SecType.STOCK else ""


def _plan_from_fills(order_ref: str, fills: Sequence[IbFill]) -> m.OrderPlan:
    bag = any(f.contract.secType == "BAG" for f in fills)
    rows = [f for f in fills if (f.contract.secType == "BAG") == bag]
    side = rows[0].execution.side if rows else "BOT"
    sign = m.MAP_EXEC_SIGN.get(side.upper(), 1)
    shares = int(sum(float(f.execution.shares) for f in rows))
    return m.OrderPlan(
        "BUY" if sign > 0 else "SELL",
        max(shares, 1),
        "LMT",
        None,
        "DAY",
        order_ref,
        (m.ComboLegPlan(0, 1, "BUY"),) if bag else (),
        float(sign),
        1,
    )


__all__ = ["IBBroker", "QuoteProbe", "ServerClock", "WhatIf"]
