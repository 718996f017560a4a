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
from collections.abc import Callable, Sequence

from tradelib.errors import ContractError
from tradelib.gateway import parsing as p
from tradelib.gateway.control import FaultControlServer
from tradelib.gateway.faults import FaultInjector
from tradelib.gateway.handlers.account import AccountHandlers
from tradelib.gateway.handlers.core import ACCOUNT_PUSH_S
from tradelib.gateway.handlers.faults import FaultHandlers
from tradelib.gateway.handlers.market_data import MarketDataHandlers
from tradelib.gateway.handlers.orders import OrderHandlers
from tradelib.gateway.handlers.session import SessionHandlers
from tradelib.gateway.parsing import ErrorCode, In
from tradelib.gateway.session import ClientSession

log = logging.getLogger("tradelib.gateway")

__all__ = ["ClientSession", "SimGateway"]

Handler = Callable[[ClientSession, list[str]], None]
# What a malformed request raises while it is parsed (answered with 321, no traceback).
_BAD_REQUEST = (ValueError, IndexError, KeyError, OverflowError, ArithmeticError, ContractError)
# Requests whose first field after the id (and version) is the request or order id.
_ID_AT: dict[int, int] = {
    In.PLACE_ORDER: 1,
    In.REQ_HISTORICAL_DATA: 1,
    In.REQ_SEC_DEF_OPT_PARAMS: 1,
}


def _request_id(msg_id: int, fields: Sequence[str]) -> int:
    """The request (or order) id a malformed message carried, -1 when it has none readable."""
    at = _ID_AT.get(msg_id, 2)
    try:
        return int(fields[at])
    except (IndexError, ValueError):
        return p.NO_REQ_ID


class SimGateway(
    SessionHandlers, AccountHandlers, MarketDataHandlers, OrderHandlers, FaultHandlers
):
    """A simulated TWS / IB Gateway serving the real API socket protocol over ``broker``.

    ``line_limit`` is IB's cap on streaming market-data lines per client
    (error 101 past it); ``control_port`` (0 = any free port) also serves the
    fault control line protocol of ``tradelib.gateway.control``.
    """

    def _install(self) -> None:
        """Arm the fault injector and route each request id to its handler."""
        self.faults = FaultInjector(self, self._fault_state)
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
