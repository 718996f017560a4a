"""Order intents, order states and fills.

Price convention (one for single legs and combos alike): every leg carries
its *execution* ratio (positive = we buy, negative = we sell) and an order's
``limit_price`` is the net price per unit we are willing to pay: positive for
a debit, negative for a credit. Opening a put credit spread for 1.20 is legs
(-1 short put, +1 long put) at limit -1.20; closing it for 0.40 is legs
(+1, -1) at +0.40. The natural (marketable) net price pays the ask on bought
legs and receives the bid on sold legs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tradelib.domain.contracts import Contract
from tradelib.domain.enums import OrderPurpose, OrderStatus, OrderType, TimeInForce
from tradelib.domain.market import Quote
from tradelib.domain.strategies import Leg
from tradelib.domain.time import ensure_utc
from tradelib.errors import TradelibError

_REF_PREFIX = "tl"
_REF_RE = re.compile(r"^tl:(?P<strategy>[A-Za-z0-9_.\-]+):(?P<purpose>[a-z]+):(?P<seq>\d+)$")


class OrderError(TradelibError):
    template = "bad order: {message}"


def make_order_ref(strategy_id: str, purpose: OrderPurpose, seq: int = 1) -> str:
    """Build the idempotent order reference carried by every order (IB ``orderRef``)."""
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", strategy_id):
        raise OrderError(
            f"strategy id {strategy_id!r} may only hold letters, digits, '_', '.', '-'"
        )
    if seq < 1:
        raise OrderError(f"order sequence must be >= 1, got {seq}")
    return f"{_REF_PREFIX}:{strategy_id}:{purpose.value}:{seq}"


def order_ref_prefix(strategy_id: str, purpose: OrderPurpose | None = None) -> str:
    """The prefix every order reference of ``strategy_id`` (of one ``purpose``) starts with."""
    prefix = f"{_REF_PREFIX}:{strategy_id}:"
    return prefix if purpose is None else f"{prefix}{purpose.value}:"


@dataclass(frozen=True, slots=True)
class ParsedOrderRef:
    strategy_id: str
    purpose: OrderPurpose
    seq: int


def parse_order_ref(ref: str | None) -> ParsedOrderRef | None:
    """Parse one of our order references; ``None`` for anything else (orders placed by hand)."""
    if not ref:
        return None
    m = _REF_RE.match(ref)
    if m is None:
        return None
    try:
        purpose = OrderPurpose(m["purpose"])
    except ValueError:
        return None
    return ParsedOrderRef(m["strategy"], purpose, int(m["seq"]))


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What we want the broker to do; written to the lake before it is sent."""

    order_ref: str
    strategy_id: str
    purpose: OrderPurpose
    legs: tuple[Leg, ...]
    quantity: int
    limit_price: float | None
    created_at: datetime
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.DAY
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "created_at", ensure_utc(self.created_at, "OrderIntent.created_at")
        )
        if not self.legs:
            raise OrderError(f"{self.order_ref}: an order needs at least one leg")
        if self.quantity <= 0:
            raise OrderError(f"{self.order_ref}: quantity must be > 0, got {self.quantity}")
        if self.order_type is OrderType.LIMIT and (
            self.limit_price is None or not math.isfinite(self.limit_price)
        ):
            raise OrderError(f"{self.order_ref}: a limit order needs a finite limit price")
        keys = [leg.contract.key for leg in self.legs]
        if len(set(keys)) != len(keys):
            raise OrderError(f"{self.order_ref}: duplicate legs {keys}")

    @property
    def is_combo(self) -> bool:
        return len(self.legs) > 1


def net_prices(legs: Sequence[Leg], quotes: Mapping[str, Quote]) -> tuple[float, float, float]:
    """(mid, natural, passive) net price per unit for ``legs``, from quotes keyed by contract key.

    natural pays the ask on bought legs and receives the bid on sold legs;
    passive is the opposite side (the best price one could hope for).
    """
    mid = natural = passive = 0.0
    for leg in legs:
        q = quotes[leg.contract.key]
        mid += leg.ratio * q.mid
        if leg.ratio > 0:
            natural += leg.ratio * q.ask
            passive += leg.ratio * q.bid
        else:
            natural += leg.ratio * q.bid
            passive += leg.ratio * q.ask
    return mid, natural, passive


@dataclass(frozen=True, slots=True)
class OrderState:
    """The broker's view of one order, keyed by our ``order_ref``."""

    order_ref: str
    status: OrderStatus
    quantity: int
    filled_quantity: float = 0.0
    avg_fill_price: float = math.nan
    limit_price: float | None = None
    broker_order_id: int | None = None
    perm_id: int | None = None
    updated_at: datetime | None = None
    reason: str = ""
    error_code: int | None = None

    @property
    def remaining(self) -> float:
        return max(self.quantity - self.filled_quantity, 0.0)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one leg. ``quantity`` is signed (+ bought, - sold), per contract."""

    exec_id: str
    order_ref: str
    contract: Contract
    quantity: float
    price: float
    ts: datetime
    commission: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "Fill.ts"))
