"""What the rules engine sees: one open strategy's state, and the market's.

Pure values. ``build_strategy_state`` turns a ``Strategy`` and its leg quotes
into the derived numbers every rule reads (P&L, greeks, DTE), once per cycle,
so the rules themselves only compare.

Conventions: money per share per strategy unit unless a name says dollars;
``credit`` > 0 for premium received; ``debit_to_close`` is what buying the
position back costs at the marks (negative when closing pays us); greeks of
the position are in shares (``delta x multiplier x quantity``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from types import MappingProxyType

from tradelib.domain import (
    MarketRegime,
    Quote,
    SecType,
    Strategy,
    check_quote,
    ensure_utc,
)
from tradelib.domain.decisions import InputValue
from tradelib.domain.strategies import Leg, payoff_profile
from tradelib.domain.time import NEW_YORK
from tradelib.errors import StrategyStateError

DEFAULT_MAX_QUOTE_AGE_S = 15.0  # = TradingConfig().market_data.max_quote_age_s


@dataclass(frozen=True, slots=True)
class DividendInfo:
    """The next dividend of the underlying: ex-date and amount in dollars per share."""

    ex_date: date
    amount: float


@dataclass(frozen=True, slots=True)
class LegState:
    """One leg with what its quote says now.

    ``quote_ok`` is ``check_quote``'s verdict (``problem`` says why not); greeks
    are None when the quote carried none. Stock legs have delta 1, gamma 0.
    """

    leg: Leg
    quote_ok: bool
    problem: str = ""
    mark: float = math.nan
    delta: float | None = None
    gamma: float | None = None
    iv: float | None = None

    @property
    def key(self) -> str:
        return self.leg.contract.key

    @property
    def is_short_option(self) -> bool:
        return self.leg.is_short and self.leg.contract.sec_type is SecType.OPTION


@dataclass(frozen=True, slots=True)
class StrategyState:
    """Everything the rules need about one open strategy at ``as_of``.

    Derived numbers are None when an input they need is missing: P&L when any
    leg's mark is invalid, position greeks when any option leg has no greeks,
    ``loss_multiple`` for a strategy opened for a debit.
    """

    strategy: Strategy
    as_of: datetime
    legs: tuple[LegState, ...]
    spot: float | None
    dte: int | None
    marks_valid: bool
    mark_problems: tuple[str, ...] = ()
    max_profit: float | None = None  # per share per unit; None when unbounded
    debit_to_close: float | None = None  # per share per unit, at the marks
    pnl: float | None = None  # dollars, whole position
    profit_fraction: float | None = None  # of max profit
    loss_multiple: float | None = None  # loss per share / credit received
    position_delta: float | None = None  # shares
    position_gamma: float | None = None  # shares per $1 of the underlying
    max_short_delta: float | None = None  # largest abs delta among short legs with greeks
    entry_iv: float | None = None
    current_iv: float | None = None  # mean IV of the short option legs
    iv_change: float | None = None  # current / entry - 1
    dividend: DividendInfo | None = None
    roll_credit: float | None = None  # per share a roll of the tested side would collect
    inputs: Mapping[str, InputValue] = field(init=False, repr=False, compare=False)
    short_option_legs: tuple[LegState, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "as_of", ensure_utc(self.as_of, "StrategyState.as_of"))
        object.__setattr__(self, "inputs", MappingProxyType(self._summary()))
        # Several rules walk the short legs of every strategy each cycle: find them once.
        shorts = tuple(leg for leg in self.legs if leg.is_short_option)
        object.__setattr__(self, "short_option_legs", shorts)

    @property
    def strategy_id(self) -> str:
        return self.strategy.strategy_id

    @property
    def credit(self) -> float:
        """Net premium per share per unit received at entry (negative for a debit)."""
        return self.strategy.credit

    @property
    def today(self) -> date:
        """The New York calendar date of ``as_of`` (the date DTE counts from)."""
        return self.as_of.astimezone(NEW_YORK).date()

    def _summary(self) -> dict[str, InputValue]:
        """The flat numbers every decision about this strategy records."""
        s = self.strategy
        return {
            "strategy_type": s.strategy_type.value,
            "underlying": s.underlying,
            "quantity": s.quantity,
            "dte": self.dte,
            "spot": _round(self.spot),
            "credit": _round(s.credit),
            "debit_to_close": _round(self.debit_to_close),
            "pnl": _round(self.pnl, 2),
            "profit_fraction": _round(self.profit_fraction),
            "loss_multiple": _round(self.loss_multiple),
            "max_short_delta": _round(self.max_short_delta),
            "position_delta": _round(self.position_delta, 2),
            "position_gamma": _round(self.position_gamma, 3),
            "current_iv": _round(self.current_iv),
            "entry_iv": _round(self.entry_iv),
            "roll_credit": _round(self.roll_credit),
            "marks_valid": self.marks_valid,
        }


@dataclass(frozen=True, slots=True)
class MarketState:
    """The market around the strategies: regime (None = unknown), VIX, spots, time."""

    ts: datetime
    regime: MarketRegime | None = None
    vix: float | None = None
    spots: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "MarketState.ts"))


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@lru_cache(maxsize=4096)
def _max_profit(legs: tuple[Leg, ...], credit: float) -> float | None:
    # A strategy's legs and credit never change while it is open: the exact payoff
    # arithmetic is done once per strategy, not once per monitoring cycle.
    best = payoff_profile(legs, credit).max_profit
    return best if math.isfinite(best) else None


def _leg_state(leg: Leg, quote: Quote | None, now: datetime, max_age_s: float) -> LegState:
    check = check_quote(quote, now, max_age_s, allow_zero_bid=True)
    if quote is None:
        return LegState(leg, False, f"{leg.contract.key}: {check.reason}")
    if leg.contract.sec_type is not SecType.OPTION:
        delta: float | None = 1.0
        gamma: float | None = 0.0
        iv: float | None = None
    elif quote.greeks is None:
        delta = gamma = iv = None
    else:
        g = quote.greeks
        delta, gamma, iv = _finite(g.delta), _finite(g.gamma), _finite(g.iv)
    return LegState(
        leg,
        check.ok,
        "" if check.ok else f"{leg.contract.key}: {check.reason}",
        quote.mark,
        delta,
        gamma,
        iv,
    )


def build_strategy_state(
    strategy: Strategy,
    quotes: Mapping[str, Quote] | Iterable[Quote],
    spot: float | None,
    now: datetime,
    *,
    entry_iv: float | None = None,
    max_quote_age_s: float = DEFAULT_MAX_QUOTE_AGE_S,
    dividend: DividendInfo | None = None,
    roll_credit: float | None = None,
) -> StrategyState:
    """Compute one strategy's state from its leg quotes (keyed by ``Contract.key``).

    Each leg quote goes through ``check_quote`` (a zero bid is allowed: far
    wings legitimately bid nothing); one bad leg makes the P&L unknown, because
    a spread's value is only as good as its worst leg.
    """
    try:
        as_of = ensure_utc(now, "now")
    except (TypeError, ValueError) as exc:
        raise StrategyStateError(strategy_id=strategy.strategy_id, problem=str(exc)) from exc
    by_key = quotes if isinstance(quotes, Mapping) else {q.contract.key: q for q in quotes}
    legs = tuple(
        _leg_state(leg, by_key.get(leg.contract.key), as_of, max_quote_age_s)
        for leg in strategy.legs
    )
    spot = _finite(spot)
    if spot is not None and spot <= 0:
        spot = None
    problems = tuple(leg.problem for leg in legs if not leg.quote_ok)
    marks_valid = not problems
    today = as_of.astimezone(NEW_YORK).date()
    max_profit = _max_profit(strategy.legs, strategy.credit)

    debit, pnl, profit_fraction, loss_multiple = (
        _pnl_figures(strategy, legs, max_profit) if marks_valid else (None, None, None, None)
    )
    position_delta, position_gamma = _position_greeks(strategy, legs)
    max_short_delta, current_iv, entry, iv_change = _short_leg_figures(legs, entry_iv)

    return StrategyState(
        strategy=strategy,
        as_of=as_of,
        legs=legs,
        spot=spot,
        dte=strategy.dte(today),
        marks_valid=marks_valid,
        mark_problems=problems,
        max_profit=max_profit,
        debit_to_close=debit,
        pnl=pnl,
        profit_fraction=profit_fraction,
        loss_multiple=loss_multiple,
        position_delta=position_delta,
        position_gamma=position_gamma,
        max_short_delta=max_short_delta,
        entry_iv=entry,
        current_iv=current_iv,
        iv_change=iv_change,
        dividend=dividend,
        roll_credit=_finite(roll_credit),
    )


Figure = float | None


def _pnl_figures(
    strategy: Strategy, legs: tuple[LegState, ...], max_profit: float | None
) -> tuple[Figure, Figure, Figure, Figure]:
    """Debit to close, P&L, fraction of max profit and loss multiple, from valid marks."""
    # Value of what we hold, per share per unit: + long legs, - short legs.
    debit = -sum(leg.leg.ratio * leg.mark for leg in legs)
    per_share = strategy.credit - debit
    pnl = per_share * (strategy.multiplier * strategy.quantity)
    profit_fraction = per_share / max_profit if max_profit is not None and max_profit > 0 else None
    loss_multiple = -per_share / strategy.credit if strategy.credit > 0 else None
    return debit, pnl, profit_fraction, loss_multiple


def _position_greeks(strategy: Strategy, legs: tuple[LegState, ...]) -> tuple[Figure, Figure]:
    """Position delta and gamma in shares, when every leg has both greeks."""
    if not all(leg.delta is not None and leg.gamma is not None for leg in legs):
        return None, None
    scale = [leg.leg.ratio * leg.leg.contract.multiplier * strategy.quantity for leg in legs]
    delta = sum(k * (leg.delta or 0.0) for k, leg in zip(scale, legs, strict=True))
    gamma = sum(k * (leg.gamma or 0.0) for k, leg in zip(scale, legs, strict=True))
    return delta, gamma


def _short_leg_figures(
    legs: tuple[LegState, ...], entry_iv: float | None
) -> tuple[Figure, Figure, Figure, Figure]:
    """Largest short-leg |delta|, the short legs' mean IV, the entry IV and the IV change."""
    shorts = [leg for leg in legs if leg.is_short_option]
    short_deltas = [abs(leg.delta) for leg in shorts if leg.delta is not None]
    short_ivs = [leg.iv for leg in shorts if leg.iv is not None and leg.iv > 0]
    current_iv = sum(short_ivs) / len(short_ivs) if short_ivs else None
    entry = _finite(entry_iv)
    iv_change = None
    if current_iv is not None and entry is not None and entry > 0:
        iv_change = current_iv / entry - 1.0
    return (max(short_deltas) if short_deltas else None), current_iv, entry, iv_change
