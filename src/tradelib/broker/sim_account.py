"""How SimBroker values its book: marked positions, net liquidation, the account and expiries.

``SimAccounting`` is a mixin of ``SimBroker``: its methods read and write the
broker's own attributes (declared below for the type checker), so a saved
broker holds exactly what it held before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from tradelib.broker.port import (
    EventHub,
    FillEvent,
)
from tradelib.broker.sim_ledger import Holding, Ledger
from tradelib.broker.sim_quotes import market_quotes
from tradelib.domain import (
    AccountSnapshot,
    Contract,
    Fill,
    Position,
    Right,
    SecType,
)
from tradelib.risk.margin import margin_requirement
from tradelib.secrets import mask_account

if TYPE_CHECKING:
    from tradelib.backtest.source import MarketSource
from tradelib.broker.sim_matching import _EPS

_MARKED_KEPT = 8  # marked books remembered (a cycle asks a few at one time)


class SimAccounting:
    """Positions, account and expiry settlement of ``SimBroker`` (mixin; the state lives on the broker)."""

    events: EventHub
    market: MarketSource
    _ledger: Ledger
    _marked: dict[object, list[Position]]
    _fills: list[Fill]
    _account_id: str
    _day_base_nl: float
    _expiry_seq: int

    if TYPE_CHECKING:

        def _resolve(self, contract: Contract) -> Contract: ...

    # --- internals: positions, expiry, account ------------------------------------------------------------
    def _marked_positions(self, at: datetime | None = None) -> list[Position]:
        holdings = self._ledger.open_holdings()
        # The same holdings marked at the same market time give the same positions: a job
        # asks the account and the positions back to back (~60% of calls are repeats).
        key = (
            at,
            self.market.now() if at is None else None,
            tuple((h.contract, h.quantity, h.avg_cost, h.realized_pnl) for h in holdings),
        )
        memo: dict[object, list[Position]] | None = getattr(self, "_marked", None)
        if memo is None:
            memo = self._marked = {}
        known = memo.get(key)
        if known is None:
            known = self._mark(holdings, at)
            if len(memo) >= _MARKED_KEPT:
                memo.clear()
            memo[key] = known
        return list(known)

    def _mark(self, holdings: Sequence[Holding], at: datetime | None) -> list[Position]:
        quotes = market_quotes(self.market, [h.contract for h in holdings], at)
        out: list[Position] = []
        for h, q in zip(holdings, quotes, strict=True):
            mark = q.mark
            mult = h.contract.multiplier
            value = h.quantity * mark * mult
            out.append(
                Position(
                    h.contract,
                    h.quantity,
                    h.avg_cost,
                    market_price=mark,
                    market_value=value,
                    unrealized_pnl=value - h.quantity * h.avg_cost,
                    realized_pnl=h.realized_pnl,
                )
            )
        return out

    def _net_liquidation(self, positions: Sequence[Position]) -> float:
        # Futures hold no premium: only their open P&L adds to net liquidation.
        marked = sum(
            p.unrealized_pnl if p.contract.sec_type is SecType.FUTURE else p.market_value
            for p in positions
            if math.isfinite(p.market_value)
        )
        return self._ledger.cash + marked

    def _snapshot_account(self, positions: list[Position]) -> AccountSnapshot:
        spots = {
            p.contract.symbol: float(self.market.spot(p.contract.symbol))
            for p in positions
            if p.contract.sec_type is SecType.OPTION
        }
        margin = margin_requirement(positions, spots).total
        nl = self._net_liquidation(positions)
        excess = nl - margin
        return AccountSnapshot(
            ts=self.market.now(),
            account=mask_account(self._account_id),
            net_liquidation=round(nl, 6),
            cash=round(self._ledger.cash, 6),
            # Options buying power: what is left above the margin requirement, no stock leverage.
            buying_power=round(max(excess, 0.0), 6),
            excess_liquidity=round(excess, 6),
            init_margin=margin,
            maint_margin=margin,
            unrealized_pnl=round(sum(p.unrealized_pnl for p in positions), 6),
            realized_pnl=round(self._ledger.realized_pnl, 6),
            day_pnl=round(nl - self._day_base_nl, 6),
        )

    def _settle_expiries(self, day: date, ts: datetime) -> None:
        for h in list(self._ledger.open_holdings()):
            c = h.contract
            if c.sec_type is not SecType.OPTION or not _expired(c, day):
                continue
            assert c.strike is not None and c.right is not None
            spot = float(self.market.spot(c.symbol, ts))
            intrinsic = spot - c.strike if c.right is Right.CALL else c.strike - spot
            qty = h.quantity
            self._book_expiry(c, -qty, 0.0, ts, f"expired {day}")
            # IB auto-exercises anything at least $0.01 in the money.
            if intrinsic >= 0.01 - _EPS:
                shares = qty * c.multiplier * (1 if c.right is Right.CALL else -1)
                stock = self._resolve(Contract.stock(c.symbol))
                self._book_expiry(stock, shares, c.strike, ts, f"exercise of {c.key}")

    def _book_expiry(
        self, contract: Contract, qty: float, price: float, ts: datetime, why: str
    ) -> None:
        self._expiry_seq += 1
        self._ledger.apply_trade(contract, qty, price, 0.0)
        fill = Fill(
            exec_id=f"sim.exp.{self._expiry_seq:06d}",
            order_ref=f"expiry:{why}",
            contract=contract,
            quantity=qty,
            price=price,
            ts=ts,
        )
        self._fills.append(fill)
        self.events.emit(FillEvent(fill))


def _expired(contract: Contract, day: date) -> bool:
    """True for an option whose expiry is ``day`` or earlier (it settles at that close)."""
    return (
        contract.sec_type is SecType.OPTION
        and contract.expiry is not None
        and contract.expiry <= day
    )
