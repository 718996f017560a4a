"""Session handlers: the handshake, startApi (client ids) and the id / time / account-list requests."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from tradelib.gateway import parsing as p
from tradelib.gateway.handlers.core import GatewayCore
from tradelib.gateway.parsing import ErrorCode, FieldReader
from tradelib.gateway.session import ClientSession
from tradelib.secrets import mask_account

log = logging.getLogger("tradelib.gateway")


class SessionHandlers(GatewayCore):
    """Handshake and session-level requests of the simulated gateway."""

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
