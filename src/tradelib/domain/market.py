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
    """Top of book for one contract at ``ts`` (UTC). Missing values are NaN.

    ``delayed`` marks prices the broker delivers late (IB's delayed market data,
    without a real-time subscription): fine to look at, never to trade on.
    """

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
    delayed: bool = False  # the broker's delayed (not real-time) market data

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "Quote.ts"))

    @property
    def mid(self) -> float:
        """Midpoint of bid and ask (NaN when either side is missing).

        Halves are added, so two huge finite sides never overflow to inf.
        """
        return self.bid / 2.0 + self.ask / 2.0

    @property
    def spread(self) -> float:
        return self.ask - self.bid

    @property
    def spread_pct(self) -> float:
        """Bid/ask width as a fraction of the mid (inf when there is no positive mid).

        inf, not NaN, so a liquidity filter ``spread_pct <= limit`` rejects it.
        """
        mid = self.mid
        return self.spread / mid if mid > 0 else math.inf

    @property
    def mark_check(self) -> QuoteCheck:
        """Whether this quote has a mark, and if not why (see ``mark``)."""
        book = _book_problem(self.bid, self.ask)
        if book is None:
            return _OK
        if book.problem is QuoteProblem.NAN or book.problem is QuoteProblem.SENTINEL:
            # no book at all: the last trade is the best estimate there is
            if _is_price(self.last):
                return _OK
            return _bad(book.problem, f"{book.reason} and no valid last price")
        return book  # a book that is there but wrong (crossed, negative): no estimate

    @property
    def mark(self) -> float:
        """Best estimate of value: the mid of a sound book, else the last price, else NaN.

        An invalid quote (IB's -1 sentinel with no last, negative or crossed sides,
        absurd prices) has no mark: NaN, and ``mark_problem`` says why.
        """
        if _book_problem(self.bid, self.ask) is None:
            return self.mid
        return self.last if self.mark_check.ok else math.nan

    @property
    def mark_problem(self) -> str | None:
        """Why there is no mark (None when ``mark`` is a number)."""
        check = self.mark_check
        return None if check.ok else check.reason


class QuoteProblem(StrEnum):
    MISSING = "missing"
    NAN = "nan"
    ABSURD = "absurd"  # a price no listed contract trades at (1e300): a feed or unit error
    BAD_LIMIT = "bad_limit"  # the caller's max age is NaN, inf or <= 0: fail closed
    SENTINEL = "sentinel"
    NON_POSITIVE = "non_positive"
    CROSSED = "crossed"
    STALE = "stale"
    FUTURE_TIMESTAMP = "future_timestamp"
    DELAYED = "delayed"  # delayed market data (no real-time subscription)


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
# No listed option, stock, index or future trades anywhere near this (BRK.A ~ 1e6).
MAX_PRICE = 1e9
# ... nor at a positive price below this (the smallest tick anywhere is 1e-4).
MIN_PRICE = 1e-6


def _bad(problem: QuoteProblem, reason: str) -> QuoteCheck:
    return QuoteCheck(False, problem, reason)


def _is_price(value: float) -> bool:
    return (
        isinstance(value, int | float) and math.isfinite(value) and MIN_PRICE <= value <= MAX_PRICE
    )


def _book_problem(bid: float, ask: float, *, allow_zero_bid: bool = True) -> QuoteCheck | None:
    """Return what is wrong with a bid/ask pair, or None for a sound book."""
    for name, value in (("bid", bid), ("ask", ask)):
        if value is None or math.isnan(value):
            return _bad(QuoteProblem.NAN, f"{name} is NaN")
        if value == -1.0:
            return _bad(QuoteProblem.SENTINEL, f"{name} is -1 (no market data)")
        if math.isinf(value):
            return _bad(QuoteProblem.NAN, f"{name} is infinite")
        if value > MAX_PRICE:
            return _bad(QuoteProblem.ABSURD, f"{name} {value:g} > {MAX_PRICE:g}")
        if 0 < value < MIN_PRICE:
            return _bad(QuoteProblem.ABSURD, f"{name} {value:g} < {MIN_PRICE:g}")
    if ask <= 0:
        return _bad(QuoteProblem.NON_POSITIVE, f"ask {ask:g} <= 0")
    if bid < 0 or (bid == 0 and not allow_zero_bid):
        return _bad(QuoteProblem.NON_POSITIVE, f"bid {bid:g} <= 0")
    if bid > ask:
        return _bad(QuoteProblem.CROSSED, f"crossed: bid {bid:g} > ask {ask:g}")
    return None


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
    crossed books, absurd prices (> MAX_PRICE), quotes older than ``max_age_s``
    at ``now`` and delayed market data (``Quote.delayed``), however fresh its
    timestamp. A NaN, infinite or non-positive ``max_age_s`` rejects every quote.
    """
    if quote is None:
        return _bad(QuoteProblem.MISSING, "no quote")
    now = ensure_utc(now, "now")
    if not (isinstance(max_age_s, int | float) and math.isfinite(max_age_s) and max_age_s > 0):
        return _bad(QuoteProblem.BAD_LIMIT, f"max age {max_age_s!r} s is not a finite limit > 0")
    if quote.delayed:
        return _bad(QuoteProblem.DELAYED, "delayed market data: no real-time quote to trade on")
    book = _book_problem(quote.bid, quote.ask, allow_zero_bid=allow_zero_bid)
    if book is not None:
        return book
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
