"""Quotes and greeks, and the validator that decides whether a quote can be traded on."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from tradelib.domain.contracts import Contract
from tradelib.domain.time import ensure_utc
from tradelib.errors import InvalidQuoteError


@dataclass(frozen=True, slots=True)
class OptionGreeks:
    """Greeks of one option: theta per calendar day, vega per vol point."""

    delta: float
    gamma: float
    theta: float
    vega: float
    iv: float
    source: str = "broker"  # "broker" (e.g. IB option computation) or "model" (our own pricing)


@dataclass(frozen=True, slots=True)
class Dividend:
    """The next ex-dividend date of an underlying and the cash amount per share."""

    symbol: str
    ex_date: date
    amount: float


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book for one contract at ``ts`` (UTC). Missing values are NaN."""

    contract: Contract
    ts: datetime
    bid: float = math.nan
    ask: float = math.nan
    last: float = math.nan
    bid_size: float = math.nan
    ask_size: float = math.nan
    greeks: OptionGreeks | None = None
    underlying_price: float = math.nan
    open_interest: float = math.nan

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "Quote.ts"))

    @property
    def mid(self) -> float:
        """Midpoint of bid and ask (NaN when either side is missing)."""
        return (self.bid + self.ask) / 2.0

    @property
    def spread(self) -> float:
        return self.ask - self.bid

    @property
    def spread_pct(self) -> float:
        """Bid/ask width as a fraction of the mid."""
        mid = self.mid
        return self.spread / mid if mid > 0 else math.inf

    @property
    def mark(self) -> float:
        """Best estimate of value: mid when both sides exist, else last."""
        mid = self.mid
        return mid if math.isfinite(mid) else self.last


class QuoteProblem(StrEnum):
    MISSING = "missing"
    NAN = "nan"
    SENTINEL = "sentinel"
    NON_POSITIVE = "non_positive"
    CROSSED = "crossed"
    STALE = "stale"
    FUTURE_TIMESTAMP = "future_timestamp"


@dataclass(frozen=True, slots=True)
class QuoteCheck:
    """Outcome of validating a quote: ``ok`` or a problem with a readable reason."""

    ok: bool
    problem: QuoteProblem | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


_OK = QuoteCheck(True)
_CLOCK_SKEW = timedelta(seconds=5)


def _bad(problem: QuoteProblem, reason: str) -> QuoteCheck:
    return QuoteCheck(False, problem, reason)


def check_quote(
    quote: Quote | None,
    now: datetime,
    max_age_s: float,
    *,
    allow_zero_bid: bool = False,
) -> QuoteCheck:
    """Decide whether ``quote`` is safe to price an order from.

    Rejects a missing quote, NaN sides, IB's -1 "no data" sentinel, zero or
    negative prices (a zero bid only when ``allow_zero_bid``: far OTM options
    legitimately bid nothing, and buying them back is still priced off the ask),
    crossed books and quotes older than ``max_age_s`` at ``now``.
    """
    if quote is None:
        return _bad(QuoteProblem.MISSING, "no quote")
    now = ensure_utc(now, "now")
    sides = (("bid", quote.bid), ("ask", quote.ask))
    for name, value in sides:
        if value is None or math.isnan(value):
            return _bad(QuoteProblem.NAN, f"{name} is NaN")
        if value == -1.0:
            return _bad(QuoteProblem.SENTINEL, f"{name} is -1 (no market data)")
        if math.isinf(value):
            return _bad(QuoteProblem.NAN, f"{name} is infinite")
    if quote.ask <= 0:
        return _bad(QuoteProblem.NON_POSITIVE, f"ask {quote.ask:g} <= 0")
    if quote.bid < 0 or (quote.bid == 0 and not allow_zero_bid):
        return _bad(QuoteProblem.NON_POSITIVE, f"bid {quote.bid:g} <= 0")
    if quote.bid > quote.ask:
        return _bad(QuoteProblem.CROSSED, f"crossed: bid {quote.bid:g} > ask {quote.ask:g}")
    age = (now - quote.ts).total_seconds()
    if age > max_age_s:
        return _bad(QuoteProblem.STALE, f"stale: {age:.1f}s old > {max_age_s:g}s")
    if quote.ts - now > _CLOCK_SKEW:
        return _bad(QuoteProblem.FUTURE_TIMESTAMP, f"timestamp {age:.1f}s in the future")
    return _OK


def require_valid_quote(
    quote: Quote | None,
    now: datetime,
    max_age_s: float,
    *,
    symbol: str = "",
    allow_zero_bid: bool = False,
) -> Quote:
    """Return ``quote`` if valid, else raise :class:`InvalidQuoteError` with the reason."""
    result = check_quote(quote, now, max_age_s, allow_zero_bid=allow_zero_bid)
    if not result.ok:
        name = symbol or (quote.contract.key if quote is not None else "?")
        raise InvalidQuoteError(symbol=name, reason=result.reason)
    assert quote is not None
    return quote
