"""SimGateway: a TWS API socket server (server version 178) over one SimBroker.

One asyncio server on 127.0.0.1; each connection is a ``ClientSession``
keyed by its client id (a duplicate id gets error 326 and is closed). The
gateway owns nothing of the account: ``SimBroker`` holds cash, positions,
orders and fills; the gateway translates requests into broker calls and
broker events back into IB messages, routing order traffic to the client
that placed the order. A clock task advances the market at ``speed`` x real
time through ``broker.wait`` (which matches working orders) and pushes
market-data changes, position changes and periodic account updates.

``faults`` (a ``FaultInjector``) breaks the gateway on purpose for tests and
the CLI; a few IB rules hold whatever is armed: at most ``line_limit``
streaming lines per client (error 101) and limit prices on the contract's
tick grid (error 110).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

import polars as pl

from tradelib.broker.port import BrokerEvent, FillEvent, OrderStatusEvent
from tradelib.broker.sim import SimBroker
from tradelib.domain import (
    NEW_YORK,
    AccountSnapshot,
    Contract,
    Fill,
    OrderState,
    OrderStatus,
    Position,
    SecType,
)
from tradelib.errors import BrokerError, ContractError
from tradelib.gateway import parsing as p
from tradelib.gateway.contracts import OPTION_EXCHANGES, ContractCatalog
from tradelib.gateway.control import FaultControlServer
from tradelib.gateway.faults import DEFAULT_LINE_LIMIT, FaultInjector, FaultState, GatewayStats
from tradelib.gateway.history import DailyBar, session_bars
from tradelib.gateway.marketdata import Message, quote_ticks
from tradelib.gateway.orders import (
    GatewayOrder,
    GatewayOrderError,
    build_intent,
    completed_reason,
    completed_status_text,
    off_tick,
)
from tradelib.gateway.parsing import ErrorCode, FieldReader, In, WireContract, WireExecution
from tradelib.gateway.session import ClientSession, Line
from tradelib.pricing import TickRule, tick_rule_for
from tradelib.secrets import mask_account
from tradelib.sim import dividends

log = logging.getLogger("tradelib.gateway")

__all__ = ["ClientSession", "SimGateway"]

BAG_CON_ID = 28812380  # the con_id IB reports for every combo contract
EXPIRY_PERM_ID_BASE = 3_000_000  # perm ids of exercise / assignment / expiry executions
EXPIRY_REF_PREFIX = "expiry:"  # SimBroker's order_ref prefix on settlement fills
REFUSED_PERM_ID_BASE = 2_500_000  # perm ids of orders the gateway refused (110, injected 201)
RESTART_WINDOW = timedelta(minutes=2)  # market time a daily restart refuses sessions
ACCOUNT_PUSH_S = 3.0  # real seconds between account/portfolio pushes to subscribers
_BAR_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]
DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


@dataclass(frozen=True, slots=True)
class _ExecRecord:
    client_id: int
    contract: WireContract
    execution: WireExecution
    commission: float | None  # None: no commission report (BAG summary rows)


Handler = Callable[[ClientSession, list[str]], None]
# What a malformed request raises while it is parsed (answered with 321, no traceback).
_BAD_REQUEST = (ValueError, IndexError, KeyError, OverflowError, ArithmeticError, ContractError)
# Requests whose first field after the id (and version) is the request or order id.
_ID_AT: dict[int, int] = {
    In.PLACE_ORDER: 1,
    In.REQ_HISTORICAL_DATA: 1,
    In.REQ_SEC_DEF_OPT_PARAMS: 1,
}


def _naked_short(legs: Sequence[tuple[Contract, int]]) -> bool:
    """True when some right is sold in more contracts than it is bought (IB-signed ratios)."""
    by_right: dict[object, int] = {}
    for c, ratio in legs:
        by_right[c.right] = by_right.get(c.right, 0) + ratio
    return any(n < 0 for n in by_right.values())


def _request_id(msg_id: int, fields: Sequence[str]) -> int:
    """The request (or order) id a malformed message carried, -1 when it has none readable."""
    at = _ID_AT.get(msg_id, 2)
    try:
        return int(fields[at])
    except (IndexError, ValueError):
        return p.NO_REQ_ID


class SimGateway:
    """A simulated TWS / IB Gateway serving the real API socket protocol over ``broker``.

    ``line_limit`` is IB's cap on streaming market-data lines per client
    (error 101 past it); ``control_port`` (0 = any free port) also serves the
    fault control line protocol of ``tradelib.gateway.control``.
    """

    def __init__(
        self,
        broker: SimBroker,
        host: str = "127.0.0.1",
        port: int = 7497,
        speed: float = 1.0,
        account: str = "DU0000001",  # a fake paper-style account of the simulated gateway
        tick_interval: float = 0.25,
        accounts: Sequence[str] | None = None,
        line_limit: int = DEFAULT_LINE_LIMIT,
        control_port: int | None = None,
    ) -> None:
        if not (math.isfinite(speed) and speed >= 0):
            raise ValueError(f"speed must be finite and >= 0, got {speed}")
        if not tick_interval > 0:
            raise ValueError(f"tick_interval must be > 0, got {tick_interval}")
        if line_limit < 0:
            raise ValueError(f"line_limit must be >= 0, got {line_limit}")
        self.broker = broker
        self.host = host
        self.speed = float(speed)
        # Every account the gateway manages; the first holds SimBroker's ledger.
        self.accounts: tuple[str, ...] = tuple(accounts) if accounts else (account,)
        self.account = self.accounts[0]
        self.tick_interval = float(tick_interval)
        self.catalog = ContractCatalog(broker.market)
        self._requested_port = port
        self._fault_state = FaultState(line_limit=int(line_limit))
        self.faults = FaultInjector(self, self._fault_state)
        self.loop: asyncio.AbstractEventLoop | None = None  # set while the gateway runs
        self._control_port = control_port
        self._control: FaultControlServer | None = None
        self._expiry_seq = 0
        self._restart_until: datetime | None = None  # market time a daily restart ends
        self._refused_seq = 0
        self._server: asyncio.Server | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._sessions: dict[int, ClientSession] = {}  # client id -> session
        self._all_sessions: set[ClientSession] = set()
        self._orders_by_key: dict[tuple[int, int], GatewayOrder] = {}  # (client, order id)
        self._orders_by_ref: dict[str, GatewayOrder] = {}  # SimBroker order_ref -> order
        self._next_ids: dict[int, int] = {}  # client id -> next valid order id
        self._execs: list[_ExecRecord] = []
        self._last_positions: dict[int, tuple[float, float]] = {}  # con_id -> (qty, avg cost)
        self._positions_dirty = False
        self._close_cache: dict[tuple[int, str], float] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._handlers: dict[int, Handler] = {
            In.START_API: self._start_api,
            In.REQ_IDS: self._req_ids,
            In.REQ_CURRENT_TIME: self._req_current_time,
            In.REQ_POSITIONS: self._req_positions,
            In.CANCEL_POSITIONS: self._cancel_positions,
            In.REQ_OPEN_ORDERS: self._req_open_orders,
            In.REQ_ALL_OPEN_ORDERS: self._req_all_open_orders,
            In.REQ_AUTO_OPEN_ORDERS: self._ignore,
            In.REQ_COMPLETED_ORDERS: self._req_completed_orders,
            In.REQ_ACCT_DATA: self._req_account_updates,
            In.REQ_ACCOUNT_UPDATES_MULTI: self._req_account_updates_multi,
            In.CANCEL_ACCOUNT_UPDATES_MULTI: self._ignore,
            In.REQ_ACCOUNT_SUMMARY: self._req_account_summary,
            In.CANCEL_ACCOUNT_SUMMARY: self._ignore,
            In.REQ_EXECUTIONS: self._req_executions,
            In.REQ_MANAGED_ACCTS: self._req_managed_accounts,
            In.REQ_CONTRACT_DATA: self._req_contract_details,
            In.REQ_SEC_DEF_OPT_PARAMS: self._req_sec_def_opt_params,
            In.REQ_MARKET_DATA_TYPE: self._req_market_data_type,
            In.REQ_MKT_DATA: self._req_mkt_data,
            In.CANCEL_MKT_DATA: self._cancel_mkt_data,
            In.REQ_HISTORICAL_DATA: self._req_historical_data,
            In.CANCEL_HISTORICAL_DATA: self._ignore,
            In.PLACE_ORDER: self._place_order,
            In.CANCEL_ORDER: self._cancel_order,
            In.REQ_GLOBAL_CANCEL: self._req_global_cancel,
        }

    # --- lifecycle ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (the requested one until ``start``; the real one after, even for 0)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def control_port(self) -> int | None:
        """The bound port of the fault control channel (None when it is off)."""
        return None if self._control is None else self._control.port

    async def start(self) -> None:
        """Connect the broker, bind the socket and start the market clock."""
        self.loop = asyncio.get_running_loop()
        if not self.broker.is_connected:
            self.broker.connect()
        self._last_positions = self._position_table(self.broker.positions())
        self._unsubscribe = self.broker.events.subscribe(self._on_event)
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)
        self._clock_task = asyncio.create_task(self._clock(), name="sim-gateway-clock")
        if self._control_port is not None:
            self._control = FaultControlServer(self.faults, self.host, self._control_port)
            await self._control.start()
        log.info(
            "simulated TWS gateway on %s:%d (server version %d, speed %gx, market time %s)",
            self.host,
            self.port,
            p.SERVER_VERSION,
            self.speed,
            self.broker.now().isoformat(),
        )

    async def stop(self) -> None:
        """Close every client connection, the socket and the clock."""
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_task
            self._clock_task = None
        if self._control is not None:
            await self._control.stop()
            self._control = None
        if self._server is not None:
            self._server.close()
        for session in list(self._all_sessions):
            session.shutdown()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.loop = None
        log.info("simulated TWS gateway stopped")

    # --- connections -----------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        faults = self._fault_state
        session = ClientSession(writer, lambda: faults.delay, faults.count_error)
        self._all_sessions.add(session)
        peer_gone = False
        try:
            if not await self._handshake(reader, session):
                return
            while not session.closing:
                size = int.from_bytes(await reader.readexactly(4), "big")
                if size > p.MAX_MESSAGE_BYTES:
                    # Reading it would hold the whole claimed length in memory: drop the client.
                    log.warning(
                        "message length %d from %s exceeds %d bytes: connection dropped",
                        size,
                        session.peer,
                        p.MAX_MESSAGE_BYTES,
                    )
                    session.abort()
                    return
                body = await reader.readexactly(size)
                fields = body.decode(errors="backslashreplace").split("\0")
                if fields and fields[-1] == "":
                    fields.pop()
                if fields:
                    self._dispatch(session, fields)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            peer_gone = True
        finally:
            self._drop(session)
            self._all_sessions.discard(session)  # kept until now: stop() must reach its outbox
            if not session.closing:  # a deliberate close or abort already happened otherwise
                if peer_gone:
                    session.abort()
                else:
                    session.close()

    async def _handshake(self, reader: asyncio.StreamReader, session: ClientSession) -> bool:
        """Read ``API\\0`` and the version range; answer the hello. False: refused (logged)."""
        if await reader.readexactly(4) != b"API\0":
            log.warning("connection from %s without the API prefix: closed", session.peer)
            return False
        size = int.from_bytes(await reader.readexactly(4), "big")
        if size > p.MAX_HANDSHAKE_BYTES:
            log.warning(
                "handshake of %d bytes from %s exceeds %d: refused",
                size,
                session.peer,
                p.MAX_HANDSHAKE_BYTES,
            )
            return False
        raw = await reader.readexactly(size)
        try:
            low, high = p.parse_version_range(raw.decode())
        except (UnicodeDecodeError, ValueError):
            log.warning("unreadable API version %r from %s: refused", raw[:40], session.peer)
            return False
        if not low <= p.SERVER_VERSION <= high:
            log.warning(
                "client %s speaks v%d..%d, not %d: refused",
                session.peer,
                low,
                high,
                p.SERVER_VERSION,
            )
            return False
        if self._restart_until is not None:
            log.warning("API session from %s refused: the gateway is restarting", session.peer)
            return False
        session.send(p.server_hello(datetime.now(UTC)))
        return True

    def _drop(self, session: ClientSession) -> None:
        """Forget the session's client id at once, so a reconnect may reuse it."""
        cid = session.client_id
        if cid is not None and self._sessions.get(cid) is session:
            del self._sessions[cid]
            log.info("client %d disconnected (%s)", cid, session.peer)

    def _dispatch(self, session: ClientSession, fields: list[str]) -> None:
        try:
            msg_id = int(fields[0])
        except ValueError:
            log.warning("unparsable message id %r from %s", fields[0], session.peer)
            return
        self._fault_state.count_message(msg_id)
        if session.client_id is None and msg_id != In.START_API:
            log.warning("message %d before startApi from %s: ignored", msg_id, session.peer)
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            log.debug("message %d is not simulated: ignored", msg_id)
            return
        try:
            handler(session, fields)
        except _BAD_REQUEST as exc:  # bad input must not take the connection down
            log.warning(
                "message %d from %s refused: %s: %s", msg_id, session.peer, type(exc).__name__, exc
            )
            detail = str(exc).replace("\0", " ")
            session.send(
                p.error_for(_request_id(msg_id, fields), ErrorCode.VALIDATION_ERROR, detail)
            )
        except Exception as exc:  # a gateway bug: keep serving, keep the traceback
            log.exception("handling message %d failed", msg_id)
            detail = str(exc).replace("\0", " ")
            session.send(p.error_for(p.NO_REQ_ID, ErrorCode.VALIDATION_ERROR, detail))
        self._flush_positions()

    # --- session and ids -------------------------------------------------------------------------
    def _start_api(self, s: ClientSession, f: list[str]) -> None:
        client_id = FieldReader(f, 2).integer()
        refused = client_id in self._fault_state.refused_ids
        if client_id in self._sessions or refused:
            why = "refused by a fault" if refused else "already in use"
            log.warning("client id %d %s: refused %s", client_id, why, s.peer)
            self._fault_state.connections_refused += 1
            s.send(p.error_for(p.NO_REQ_ID, ErrorCode.CLIENT_ID_IN_USE))
            s.close()
            return
        self._fault_state.connections_accepted += 1
        s.client_id = client_id
        self._sessions[client_id] = s
        log.info(
            "client %d connected from %s (account %s)",
            client_id,
            s.peer,
            ", ".join(mask_account(a) for a in self.accounts),
        )
        s.send(p.managed_accounts(self.accounts), p.next_valid_id(self._next_id(client_id)))
        s.send(*(p.error_for(p.NO_REQ_ID, code, farm) for code, farm in p.FARM_STATUS_ON_CONNECT))

    def _next_id(self, client_id: int) -> int:
        return self._next_ids.setdefault(client_id, 1)

    def _req_ids(self, s: ClientSession, f: list[str]) -> None:
        assert s.client_id is not None
        s.send(p.next_valid_id(self._next_id(s.client_id)))

    def _req_current_time(self, s: ClientSession, f: list[str]) -> None:
        s.send(p.current_time(self.broker.now()))

    def _req_managed_accounts(self, s: ClientSession, f: list[str]) -> None:
        s.send(p.managed_accounts(self.accounts))

    def _ignore(self, s: ClientSession, f: list[str]) -> None:
        return

    # --- positions and account ----------------------------------------------------------------------
    def _wire_of(self, contract: Contract) -> WireContract:
        inst = self.catalog.for_contract(contract)
        if inst is None:
            raise ContractError(f"position in {contract.key} has no listed instrument")
        return self.catalog.wire(inst)

    @staticmethod
    def _position_table(positions: Sequence[Position]) -> dict[int, tuple[float, float]]:
        return {
            int(pos.contract.con_id or 0): (pos.quantity, pos.avg_cost)
            for pos in positions
            if pos.quantity != 0
        }

    def _portfolio_message(self, pos: Position) -> Message:
        return p.portfolio_value(
            self._wire_of(pos.contract),
            pos.quantity,
            pos.market_price,
            pos.market_value,
            pos.avg_cost,
            pos.unrealized_pnl,
            pos.realized_pnl,
            self.account,
        )

    def _req_positions(self, s: ClientSession, f: list[str]) -> None:
        s.positions_sub = True
        rows = [
            p.position(self.account, self._wire_of(pos.contract), pos.quantity, pos.avg_cost)
            for pos in self.broker.positions()
        ]
        s.send(*rows, p.position_end())

    def _cancel_positions(self, s: ClientSession, f: list[str]) -> None:
        s.positions_sub = False

    def _account_messages(self, positions: Sequence[Position]) -> list[Message]:
        snap = self.broker.account()
        gross = sum(abs(x.market_value) for x in positions if math.isfinite(x.market_value))
        rows = [
            p.account_value(tag, value, cur, self.account)
            for tag, value, cur in self._account_values(snap, gross)
        ]
        rows.append(p.account_value("AccountCode", self.account, "", self.account))
        rows.append(p.account_value("Currency", "USD", "USD", self.account))
        rows += [self._portfolio_message(pos) for pos in positions]
        local = self.broker.now().astimezone(NEW_YORK)
        rows.append(p.account_update_time(local))
        return rows

    def _req_account_updates(self, s: ClientSession, f: list[str]) -> None:
        r = FieldReader(f, 2)
        subscribe = r.flag()
        s.account_sub = subscribe
        if subscribe:
            s.send(
                *self._account_messages(self.broker.positions()),
                p.account_download_end(self.account),
            )

    def _req_account_updates_multi(self, s: ClientSession, f: list[str]) -> None:
        req_id = FieldReader(f, 2).integer()
        snap = self.broker.account()
        gross = sum(
            abs(x.market_value) for x in self.broker.positions() if math.isfinite(x.market_value)
        )
        rows = [
            p.account_update_multi(req_id, self.account, tag, value, cur)
            for tag, value, cur in self._account_values(snap, gross)
        ]
        s.send(*rows, p.account_update_multi_end(req_id))

    def _account_values(self, snap: AccountSnapshot, gross: float) -> list[tuple[str, str, str]]:
        """Every account tag as (tag, value, currency), less the tags a fault leaves out."""
        faults = self._fault_state
        if faults.cash_account:  # no margin: buying power is the cash
            snap = replace(snap, buying_power=snap.cash)
        omitted = faults.omitted_account_tags
        return [row for row in p.account_values(snap, gross) if row[0] not in omitted]

    def _req_account_summary(self, s: ClientSession, f: list[str]) -> None:
        r = FieldReader(f, 2)
        req_id = r.integer()
        r.skip(1)  # group name: the gateway manages one account
        tags = p.requested_summary_tags(r.text())
        snap = self.broker.account()
        gross = sum(
            abs(x.market_value) for x in self.broker.positions() if math.isfinite(x.market_value)
        )
        values = {tag: (value, cur) for tag, value, cur in self._account_values(snap, gross)}
        rows = [p.account_summary(req_id, self.account, t, *values[t]) for t in tags if t in values]
        empty = AccountSnapshot(snap.ts, "", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        for other in self.accounts[1:]:  # the other managed accounts are empty
            blank = {tag: (value, cur) for tag, value, cur in self._account_values(empty, 0.0)}
            rows += [p.account_summary(req_id, other, t, *blank[t]) for t in tags if t in blank]
        s.send(*rows, p.account_summary_end(req_id))

    def _flush_positions(self) -> None:
        """Send position / portfolio rows for every position that changed since the last flush."""
        if not self._positions_dirty:
            return
        self._positions_dirty = False
        positions = self.broker.positions()
        table = self._position_table(positions)
        changed = [
            pos
            for pos in positions
            if self._last_positions.get(int(pos.contract.con_id or 0))
            != table.get(int(pos.contract.con_id or 0))
        ]
        gone = [cid for cid in self._last_positions if cid not in table]
        self._last_positions = table
        if not changed and not gone:
            return
        pos_rows: list[Message] = [
            p.position(self.account, self._wire_of(x.contract), x.quantity, x.avg_cost)
            for x in changed
        ]
        port_rows: list[Message] = [self._portfolio_message(x) for x in changed]
        for cid in gone:
            inst = self.catalog.by_con_id(cid)
            if inst is None:
                continue
            wire = self.catalog.wire(inst)
            pos_rows.append(p.position(self.account, wire, 0.0, 0.0))
            port_rows.append(p.portfolio_value(wire, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, self.account))
        for s in self._sessions.values():
            if s.positions_sub:
                s.send(*pos_rows)
            if s.account_sub:
                s.send(*port_rows)

    # --- contracts -----------------------------------------------------------------------------------
    def _req_contract_details(self, s: ClientSession, f: list[str]) -> None:
        r = FieldReader(f, 2)
        req_id = r.integer()
        spec = r.contract()
        found = self.catalog.match(spec)
        if not found:
            s.send(p.error_for(req_id, ErrorCode.NO_SECURITY_DEFINITION))
        rows = [
            p.contract_details(req_id, self.catalog.wire(inst), self.catalog.details_extra(inst))
            for inst in found
        ]
        s.send(*rows, p.contract_details_end(req_id))

    def _req_sec_def_opt_params(self, s: ClientSession, f: list[str]) -> None:
        r = FieldReader(f, 1)
        req_id = r.integer()
        symbol = r.text().strip().upper()
        fut_fop_exchange = r.text().strip().upper()
        expiries = [p.ib_date(e) for e in self.catalog.listed_expiries(symbol)]
        rows: list[Message] = []
        if expiries and not fut_fop_exchange:
            strikes = self.catalog.listed_strikes(symbol)
            und = self.catalog.match(WireContract(symbol=symbol, sec_type="STK"))
            und_id = und[0].con_id if und else 0
            rows = [
                p.sec_def_opt_params(req_id, exch, und_id, symbol, "100", expiries, strikes)
                for exch in OPTION_EXCHANGES
            ]
        s.send(*rows, p.sec_def_opt_params_end(req_id))

    # --- market data -------------------------------------------------------------------------------------
    def _req_market_data_type(self, s: ClientSession, f: list[str]) -> None:
        s.market_data_type = p.MarketDataType(FieldReader(f, 2).integer() or 1)

    def _previous_close(self, contract: Contract) -> float:
        """Yesterday's close of a stock, index or future (NaN for options or on failure)."""
        if contract.sec_type is SecType.OPTION or contract.con_id is None:
            return math.nan
        now = self.broker.now()
        key = (contract.con_id, f"{now.astimezone(NEW_YORK):%Y%m%d}")
        cached = self._close_cache.get(key)
        if cached is not None:
            return cached
        try:
            df = self.broker.bars(contract, now - timedelta(days=10), now, 86400)
        except (BrokerError, ValueError):
            return math.nan
        today = now.astimezone(NEW_YORK).date()
        closes = [
            float(c)
            for ts, c in zip(df["ts"].to_list(), df["close"].to_list(), strict=True)
            if ts.astimezone(NEW_YORK).date() < today
        ]
        value = closes[-1] if closes else math.nan
        self._close_cache[key] = value
        return value

    def _req_mkt_data(self, s: ClientSession, f: list[str]) -> None:
        req = p.parse_mkt_data(f)
        limit = self._fault_state.line_limit
        if not req.snapshot and req.req_id not in s.lines and len(s.lines) >= limit:
            s.send(p.error_for(req.req_id, ErrorCode.MAX_TICKERS))
            return
        inst = self.catalog.resolve_one(req.contract) if req.contract.sec_type != "BAG" else None
        if inst is None:
            s.send(p.error_for(req.req_id, ErrorCode.NO_SECURITY_DEFINITION))
            if req.snapshot:
                s.send(p.tick_snapshot_end(req.req_id))
            return
        contract = self.catalog.domain(inst)
        kind = self._fault_state.market_data
        if kind == "none":
            s.send(p.error_for(req.req_id, ErrorCode.NOT_SUBSCRIBED))
            return
        want_oi = p.GENERIC_OPEN_INTEREST in req.generic_ticks
        line = Line(req.req_id, contract, want_oi, delayed=kind == "delayed")
        quote = self.broker.snapshot([contract])[0]
        ticks = quote_ticks(
            req.req_id,
            quote,
            line.state,
            close=self._previous_close(contract),
            open_interest=want_oi,
        )
        data_type = p.MarketDataType.REALTIME
        if line.delayed:
            # Without a subscription IB falls back to delayed data, saying so unless asked for it.
            if s.market_data_type not in (
                p.MarketDataType.DELAYED,
                p.MarketDataType.DELAYED_FROZEN,
            ):
                s.send(p.error_for(req.req_id, ErrorCode.DISPLAYING_DELAYED))
            ticks = [p.delayed_tick(t) for t in ticks]
            data_type = p.MarketDataType.DELAYED
        s.send(p.market_data_type(req.req_id, data_type), *ticks)
        if p.GENERIC_DIVIDENDS in req.generic_ticks and contract.sec_type is SecType.STOCK:
            s.send(self._dividend_tick(req.req_id, contract.symbol))
        if req.snapshot:
            s.send(p.tick_snapshot_end(req.req_id))
        else:
            s.lines[req.req_id] = line

    def _dividend_tick(self, req_id: int, symbol: str) -> Message:
        """Tick 59 from the simulated dividend schedule, as of the market's day."""
        today = self.broker.now().astimezone(NEW_YORK).date()
        year = timedelta(days=365)
        past = sum(d.amount for d in dividends.ex_dates(symbol, today - year, today - timedelta(1)))
        ahead = dividends.ex_dates(symbol, today, today + year)
        nxt = self.broker.dividend(symbol)  # the same date the simulated broker gives
        text = p.dividends_text(
            past,
            sum(d.amount for d in ahead),
            None if nxt is None else nxt.ex_date,
            math.nan if nxt is None else nxt.amount,
        )
        return p.tick_string(req_id, p.TickType.IB_DIVIDENDS, text)

    def _cancel_mkt_data(self, s: ClientSession, f: list[str]) -> None:
        s.lines.pop(FieldReader(f, 2).integer(), None)

    def _push_lines(self) -> None:
        if self._fault_state.connectivity_down:
            return  # no quotes while IB's side of the connection is down
        sessions = [s for s in self._sessions.values() if s.lines]
        if not sessions:
            return
        unique: dict[int, Contract] = {}
        for s in sessions:
            for line in s.lines.values():
                unique[int(line.contract.con_id or 0)] = line.contract
        quotes = dict(zip(unique, self.broker.snapshot(list(unique.values())), strict=True))
        for s in sessions:
            out: list[Message] = []
            for line in list(s.lines.values()):
                q = quotes[int(line.contract.con_id or 0)]
                ticks = quote_ticks(line.req_id, q, line.state, open_interest=line.open_interest)
                out += [p.delayed_tick(t) for t in ticks] if line.delayed else ticks
            if out:
                s.send(*out)

    def _req_historical_data(self, s: ClientSession, f: list[str]) -> None:
        req = p.parse_historical_data(f)
        if self._fault_state.hist_pacing:
            s.send(p.error_for(req.req_id, ErrorCode.HISTORICAL_DATA_ERROR, "Pacing violation"))
            return
        failure = self._fault_state.take_historical_failure()
        if failure is not None:
            detail = "simulated HMDS failure"
            s.send(p.error_msg(req.req_id, failure, p.fault_error_text(failure, detail)))
            return
        inst = self.catalog.resolve_one(req.contract)
        if inst is None:
            s.send(p.error_for(req.req_id, ErrorCode.NO_SECURITY_DEFINITION))
            return
        if inst.sec_type == "OPT":
            s.send(
                p.error_for(
                    req.req_id, ErrorCode.HISTORICAL_DATA_ERROR, "No data of type option bars"
                )
            )
            return
        try:
            secs = p.bar_seconds(req.bar_size)
            span = p.duration_seconds(req.duration)
        except (KeyError, ValueError):
            s.send(
                p.error_for(
                    req.req_id,
                    ErrorCode.VALIDATION_ERROR,
                    f"bad bar size or duration {req.bar_size!r}/{req.duration!r}",
                )
            )
            return
        end = p.parse_end_time(req.end, self.broker.now())
        start = end - timedelta(seconds=span)
        contract = self.catalog.domain(inst)
        df = self.broker.bars(contract, start, end, min(secs, 86400))
        if secs < 86400 and contract.sec_type in (SecType.STOCK, SecType.INDEX):
            df = self._with_past_sessions(contract, df, start, end, secs)
        if df.height == 0:
            s.send(
                p.error_for(
                    req.req_id, ErrorCode.HISTORICAL_DATA_ERROR, "HMDS query returned no data"
                )
            )
            return
        bars = []
        for ts, o, h, lo, c, v in df.select(
            ["ts", "open", "high", "low", "close", "volume"]
        ).iter_rows():
            bars.append((self._bar_date(ts, secs, req.format_date), o, h, lo, c, float(v)))
        fmt = "%Y%m%d %H:%M:%S"
        s.send(p.historical_data(req.req_id, start.strftime(fmt), end.strftime(fmt), bars))

    def _with_past_sessions(
        self, contract: Contract, df: pl.DataFrame, start: datetime, end: datetime, secs: int
    ) -> pl.DataFrame:
        """Add intraday bars of sessions the market knows only as daily bars (before its start)."""
        daily = self.broker.bars(contract, start - timedelta(days=1), end, 86400)
        if daily.height == 0:
            return df
        hours = self.broker.market.hours
        have = {ts.astimezone(NEW_YORK).date() for ts in df["ts"].to_list()}
        parts = [df.select(_BAR_COLUMNS)] if df.height else []
        for ts, o, h, lo, c, v in daily.select(_BAR_COLUMNS).iter_rows():
            day = ts.astimezone(NEW_YORK).date()
            if day in have or not hours.is_trading_day(day):
                continue
            open_, close = hours.session_bounds(day)
            if close <= start or open_ >= end:
                continue
            bar = DailyBar(day, int(open_.timestamp()), int(close.timestamp()), o, h, lo, c, int(v))
            seed = int(self.broker.market.config.seed)
            bars = session_bars(bar, secs, seed, contract.symbol)
            parts.append(bars.filter((pl.col("ts") >= start) & (pl.col("ts") < end)))
        if not parts:
            return df
        return pl.concat(parts, how="vertical_relaxed").sort("ts")

    @staticmethod
    def _bar_date(ts: datetime, secs: int, format_date: int) -> str:
        if secs >= 86400:
            return f"{ts.astimezone(NEW_YORK):%Y%m%d}"
        if format_date == 2:
            return str(int(ts.timestamp()))
        return f"{ts.astimezone(NEW_YORK):%Y%m%d %H:%M:%S} America/New_York"

    # --- orders ---------------------------------------------------------------------------------------------
    def _req_open_orders(self, s: ClientSession, f: list[str]) -> None:
        self._send_open_orders(s, only_own=True)

    def _req_all_open_orders(self, s: ClientSession, f: list[str]) -> None:
        self._send_open_orders(s, only_own=False)

    def _send_open_orders(self, s: ClientSession, only_own: bool) -> None:
        rows: list[Message] = []
        for gw in self._orders_by_key.values():
            if gw.status in DONE_STATUSES or not gw.opened:
                continue
            if only_own and gw.client_id != s.client_id:
                continue
            rows.append(p.open_order(gw.contract, gw.wire_order()))
            rows.append(self._status_message(gw))
        s.send(*rows, p.open_order_end())

    def _req_completed_orders(self, s: ClientSession, f: list[str]) -> None:
        """Every finished order of the account (all clients), as IB lists today's completed ones."""
        rows: list[Message] = []
        for gw in self._orders_by_key.values():
            if gw.status not in DONE_STATUSES:
                continue
            when = (gw.completed_at or self.broker.now()).astimezone(NEW_YORK)
            status = completed_status_text(gw.status, gw.filled, gw.completed_reason)
            rows.append(
                p.completed_order(
                    gw.contract,
                    gw.wire_order(),
                    gw.filled,
                    f"{when:%Y%m%d %H:%M:%S} America/New_York",
                    status,
                )
            )
        s.send(*rows, p.completed_orders_end())

    def _req_executions(self, s: ClientSession, f: list[str]) -> None:
        r = FieldReader(f, 2)
        req_id = r.integer()
        client = r.integer()
        r.skip(2)  # account, time
        symbol = r.text().upper()
        sec_type = r.text().upper()
        r.skip(1)  # exchange
        side = r.text().upper()
        rows: list[Message] = []
        for rec in self._execs:
            if client and rec.client_id != client:
                continue
            if symbol and rec.contract.symbol != symbol:
                continue
            if sec_type and rec.contract.sec_type != sec_type:
                continue
            if side and rec.execution.side != p.MAP_EXEC_SIDE.get(side, side):
                continue
            rows.append(p.exec_details(req_id, rec.contract, rec.execution))
            if rec.commission is not None:
                rows.append(p.commission_report(rec.execution.exec_id, rec.commission, 0.0))
        s.send(*rows, p.exec_details_end(req_id))

    def _status_message(self, gw: GatewayOrder) -> Message:
        return p.order_status(
            gw.order_id,
            gw.status,
            gw.filled,
            gw.remaining,
            gw.avg_fill_price,
            gw.perm_id,
            gw.last_fill_price,
            gw.client_id,
        )

    def _unique_ref(self, wanted: str, client_id: int, order_id: int) -> str:
        ref = wanted or f"ib.{client_id}.{order_id}"
        n = 0
        candidate = ref
        while candidate in self._orders_by_ref or self.broker.order(candidate) is not None:
            n += 1
            candidate = f"{ref}#{client_id}.{order_id}.{n}"
        return candidate

    def _place_order(self, s: ClientSession, f: list[str]) -> None:
        assert s.client_id is not None
        faults = self._fault_state
        req = p.parse_place_order(f)
        faults.place_orders += 1
        faults.orders_received[s.client_id] = faults.orders_received.get(s.client_id, 0) + 1
        self._next_ids[s.client_id] = max(self._next_id(s.client_id), req.order_id + 1)
        try:
            self._handle_order(s, req)
        finally:
            if faults.drop_after_order > 0:
                faults.drop_after_order -= 1
                log.info("fault: dropping client %d after its order", s.client_id)
                faults.connections_dropped += 1
                self._drop(s)
                s.close()  # after the acks already queued

    def _handle_order(self, s: ClientSession, req: p.PlaceOrderRequest) -> None:
        assert s.client_id is not None
        faults = self._fault_state
        key = (s.client_id, req.order_id)
        existing = self._orders_by_key.get(key)
        if existing is not None:
            faults.modifies += 1
            if existing.status in DONE_STATUSES:
                s.send(p.error_for(req.order_id, ErrorCode.DUPLICATE_ORDER_ID))
                return
        account = self._order_account(s, req)
        if account is None:
            if existing is None:
                self._refuse_order(s, req, req.contract, {}, "Rejected: account")
            return
        try:
            legs, contract, leg_wires = self._order_legs(req.contract)
            remaining = None
            if existing is not None:
                remaining = req.quantity - existing.filled
            ref = self._unique_ref(req.order_ref, s.client_id, req.order_id)
            intent = build_intent(req, legs, ref, self.broker.now(), quantity=remaining)
        except GatewayOrderError as exc:
            code = exc.code or int(ErrorCode.VALIDATION_ERROR)
            s.send(p.error_msg(req.order_id, code, p.fault_error_text(code, exc.message)))
            if existing is None:
                self._refuse_order(s, req, req.contract, {}, f"Rejected: {exc.message}")
            return
        except ContractError:
            s.send(p.error_for(req.order_id, ErrorCode.NO_SECURITY_DEFINITION))
            if existing is None:
                self._refuse_order(s, req, req.contract, {}, "Rejected: no security definition")
            return
        refusal = self._account_refusal([(leg.contract, leg.ratio) for leg in intent.legs])
        if refusal is not None:
            s.send(p.error_msg(req.order_id, int(ErrorCode.ORDER_REJECTED), refusal))
            if existing is None and not req.what_if:
                self._refuse_order(s, req, contract, leg_wires, refusal)
            return
        if req.what_if:
            # What-if: IB answers the order's margin impact and keeps nothing.
            s.send(p.open_order(contract, self._what_if_order(s, req, account)))
            return
        rejection = faults.take_rejection()
        if rejection is not None:
            code, reason = rejection
            s.send(p.error_msg(req.order_id, code, p.fault_error_text(code, reason)))
            if existing is None:
                self._refuse_order(s, req, contract, leg_wires, f"Rejected: {reason}")
            return
        price = req.limit_price
        rule = self._tick_rule(contract, legs)
        if price is not None and intent.limit_price is not None and off_tick(price, rule):
            s.send(p.error_for(req.order_id, ErrorCode.PRICE_OFF_TICK))
            if existing is None:
                self._refuse_order(s, req, contract, leg_wires, f"Rejected: price {price:g}")
            return  # a modification keeps the order working at its old price
        if existing is not None:
            # A modification: the simulated broker has no amend, so cancel and replace,
            # keeping the IB order id, perm id and the fills so far.
            gw = existing
            gw.retire_incarnation()
            self.broker.cancel_order(gw.ref)
            gw.request = req
            gw.ref = ref
        else:
            gw = GatewayOrder(ref, s.client_id, req.order_id, req, contract, leg_wires, account)
            gw.echo_ref = not faults.blank_order_refs
            self._orders_by_key[key] = gw
            faults.broker_orders += 1
            by_ref = faults.broker_orders_by_ref
            by_ref[req.order_ref] = by_ref.get(req.order_ref, 0) + 1
        self._orders_by_ref[ref] = gw
        try:
            state = self.broker.place_order(intent)
        except BrokerError as exc:
            s.send(
                p.error_msg(req.order_id, exc.code or int(ErrorCode.ORDER_REJECTED), exc.message)
            )
            gw.status = "Cancelled"
            gw.completed_at = self.broker.now()
            gw.completed_reason = f"Rejected: {exc.message}"
            return
        if not gw.opened:
            self._apply_state(gw, state)

    def _account_refusal(self, legs: Sequence[tuple[Contract, int]]) -> str | None:
        """IB's rejection text when the account may not trade ``legs`` (permissions, cash)."""
        faults = self._fault_state
        options = [(c, r) for c, r in legs if c.sec_type is SecType.OPTION]
        if options and faults.no_option_permission:
            return p.fault_error_text(int(ErrorCode.ORDER_REJECTED), p.NO_OPTION_PERMISSION_TEXT)
        if options and faults.cash_account and _naked_short(options):
            return p.fault_error_text(int(ErrorCode.ORDER_REJECTED), p.CASH_ACCOUNT_TEXT)
        return None

    def _what_if_order(
        self, s: ClientSession, req: p.PlaceOrderRequest, account: str
    ) -> p.WireOrder:
        assert s.client_id is not None
        return p.WireOrder(
            order_id=req.order_id,
            client_id=s.client_id,
            perm_id=0,
            action=req.action.upper(),
            quantity=req.quantity,
            order_type=req.order_type.upper(),
            limit_price=req.limit_price,
            tif=req.tif.upper() or "DAY",
            account=account,
            order_ref=req.order_ref,
            status="PreSubmitted",
            what_if=True,
            margin=self._what_if_margin(),
        )

    def _what_if_margin(self) -> tuple[float, ...]:
        """Margin before, change and after of a what-if (the simulation reports no change)."""
        snap = self.broker.account()
        now = (snap.init_margin, snap.maint_margin, snap.net_liquidation)
        return (*now, 0.0, 0.0, 0.0, *now)

    def _order_account(self, s: ClientSession, req: p.PlaceOrderRequest) -> str | None:
        """The managed account an order trades; None (error sent) when it names none or another."""
        if req.account:
            if req.account in self.accounts:
                return req.account
            log.warning(
                "order %d of client %s names account %s, not managed here: refused",
                req.order_id,
                s.client_id,
                mask_account(req.account),
            )
            detail = f"The account code {req.account} is not managed by this session"
            s.send(p.error_for(req.order_id, ErrorCode.VALIDATION_ERROR, detail))
            return None
        if len(self.accounts) == 1:
            return self.account
        s.send(p.error_for(req.order_id, ErrorCode.NO_ALLOCATION))
        return None

    def _refuse_order(
        self,
        s: ClientSession,
        req: p.PlaceOrderRequest,
        contract: WireContract,
        leg_wires: dict[int, WireContract],
        reason: str,
    ) -> None:
        """Record a new order the gateway refused (it never reached SimBroker) as Cancelled."""
        assert s.client_id is not None
        self._refused_seq += 1
        account = req.account if req.account in self.accounts else self.account
        gw = GatewayOrder("", s.client_id, req.order_id, req, contract, leg_wires, account)
        gw.perm_id = REFUSED_PERM_ID_BASE + self._refused_seq
        gw.status = "Cancelled"
        gw.completed_at = self.broker.now()
        gw.completed_reason = reason
        self._orders_by_key[(s.client_id, req.order_id)] = gw
        s.send(self._status_message(gw))

    def _tick_rule(self, contract: WireContract, legs: list[tuple[Contract, int]]) -> TickRule:
        """The price grid of an order: the option class's for options and combos, else min tick."""
        if contract.sec_type == "BAG":
            # A combo's net price uses its class's option grid ($0.01 for SPY/QQQ/IWM).
            return tick_rule_for(legs[0][0].symbol)
        inst = self.catalog.by_con_id(contract.con_id)
        if inst is None or inst.sec_type == "OPT":
            return tick_rule_for(contract.symbol)
        return TickRule.fixed(self.catalog.details_extra(inst).min_tick)

    def _order_legs(
        self, spec: WireContract
    ) -> tuple[list[tuple[Contract, int]], WireContract, dict[int, WireContract]]:
        """Resolved legs (contract, IB-signed ratio), the reported contract and leg wires by con_id."""
        if spec.sec_type.upper() == "BAG":
            if not spec.combo_legs:
                raise GatewayOrderError("a BAG order needs combo legs", code=321)
            legs: list[tuple[Contract, int]] = []
            wires: dict[int, WireContract] = {}
            for leg in spec.combo_legs:
                inst = self.catalog.by_con_id(leg.con_id)
                if inst is None:
                    raise ContractError(f"unknown combo leg con_id {leg.con_id}")
                sign = 1 if leg.action.upper() == "BUY" else -1
                legs.append((self.catalog.domain(inst), leg.ratio * sign))
                wires[inst.con_id] = self.catalog.wire(inst)
            bag = WireContract(
                con_id=BAG_CON_ID,
                symbol=spec.symbol,
                sec_type="BAG",
                exchange=spec.exchange or "SMART",
                currency=spec.currency or "USD",
                combo_legs=spec.combo_legs,
            )
            return legs, bag, wires
        inst = self.catalog.resolve_one(spec)
        if inst is None:
            raise ContractError(f"no single instrument for {spec.symbol} {spec.sec_type}")
        wire = self.catalog.wire(inst, exchange=spec.exchange or None)
        return [(self.catalog.domain(inst), 1)], wire, {inst.con_id: wire}

    def _cancel_order(self, s: ClientSession, f: list[str]) -> None:
        assert s.client_id is not None
        self._fault_state.cancels += 1
        order_id = FieldReader(f, 2).integer()
        gw = self._orders_by_key.get((s.client_id, order_id))
        if gw is None:
            s.send(p.error_for(order_id, ErrorCode.ORDER_NOT_FOUND, str(order_id)))
            return
        if gw.status == "Filled":
            s.send(p.error_for(order_id, ErrorCode.CANNOT_CANCEL_FILLED, str(order_id)))
            return
        self.broker.cancel_order(gw.ref)

    def _req_global_cancel(self, s: ClientSession, f: list[str]) -> None:
        self._fault_state.global_cancels += 1
        for gw in list(self._orders_by_key.values()):
            if gw.status not in DONE_STATUSES:
                self.broker.cancel_order(gw.ref)

    # --- broker events -> IB messages -------------------------------------------------------------------------
    def _on_event(self, event: BrokerEvent) -> None:
        if isinstance(event, OrderStatusEvent):
            gw = self._orders_by_ref.get(event.state.order_ref)
            if gw is not None and event.state.order_ref not in gw.retired:
                self._apply_state(gw, event.state)
        elif isinstance(event, FillEvent):
            self._positions_dirty = True
            fill = event.fill
            gw = self._orders_by_ref.get(fill.order_ref)
            if gw is None:
                if fill.order_ref.startswith(EXPIRY_REF_PREFIX):
                    self._report_settlement(fill)
                return
            if not gw.opened:  # a fill before any status: make the order known first
                self._send_open(gw)
            gw.chunk.append(fill)
            contract, execution = gw.leg_execution(fill, gw.account)
            self._execs.append(_ExecRecord(gw.client_id, contract, execution, fill.commission))
            session = self._sessions.get(gw.client_id)
            if session is not None:
                session.send(
                    p.exec_details(-1, contract, execution),
                    p.commission_report(fill.exec_id, fill.commission, 0.0),
                )

    def _report_settlement(self, fill: Fill) -> None:
        """An expiry, exercise or assignment as an execution (order id 0) to every client.

        IB reports these with no API order behind them; the SimBroker reason is
        kept as the orderRef so a reader can tell them from trades.
        """
        inst = self.catalog.for_contract(fill.contract)
        if inst is None:
            log.warning("settlement fill %s on an unlisted contract: not reported", fill.exec_id)
            return
        wire = self.catalog.wire(inst)
        self._expiry_seq += 1
        shares = abs(fill.quantity)
        execution = WireExecution(
            order_id=0,
            exec_id=fill.exec_id,
            time=p.ib_time(fill.ts),
            account=self.account,
            exchange=wire.exchange or "SMART",
            side=p.MAP_EXEC_SIDE["BUY" if fill.quantity > 0 else "SELL"],
            shares=shares,
            price=fill.price,
            perm_id=EXPIRY_PERM_ID_BASE + self._expiry_seq,
            client_id=0,
            cum_qty=shares,
            avg_price=fill.price,
            order_ref=fill.order_ref,
        )
        self._execs.append(_ExecRecord(0, wire, execution, fill.commission))
        for session in self._sessions.values():
            session.send(
                p.exec_details(-1, wire, execution),
                p.commission_report(fill.exec_id, fill.commission, 0.0),
            )

    def _send_open(self, gw: GatewayOrder) -> None:
        gw.opened = True
        if gw.status == "PendingSubmit":
            gw.status = "Submitted"
        session = self._sessions.get(gw.client_id)
        if session is not None:
            session.send(p.open_order(gw.contract, gw.wire_order()))

    def _apply_state(self, gw: GatewayOrder, state: OrderState) -> None:
        if not gw.perm_id:
            gw.perm_id = int(state.perm_id or 0) or 2_000_000 + len(self._orders_by_key)
        before = gw.filled
        filled_here = state.filled_quantity
        avg_here = state.avg_fill_price if filled_here > 0 else 0.0
        gw.apply_status(filled_here, avg_here)
        status = p.MAP_ORDER_STATUS[state.status]
        session = self._sessions.get(gw.client_id)
        out: list[Message] = []
        if status in DONE_STATUSES:
            gw.completed_at = state.updated_at or self.broker.now()
            gw.completed_reason = completed_reason(state.status, state.reason)
        if state.status is OrderStatus.REJECTED:
            gw.status = status
            detail = state.reason or "rejected by the simulated broker"
            code = state.error_code or int(ErrorCode.ORDER_REJECTED)
            if session is not None:
                session.send(p.error_msg(gw.order_id, code, f"Order rejected - reason:{detail}"))
            gw.opened = True
            return
        if not gw.opened:
            gw.status = status
            self._send_open(gw)
        if gw.filled > before and gw.chunk:
            gw.last_fill_price = gw.chunk[-1].price
            if gw.is_combo:
                ts = state.updated_at or self.broker.now()
                execution = gw.combo_execution(gw.filled - before, ts, gw.account)
                gw.last_fill_price = execution.price
                self._execs.append(_ExecRecord(gw.client_id, gw.contract, execution, None))
                out.append(p.exec_details(-1, gw.contract, execution))
            gw.chunk.clear()
        gw.status = status
        out.append(self._status_message(gw))
        if session is not None:
            session.send(*out)

    # --- fault operations (run on the loop, called through FaultInjector) -----------------------------
    def _drop_all_connections(self) -> None:
        sessions = list(self._all_sessions)
        log.info("fault: dropping %d connection(s)", len(sessions))
        for s in sessions:
            if not s.closing:  # one already closing was counted when it started to
                self._fault_state.connections_dropped += 1
            self._drop(s)
            s.abort()

    def _broadcast(self, code: ErrorCode) -> None:
        for s in self._sessions.values():
            s.send(p.error_for(p.NO_REQ_ID, code))

    def _connectivity_lost(self) -> None:
        log.info("fault: connectivity between IB and the gateway lost (1100)")
        self._fault_state.connectivity_down = True
        self._broadcast(ErrorCode.CONNECTIVITY_LOST)

    def _connectivity_restored(self, data_lost: bool) -> None:
        self._fault_state.connectivity_down = False
        if data_lost:
            # IB semantics of 1101: market-data subscriptions are gone; clients must resubscribe.
            for s in self._sessions.values():
                s.lines.clear()
            code = ErrorCode.CONNECTIVITY_RESTORED_DATA_LOST
        else:
            code = ErrorCode.CONNECTIVITY_RESTORED_DATA_KEPT
        log.info("fault: connectivity restored (%d)", int(code))
        self._broadcast(code)

    def _arm_restart(self, at: time) -> None:
        """Restart daily at ``at`` (New York market time); at once if that is within the window."""
        self._fault_state.restart_at = at
        self._check_restart(self.broker.now() - RESTART_WINDOW)

    def _check_restart(self, since: datetime) -> None:
        """Start a restart whose time fell in (since, now]; end one whose window passed."""
        now = self.broker.now()
        if self._restart_until is not None and now >= self._restart_until:
            self._restart_until = None
            log.info("fault: restart finished, API sessions accepted again")
        at = self._fault_state.restart_at
        if at is None or self._restart_until is not None:
            return
        day = now.astimezone(NEW_YORK).date()
        for d in (day - timedelta(days=1), day):
            when = datetime.combine(d, at, tzinfo=NEW_YORK).astimezone(UTC)
            if since < when <= now:
                self._restart_until = when + RESTART_WINDOW
                log.info("fault: daily restart at %s New York: dropping every client", at)
                self._drop_all_connections()
                return

    def _stats_snapshot(self) -> GatewayStats:
        st = self._fault_state
        lines = {cid: len(s.lines) for cid, s in self._sessions.items()}
        return GatewayStats(
            orders_received=dict(st.orders_received),
            place_orders=st.place_orders,
            modifies=st.modifies,
            cancels=st.cancels,
            global_cancels=st.global_cancels,
            broker_orders=st.broker_orders,
            broker_orders_by_ref=dict(st.broker_orders_by_ref),
            streaming_lines=sum(lines.values()),
            lines_by_client=lines,
            connections_accepted=st.connections_accepted,
            connections_refused=st.connections_refused,
            connections_dropped=st.connections_dropped,
            messages_received=dict(st.messages_received),
            errors_sent=dict(st.errors_sent),
        )

    # --- the clock --------------------------------------------------------------------------------------------
    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        last_account = last
        while True:
            await asyncio.sleep(self.tick_interval)
            now = loop.time()
            try:
                before = self.broker.now()
                if self.speed > 0:
                    self.broker.wait((now - last) * self.speed)
                self._check_restart(before)
                self._flush_positions()
                self._push_lines()
                if now - last_account >= ACCOUNT_PUSH_S:
                    last_account = now
                    self._push_account()
            except Exception:  # keep the market running whatever one tick hit
                log.exception("market clock tick failed")
            last = now

    def _push_account(self) -> None:
        subs = [s for s in self._sessions.values() if s.account_sub]
        if not subs:
            return
        rows = self._account_messages(self.broker.positions())
        for s in subs:
            s.send(*rows)
