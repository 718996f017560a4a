"""IBBroker: the broker port over ib_async (TWS, IB Gateway or the simulated gateway).

``IBBroker`` is assembled from one class per section of the port, over the
shared state and session of ``ib_core``: ``ib_contracts`` (qualification,
chains), ``ib_account`` (summary, positions), ``ib_marketdata`` (quotes,
streams, dividends, bars) and ``ib_orders`` (placement, cancels, states,
executions). With ``tradelib.broker.connection`` these ``ib*`` modules are the
only ones importing ib_async; translation to and from domain types lives in
``tradelib.broker.ib_mapping``.

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

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tradelib.broker import ib_mapping as m
from tradelib.broker.connection import IBConnectionManager
from tradelib.broker.ib_account import IBAccount
from tradelib.broker.ib_clock import ServerClock
from tradelib.broker.ib_core import DEFAULT_DIV_YIELD
from tradelib.broker.ib_marketdata import IBMarketData, QuoteProbe
from tradelib.broker.ib_orders import IBOrders, WhatIf
from tradelib.domain import TradingMode
from tradelib.errors import ConfigError
from tradelib.markethours import MarketHours

if TYPE_CHECKING:
    from tradelib.config import TradingConfig


class IBBroker(IBOrders, IBMarketData, IBAccount):
    """The broker port over an ``IBConnectionManager`` (ib_async underneath)."""

    def _subscribe(self) -> None:
        """Route ib_async's events and the connection's callbacks to the sections."""
        self._ib.errorEvent += self._on_error
        self._ib.orderStatusEvent += self._on_order_status
        self._ib.commissionReportEvent += self._on_commission
        self._ib.pendingTickersEvent += self._on_tickers
        self.connection.on_restore.append(self._resubscribe)
        self.connection.on_state.append(self._on_link)

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


__all__ = ["IBBroker", "QuoteProbe", "ServerClock", "WhatIf"]
