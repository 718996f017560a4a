"""with_candidate over a market of quotes: greeks and marks read on demand, as a dict would give."""

from __future__ import annotations

from tradelib.domain import OptionGreeks, Quote
from tradelib.risk import PortfolioRiskCalculator

from .conftest import T0, greeks, held, option, put_spread, spread_greeks, spread_marks


def _quote(strike: float, bid: float, ask: float, g: OptionGreeks | None) -> Quote:
    return Quote(option("SPY", strike), T0, bid=bid, ask=ask, greeks=g)


def test_candidate_greeks_merge_like_a_dict_with_the_market_winning(
    calc: PortfolioRiskCalculator,
) -> None:
    existing = put_spread("SPY", 580)
    marks = spread_marks(existing)
    before = calc.calculate(
        [held(leg.contract, leg.ratio, marks[leg.contract.key]) for leg in existing],
        spread_greeks(existing),
    )
    short, long = put_spread("SPY", 560)
    market = {
        short.contract.key: _quote(560, 3.0, 3.2, greeks(-0.3)),
        long.contract.key: _quote(555, 2.0, 2.2, greeks(-0.2)),
        # a quote without greeks leaves the held greeks in place
        existing[0].contract.key: _quote(580, 2.9, 3.1, None),
        "SPY 20261224 400 P": _quote(400, -1.0, -1.0, None),  # no mark, never asked
    }
    after = calc.with_candidate(before, (short, long), market, quantity=1)
    expected = {**before.greeks, short.contract.key: greeks(-0.3), long.contract.key: greeks(-0.2)}
    assert dict(after.greeks) == expected
    assert list(after.greeks) == list(expected)
    assert len(after.greeks) == len(expected)
    assert "SPY 20261224 400 P" not in after.greeks
    # the market dict changing later does not change the measured portfolio
    market.clear()
    assert after.greeks[short.contract.key] == greeks(-0.3)


def test_candidate_legs_are_priced_at_their_quote_mids(calc: PortfolioRiskCalculator) -> None:
    short, long = put_spread("SPY", 560)
    market = {
        short.contract.key: _quote(560, 3.0, 3.2, greeks(-0.3)),
        long.contract.key: _quote(555, 2.0, 2.2, greeks(-0.2)),
    }
    after = calc.with_candidate(calc.calculate([], {}), (short, long), market, quantity=2)
    prices = {p.contract.key: p.market_price for p in after.positions}
    assert prices == {short.contract.key: 3.1, long.contract.key: 2.1}
