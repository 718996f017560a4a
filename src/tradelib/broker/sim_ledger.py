"""Cash and positions of the simulated account, moved by fills, commissions and expiries.

Accounting conventions (IB style): ``avg_cost`` is per contract including the
multiplier and always positive (a short put sold at 1.25 has avg_cost 125.0);
commissions are NOT folded into avg_cost but leave cash directly and count
against the account's realized P&L. Closing (part of) a position realizes
``closed quantity x (exit - entry)`` with the sign of the position.

Futures move no premium: a trade costs only its commission, and closing one
settles the realized P&L into cash (open futures P&L counts in net
liquidation through the position's unrealized P&L).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradelib.domain import Contract, SecType


@dataclass(slots=True)
class Holding:
    """One open (or recently closed) position in the ledger."""

    contract: Contract
    quantity: float = 0.0
    avg_cost: float = 0.0
    realized_pnl: float = 0.0


@dataclass(slots=True)
class Ledger:
    """Cash, holdings keyed by contract key, and running totals."""

    cash: float
    holdings: dict[str, Holding] = field(default_factory=dict)
    realized_trading: float = 0.0
    commissions: float = 0.0

    def apply_trade(
        self, contract: Contract, quantity: float, price: float, commission: float = 0.0
    ) -> float:
        """Book a trade of signed ``quantity`` at ``price`` per share; return the P&L it realized."""
        mult = contract.multiplier
        is_future = contract.sec_type is SecType.FUTURE
        self.cash -= commission if is_future else quantity * price * mult + commission
        self.commissions += commission
        h = self.holdings.get(contract.key)
        if h is None:
            h = self.holdings[contract.key] = Holding(contract)
        cost = price * mult
        realized = 0.0
        if h.quantity == 0 or (h.quantity > 0) == (quantity > 0):
            total = abs(h.quantity) + abs(quantity)
            h.avg_cost = (abs(h.quantity) * h.avg_cost + abs(quantity) * cost) / total
            h.quantity += quantity
        else:
            closed = min(abs(quantity), abs(h.quantity))
            sign = 1.0 if h.quantity > 0 else -1.0
            realized = closed * (cost - h.avg_cost) * sign
            h.quantity += quantity
            if abs(h.quantity) < 1e-9:
                h.quantity = 0.0
                h.avg_cost = 0.0
            elif (h.quantity > 0) != (sign > 0):
                # The trade flipped the position: the remainder opened at this price.
                h.avg_cost = cost
        h.realized_pnl += realized
        self.realized_trading += realized
        if is_future:
            self.cash += realized
        return realized

    def open_holdings(self) -> list[Holding]:
        """Holdings with a non-zero quantity, in insertion order."""
        return [h for h in self.holdings.values() if h.quantity != 0]

    @property
    def realized_pnl(self) -> float:
        """Realized trading P&L net of every commission paid."""
        return self.realized_trading - self.commissions
