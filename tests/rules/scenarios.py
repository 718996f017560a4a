"""Builders for rule scenarios: strategies, leg quotes with chosen marks and greeks, states.

Marks are set through bid/ask 0.125 either side of the wanted mid, so mids and
the P&L derived from them are exact binary fractions and boundary tests can hit
a threshold exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from tradelib.config import TradingConfig
from tradelib.domain import (
    Contract,
    Leg,
    MarketRegime,
    OptionGreeks,
    Quote,
    Right,
    Strategy,
    StrategyType,
    new_york,
)
from tradelib.rules import DividendInfo, MarketState, StrategyState, build_strategy_state

NOW = new_york(2026, 11, 24, 11, 0)  # a Tuesday, mid-session
TODAY = date(2026, 11, 24)
SPOT = 600.0
HALF_WIDTH = 0.125


def option(strike: float, right: str, dte: int = 30, symbol: str = "SPY") -> Contract:
    return Contract.option(symbol, TODAY + timedelta(days=dte), strike, Right(right))


def strategy(
    kind: StrategyType,
    legs: Sequence[tuple[Contract, int]],
    credit: float,
    quantity: int = 1,
    strategy_id: str = "s1",
) -> Strategy:
    return Strategy(
        strategy_id=strategy_id,
        strategy_type=kind,
        underlying=legs[0][0].symbol,
        legs=tuple(Leg(c, r) for c, r in legs),
        quantity=quantity,
        credit=credit,
        opened_at=NOW - timedelta(days=10),
    )


def put_spread(
    short: float = 580, long: float = 575, credit: float = 1.0, dte: int = 30, quantity: int = 1
) -> Strategy:
    return strategy(
        StrategyType.PUT_CREDIT_SPREAD,
        [(option(short, "P", dte), -1), (option(long, "P", dte), 1)],
        credit,
        quantity,
    )


def call_spread(
    short: float = 620, long: float = 625, credit: float = 1.0, dte: int = 30, quantity: int = 1
) -> Strategy:
    return strategy(
        StrategyType.CALL_CREDIT_SPREAD,
        [(option(short, "C", dte), -1), (option(long, "C", dte), 1)],
        credit,
        quantity,
    )


def short_strangle(
    put: float = 570, call: float = 630, credit: float = 3.0, dte: int = 30, quantity: int = 1
) -> Strategy:
    return strategy(
        StrategyType.SHORT_STRANGLE,
        [(option(put, "P", dte), -1), (option(call, "C", dte), -1)],
        credit,
        quantity,
    )


def iron_condor(credit: float = 2.0, dte: int = 30, quantity: int = 1) -> Strategy:
    return strategy(
        StrategyType.IRON_CONDOR,
        [
            (option(580, "P", dte), -1),
            (option(575, "P", dte), 1),
            (option(620, "C", dte), -1),
            (option(625, "C", dte), 1),
        ],
        credit,
        quantity,
    )


def leg_quotes(
    strat: Strategy,
    mids: Sequence[float],
    *,
    deltas: Sequence[float | None] | None = None,
    gammas: Sequence[float] | None = None,
    ivs: Sequence[float] | None = None,
    greeks: bool = True,
    ts: datetime = NOW,
) -> dict[str, Quote]:
    """One quote per leg with the given mids (and greeks unless ``greeks`` is False)."""
    out: dict[str, Quote] = {}
    for i, leg in enumerate(strat.legs):
        c = leg.contract
        default_delta = -0.10 if c.right is Right.PUT else 0.10
        delta = deltas[i] if deltas is not None else default_delta
        g = None
        if greeks and delta is not None:
            g = OptionGreeks(
                delta=delta,
                gamma=gammas[i] if gammas is not None else 0.01,
                theta=-0.05,
                vega=0.2,
                iv=ivs[i] if ivs is not None else 0.20,
            )
        mid = mids[i]
        out[c.key] = Quote(
            c,
            ts,
            bid=max(mid - HALF_WIDTH, 0.0),
            ask=mid + HALF_WIDTH,
            greeks=g,
            underlying_price=SPOT,
        )
    return out


def state_of(
    strat: Strategy,
    mids: Sequence[float],
    *,
    spot: float = SPOT,
    now: datetime = NOW,
    entry_iv: float | None = 0.20,
    roll_credit: float | None = None,
    dividend: DividendInfo | None = None,
    deltas: Sequence[float | None] | None = None,
    gammas: Sequence[float] | None = None,
    ivs: Sequence[float] | None = None,
    greeks: bool = True,
    quote_ts: datetime | None = None,
    replace: dict[int, Quote | None] | None = None,
) -> StrategyState:
    """Build a state; ``replace`` swaps leg ``i``'s quote (None drops it)."""
    quotes = leg_quotes(
        strat, mids, deltas=deltas, gammas=gammas, ivs=ivs, greeks=greeks, ts=quote_ts or now
    )
    for i, q in (replace or {}).items():
        key = strat.legs[i].contract.key
        if q is None:
            quotes.pop(key)
        else:
            quotes[key] = q
    return build_strategy_state(
        strat,
        quotes,
        spot,
        now,
        entry_iv=entry_iv,
        max_quote_age_s=TradingConfig().market_data.max_quote_age_s,
        dividend=dividend,
        roll_credit=roll_credit,
    )


def market(regime: MarketRegime | None = MarketRegime.NORMAL, now: datetime = NOW) -> MarketState:
    return MarketState(now, regime=regime, vix=16.0, spots={"SPY": SPOT})
