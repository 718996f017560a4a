"""Account handlers: positions, account updates (single and multi), the account summary, and their pushes."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace

from tradelib.domain import (
    NEW_YORK,
    AccountSnapshot,
    Position,
)
from tradelib.gateway import parsing as p
from tradelib.gateway.handlers.core import GatewayCore
from tradelib.gateway.marketdata import Message
from tradelib.gateway.parsing import FieldReader
from tradelib.gateway.session import ClientSession

log = logging.getLogger("tradelib.gateway")


class AccountHandlers(GatewayCore):
    """Positions and account values, requested and pushed as they change."""

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

    def _push_account(self) -> None:
        subs = [s for s in self._sessions.values() if s.account_sub]
        if not subs:
            return
        rows = self._account_messages(self.broker.positions())
        for s in subs:
            s.send(*rows)
