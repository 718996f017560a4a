"""The quote validator: nothing is ever priced off a bad quote."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from tradelib.domain import Contract, Quote, QuoteProblem, check_quote, require_valid_quote, utc
from tradelib.errors import InvalidQuoteError

NOW = utc(2026, 11, 24, 15, 0)
SPY = Contract.stock("SPY")


def q(bid: float, ask: float, age_s: float = 1.0) -> Quote:
    return Quote(SPY, NOW - timedelta(seconds=age_s), bid=bid, ask=ask)


@pytest.mark.parametrize(
    ("quote", "problem", "fragment"),
    [
        (q(math.nan, 1.0), QuoteProblem.NAN, "bid is NaN"),
        (q(1.0, math.nan), QuoteProblem.NAN, "ask is NaN"),
        (q(-1.0, 1.0), QuoteProblem.SENTINEL, "-1"),
        (q(1.0, -1.0), QuoteProblem.SENTINEL, "-1"),
        (q(0.0, 1.0), QuoteProblem.NON_POSITIVE, "bid 0"),
        (q(0.5, 0.0), QuoteProblem.NON_POSITIVE, "ask 0"),
        (q(-0.5, 1.0), QuoteProblem.NON_POSITIVE, "bid -0.5"),
        (q(1.10, 1.00), QuoteProblem.CROSSED, "crossed"),
        (q(1.0, 1.1, age_s=60), QuoteProblem.STALE, "stale"),
        (q(1.0, 1.1, age_s=-60), QuoteProblem.FUTURE_TIMESTAMP, "future"),
        (None, QuoteProblem.MISSING, "no quote"),
    ],
)
def test_bad_quotes_are_rejected_with_their_reason(
    quote: Quote | None, problem: QuoteProblem, fragment: str
) -> None:
    result = check_quote(quote, NOW, max_age_s=15)
    assert not result.ok
    assert result.problem is problem
    assert fragment in result.reason


def test_good_quote_passes_and_locked_market_is_allowed() -> None:
    assert check_quote(q(1.00, 1.05), NOW, 15).ok
    assert check_quote(q(1.00, 1.00), NOW, 15).ok


def test_zero_bid_allowed_only_when_asked_for() -> None:
    assert not check_quote(q(0.0, 0.05), NOW, 15).ok
    assert check_quote(q(0.0, 0.05), NOW, 15, allow_zero_bid=True).ok


def test_a_delayed_quote_is_never_tradable_however_fresh_and_sound() -> None:
    delayed = Quote(SPY, NOW, bid=1.00, ask=1.05, delayed=True)
    result = check_quote(delayed, NOW, 15, allow_zero_bid=True)
    assert not result.ok
    assert result.problem is QuoteProblem.DELAYED
    assert "delayed market data" in result.reason
    assert delayed.mark == pytest.approx(1.025), "still readable: only trading on it is refused"
    with pytest.raises(InvalidQuoteError, match=r"SPY STK: delayed market data"):
        require_valid_quote(delayed, NOW, 15)


def test_require_valid_quote_raises_with_symbol_and_reason() -> None:
    with pytest.raises(InvalidQuoteError, match=r"SPY STK: crossed"):
        require_valid_quote(q(2.0, 1.0), NOW, 15)


def test_quote_mid_spread_and_naive_timestamp() -> None:
    quote = q(1.00, 1.10)
    assert quote.mid == pytest.approx(1.05)
    assert quote.spread_pct == pytest.approx(0.10 / 1.05)
    with pytest.raises(ValueError, match=r"Quote\.ts must be timezone-aware"):
        Quote(SPY, NOW.replace(tzinfo=None), 1.0, 1.1)


def test_an_option_key_is_spelled_as_its_contract_spells_it() -> None:
    from datetime import date

    from tradelib.domain import Contract, Right
    from tradelib.domain.contracts import option_key

    for strike in (450.0, 450.5, 0.5, 1234.25):
        for right in (Right.PUT, Right.CALL):
            c = Contract.option("SPY", date(2026, 12, 18), strike, right)
            assert option_key("SPY", date(2026, 12, 18), strike, right) == c.key
