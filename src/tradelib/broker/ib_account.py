"""Account section of the IB broker: the account summary and positions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tradelib.broker import ib_mapping as m
from tradelib.broker.ib_contracts import IBContracts
from tradelib.domain import (
    AccountSnapshot,
    Position,
)
from tradelib.errors import (
    BrokerError,
)

log = logging.getLogger("tradelib.broker.ib")


class IBAccount(IBContracts):
    """Account snapshot and positions, fresh from IB."""

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

    def account_values(self) -> dict[str, str]:
        """The account summary as IB sent it (tag -> text), e.g. AccountType."""
        return self._request(self._account_summary)
