"""Fault operations of the simulated gateway, run on its loop when ``FaultInjector`` asks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from tradelib.domain import (
    NEW_YORK,
)
from tradelib.gateway import parsing as p
from tradelib.gateway.faults import GatewayStats
from tradelib.gateway.handlers.core import (
    RESTART_WINDOW,
    GatewayCore,
)
from tradelib.gateway.parsing import ErrorCode

log = logging.getLogger("tradelib.gateway")


class FaultHandlers(GatewayCore):
    """Drops, connectivity notices, the daily restart and the statistics snapshot."""

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
