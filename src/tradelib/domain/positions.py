"""Account and position state as reported by a broker."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from tradelib.domain.contracts import Contract
from tradelib.domain.time import ensure_utc


@dataclass(frozen=True, slots=True)
class Position:
    """A holding in one contract. ``quantity`` is signed (negative = short).

    ``avg_cost`` is per unit of the contract *including* the multiplier, as IB
    reports it (an option sold at 1.25 has avg_cost 125.0).
    """

    contract: Contract
    quantity: float
    avg_cost: float
    market_price: float = math.nan
    market_value: float = math.nan
    unrealized_pnl: float = math.nan
    realized_pnl: float = 0.0

    @property
    def is_short(self) -> bool:
        return self.quantity < 0


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Balances of the trading account at ``ts``. ``account`` is already masked."""

    ts: datetime
    account: str
    net_liquidation: float
    cash: float
    buying_power: float
    excess_liquidity: float
    init_margin: float
    maint_margin: float
    unrealized_pnl: float = 0.0
    realized_pnl: float = 0.0
    day_pnl: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "AccountSnapshot.ts"))

    @property
    def margin_use(self) -> float:
        """Initial margin as a fraction of net liquidation."""
        return self.init_margin / self.net_liquidation if self.net_liquidation > 0 else math.inf
