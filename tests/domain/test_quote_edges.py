"""Issue 17: an invalid quote has no mark (NaN, and says why); a NaN or infinite age
limit rejects every quote; absurd prices never validate; fuzzed quotes never raise."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelib.domain import Contract, Quote, QuoteProblem, check_quote, utc

NOW = utc(2026, 11, 24, 15, 0)
SPY = Contract.stock("SPY")


def q(bid: float, ask: float, *, last: float = math.nan, age_s: float = 1.0) -> Quote:
    return Quote(SPY, NOW - timedelta(seconds=age_s), bid=bid, ask=ask, last=last)


@pytest.mark.parametrize(
    ("quote", "why"),
    [
        (q(-1.0, -1.0), "no market data"),  # IB's sentinel: mark was -1
        (q(-5.0, -5.0), "-5"),  # negative: mark was -5
        (q(2.0, 1.0), "crossed"),  # crossed: mark was 1.5
        (q(2.0, 1.0, last=1.2), "crossed"),  # a last does not rescue a broken book
        (q(math.nan, math.nan), "NaN"),
        (q(1e300, 1.79e308), "> 1e+09"),
        (q(-1.0, -1.0, last=-1.0), "no valid last"),
    ],
)
def test_an_invalid_quote_has_no_mark_and_says_why(quote: Quote, why: str) -> None:
    assert math.isnan(quote.mark)
    assert quote.mark_problem is not None and why in quote.mark_problem
    assert not quote.mark_check.ok


def test_a_sound_book_marks_at_mid_and_no_book_falls_back_to_last() -> None:
    assert q(1.0, 1.2).mark == pytest.approx(1.1)
    assert q(1.0, 1.2).mark_problem is None
    assert q(math.nan, math.nan, last=1.3).mark == 1.3
    assert q(-1.0, -1.0, last=1.3).mark == 1.3  # IB sentinel = no book; the last trade stands


@pytest.mark.parametrize("limit", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_a_nan_or_infinite_age_limit_rejects_a_three_day_old_quote(limit: float) -> None:
    old = q(1.0, 1.1, age_s=3 * 86_400)
    result = check_quote(old, NOW, limit)
    assert not result.ok
    assert result.problem is QuoteProblem.BAD_LIMIT


def test_absurd_prices_never_validate_and_mid_never_overflows() -> None:
    huge = q(1e300, 1.79e308)
    assert math.isfinite(huge.mid)
    result = check_quote(huge, NOW, 15)
    assert not result.ok and result.problem is QuoteProblem.ABSURD


prices = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-1.0, 0.0, -0.0, 5e-324, 1e300, 1.79e308, 1.0, 1.05]),
)


@settings(max_examples=300, deadline=None)
@given(
    bid=prices,
    ask=prices,
    last=prices,
    age_s=st.floats(min_value=-1e6, max_value=1e6),
    limit=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(15.0)),
    allow_zero_bid=st.booleans(),
)
def test_fuzzed_quotes_never_raise_and_never_mark_or_validate_inf(
    bid: float, ask: float, last: float, age_s: float, limit: float, allow_zero_bid: bool
) -> None:
    quote = q(bid, ask, last=last, age_s=age_s)
    mark = quote.mark
    assert not math.isinf(mark)
    assert math.isnan(mark) == (quote.mark_problem is not None)
    if not math.isnan(mark):
        assert mark >= 0
    result = check_quote(quote, NOW, limit, allow_zero_bid=allow_zero_bid)
    if result.ok:
        assert math.isfinite(quote.mid) and quote.ask > 0 and quote.bid <= quote.ask
        # the quote's own age: timestamps have microseconds, so a tiny age_s is 0
        assert math.isfinite(limit) and (NOW - quote.ts).total_seconds() <= limit
        assert math.isfinite(quote.spread_pct)
        assert quote.mark == quote.mid
    else:
        assert result.problem is not None and result.reason
