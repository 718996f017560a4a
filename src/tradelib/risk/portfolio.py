"""Portfolio greeks: beta-weighted delta, gamma, vega, theta and risk capital per underlying.

Units (per position line, summed per underlying):

* ``delta``: shares of the underlying (option delta x multiplier x quantity;
  stock 1 per share; a future its multiplier per contract).
* ``beta_weighted_delta``: SPY-equivalent shares,
  ``delta x beta x spot / benchmark_spot``: the benchmark shares that move the
  portfolio as much for a 1% benchmark move.
* ``gamma``: shares of delta gained per $1 move of the underlying; the
  portfolio total is beta-weighted the same way (squared), in benchmark shares
  per benchmark dollar.
* ``vega``: dollars per vol point; ``theta``: dollars per calendar day.
* ``risk_capital``: the Reg-T style margin requirement of the underlying's
  positions (defined-risk spreads: width minus credit; naked shorts: the naked
  formula). It is finite for every strategy we trade, which max loss is not
  (a strangle's call side), so concentration limits can use it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from tradelib.domain import Leg, OptionGreeks, Position, Quote, QuoteBook, SecType, Strategy
from tradelib.errors import RiskInputError
from tradelib.risk.margin import margin_requirement
from tradelib.risk.returns import daily_returns, estimate_betas

DEFAULT_BENCHMARK = "SPY"


@dataclass(frozen=True, slots=True)
class UnderlyingRisk:
    """Aggregated greeks of every position on one underlying."""

    underlying: str
    spot: float
    beta: float
    delta: float
    beta_weighted_delta: float
    gamma: float
    beta_weighted_gamma: float
    vega: float
    theta: float
    risk_capital: float
    lines: int  # position lines (contracts) on this underlying


@dataclass(frozen=True, slots=True)
class PortfolioRisk:
    """Greeks of a portfolio, per underlying and in total.

    A portfolio built by ``PortfolioRiskCalculator.with_candidate`` keeps the
    portfolio it started from in ``baseline`` and the candidate's underlyings
    in ``candidate_underlyings``, so limit checks can compare before and after.
    """

    benchmark: str
    benchmark_spot: float
    by_underlying: Mapping[str, UnderlyingRisk]
    positions: tuple[Position, ...]
    greeks: Mapping[str, OptionGreeks]
    baseline: PortfolioRisk | None = None
    candidate_underlyings: tuple[str, ...] = ()
    candidate_quantity: int = 0

    @property
    def beta_weighted_delta(self) -> float:
        """Total delta in benchmark-equivalent shares."""
        return sum(u.beta_weighted_delta for u in self.by_underlying.values())

    @property
    def gamma(self) -> float:
        """Total beta-weighted gamma (benchmark shares per benchmark dollar)."""
        return sum(u.beta_weighted_gamma for u in self.by_underlying.values())

    @property
    def vega(self) -> float:
        return sum(u.vega for u in self.by_underlying.values())

    @property
    def theta(self) -> float:
        return sum(u.theta for u in self.by_underlying.values())

    @property
    def risk_capital(self) -> float:
        return sum(u.risk_capital for u in self.by_underlying.values())

    def underlying(self, symbol: str) -> UnderlyingRisk | None:
        """Return the exposure on ``symbol`` (None when flat)."""
        return self.by_underlying.get(symbol)


@dataclass(frozen=True, slots=True)
class PortfolioRiskCalculator:
    """Aggregate position greeks into portfolio risk; pure (prices and betas passed in).

    ``spots`` maps each underlying (and the benchmark) to its price; ``betas``
    maps each underlying to its beta against ``benchmark`` (the benchmark
    itself is 1.0 whether given or not).
    """

    betas: Mapping[str, float]
    spots: Mapping[str, float]
    benchmark: str = DEFAULT_BENCHMARK
    _betas: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        betas = {k: float(v) for k, v in self.betas.items()}
        betas[self.benchmark] = 1.0
        bad = [k for k, v in betas.items() if not math.isfinite(v)]
        if bad:
            raise RiskInputError(name="betas", problem=f"not finite for {bad}")
        object.__setattr__(self, "_betas", betas)
        self._spot(self.benchmark)

    @classmethod
    def from_bars(
        cls,
        closes: Mapping[str, pl.DataFrame],
        spots: Mapping[str, float],
        *,
        benchmark: str = DEFAULT_BENCHMARK,
        lookback_days: int = 60,
    ) -> PortfolioRiskCalculator:
        """Build with betas estimated from daily bars (``ts``, ``close``) of each underlying."""
        returns = daily_returns(closes, lookback_days)
        return cls(estimate_betas(returns, benchmark), spots, benchmark)

    def _spot(self, symbol: str) -> float:
        value = self.spots.get(symbol, math.nan)
        if not (math.isfinite(value) and value > 0):
            raise RiskInputError(name="spots", problem=f"no valid price for {symbol} ({value})")
        return float(value)

    def _beta(self, symbol: str) -> float:
        beta = self._betas.get(symbol)
        if beta is None:
            raise RiskInputError(name="betas", problem=f"no beta for {symbol} vs {self.benchmark}")
        return beta

    def calculate(
        self, positions: Iterable[Position], greeks: Mapping[str, OptionGreeks]
    ) -> PortfolioRisk:
        """Aggregate ``positions``; option greeks come from ``greeks`` keyed by contract key."""
        held = tuple(p for p in positions if p.quantity != 0)
        bench_spot = self._spot(self.benchmark)
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
        for p in held:
            c = p.contract
            qty = p.quantity
            acc = sums[c.symbol]
            acc[4] += 1
            if c.sec_type is SecType.OPTION:
                g = greeks.get(c.key)
                if g is None:
                    raise RiskInputError(name="greeks", problem=f"no greeks for {c.key}")
                scale = qty * c.multiplier
                acc[0] += g.delta * scale
                acc[1] += g.gamma * scale
                acc[2] += g.vega * scale
                acc[3] += g.theta * scale
            elif c.sec_type in (SecType.STOCK, SecType.FUTURE):
                acc[0] += qty * c.multiplier
            else:
                raise RiskInputError(name="positions", problem=f"cannot hold {c.key}")
        spots = {symbol: self._spot(symbol) for symbol in sums}
        capital = margin_requirement(held, spots).by_underlying
        by_underlying: dict[str, UnderlyingRisk] = {}
        for symbol in sorted(sums):
            delta, gamma, vega, theta, lines = sums[symbol]
            beta = self._beta(symbol)
            spot = spots[symbol]
            # How many benchmark dollars one dollar of this underlying moves with.
            weight = beta * spot / bench_spot
            by_underlying[symbol] = UnderlyingRisk(
                underlying=symbol,
                spot=spot,
                beta=beta,
                delta=delta,
                beta_weighted_delta=delta * weight,
                gamma=gamma,
                beta_weighted_gamma=gamma * weight * weight,
                vega=vega,
                theta=theta,
                risk_capital=capital.get(symbol, 0.0),
                lines=int(lines),
            )
        # A market view is immutable already; anything else is copied so the caller's
        # dict can change without changing this result.
        kept = greeks if isinstance(greeks, _MarketGreeks) else dict(greeks)
        return PortfolioRisk(self.benchmark, bench_spot, by_underlying, held, kept)

    def with_candidate(
        self,
        portfolio: PortfolioRisk,
        legs: Sequence[Leg] | Strategy,
        greeks: Mapping[str, OptionGreeks] | Mapping[str, Quote],
        *,
        quantity: int | None = None,
        marks: Mapping[str, float] | None = None,
    ) -> PortfolioRisk:
        """Return the portfolio as it would be after entering ``legs`` x ``quantity``.

        ``legs`` carry per-unit ratios (negative = short); a ``Strategy`` brings
        its own legs and quantity. ``greeks`` may be quotes (their greeks and mids
        are used); otherwise ``marks`` (per-share prices keyed by contract key)
        price the new lots for the risk-capital estimate.
        """
        if isinstance(legs, Strategy):
            quantity = legs.quantity if quantity is None else quantity
            legs = legs.legs
        qty = 1 if quantity is None else quantity
        if qty <= 0:
            raise RiskInputError(name="quantity", problem=f"must be > 0, got {qty}")
        leg_greeks, leg_marks = _split_market(greeks, marks)
        book: dict[str, Position] = {p.contract.key: p for p in portfolio.positions}
        for leg in legs:
            c = leg.contract
            held = book.get(c.key)
            mark = leg_marks.get(c.key, held.market_price if held is not None else math.nan)
            if not math.isfinite(mark):
                # Without a price the new lot's credit (and so its risk capital) is unknown.
                raise RiskInputError(name="marks", problem=f"no price for candidate leg {c.key}")
            add = leg.ratio * qty
            total = add + (held.quantity if held is not None else 0.0)
            cost = held.avg_cost if held is not None else mark * c.multiplier
            book[c.key] = Position(c, total, cost, mark, total * mark * c.multiplier)
        merged = _MarketGreeks(leg_greeks.market, portfolio.greeks)
        after = self.calculate(book.values(), merged)
        base = portfolio.baseline or portfolio
        touched = tuple(sorted({leg.contract.symbol for leg in legs}))
        return PortfolioRisk(
            after.benchmark,
            after.benchmark_spot,
            after.by_underlying,
            after.positions,
            after.greeks,
            baseline=base,
            candidate_underlyings=touched,
            candidate_quantity=qty,
        )


def _split_market(
    market: Mapping[str, OptionGreeks] | Mapping[str, Quote], marks: Mapping[str, float] | None
) -> tuple[_MarketGreeks, Mapping[str, float]]:
    """The market's greeks and per-share marks, looked up on demand.

    Callers price and measure a handful of legs against a market of whole option
    chains: splitting every quote up front was one of a backtest's largest costs.
    """
    # Quotes and greeks are immutable: a shallow copy freezes the view (a QuoteBook
    # is frozen already, and may build its quotes only when asked).
    frozen: Mapping[str, OptionGreeks | Quote] = (
        market if isinstance(market, QuoteBook) else dict(market)
    )
    return _MarketGreeks(frozen, {}), _Marks(frozen, marks or {})


_MISSING = object()


def _has_greeks(value: object) -> bool:
    return not isinstance(value, Quote) or value.greeks is not None


class _MarketGreeks(Mapping[str, OptionGreeks]):
    """``{**base, **greeks of market}`` without building it.

    A market value that is a quote gives its greeks (a quote without greeks
    leaves the key to ``base``); any other value is the greeks itself.
    """

    __slots__ = ("base", "market")

    def __init__(
        self, market: Mapping[str, OptionGreeks | Quote], base: Mapping[str, OptionGreeks]
    ) -> None:
        self.market = market
        self.base = base

    def __getitem__(self, key: str) -> OptionGreeks:
        value = self.market.get(key, _MISSING)
        if value is not _MISSING:
            if not isinstance(value, Quote):
                return value  # type: ignore[return-value]
            if value.greeks is not None:
                return value.greeks
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        value = self.market.get(key, _MISSING)  # type: ignore[call-overload]
        return (value is not _MISSING and _has_greeks(value)) or key in self.base

    def __iter__(self) -> Iterator[str]:
        # The order of {**base, **own}: base's keys, then the market's new ones.
        yield from self.base
        for key, value in self.market.items():
            if _has_greeks(value) and key not in self.base:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Marks(Mapping[str, float]):
    """Per-share prices by contract key: ``marks`` first, else a quote's own mark.

    A quote's mark is validated on demand: callers price a handful of legs out of
    a market of whole option chains, and marking every quote up front was one of
    a backtest's largest costs.
    """

    __slots__ = ("_market", "_marks")

    def __init__(
        self, market: Mapping[str, OptionGreeks | Quote], marks: Mapping[str, float]
    ) -> None:
        self._market = market
        self._marks = marks

    def __getitem__(self, key: str) -> float:
        if key in self._marks:
            return self._marks[key]
        value = self._market.get(key)
        if isinstance(value, Quote):
            return value.mark
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self._marks or isinstance(self._market.get(key), Quote)  # type: ignore[call-overload]

    def __iter__(self) -> Iterator[str]:
        yield from self._marks
        for key, value in self._market.items():
            if isinstance(value, Quote) and key not in self._marks:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)


def greeks_from_quotes(quotes: Iterable[Quote]) -> dict[str, OptionGreeks]:
    """Map contract key -> greeks for every quote that carries them."""
    return {q.contract.key: q.greeks for q in quotes if q.greeks is not None}


@dataclass(frozen=True, slots=True)
class StrategyRisk:
    """One open strategy's share of the portfolio measures: what closing it would take away.

    ``beta_weighted_delta`` is in benchmark-equivalent shares and
    ``risk_capital`` in dollars (its Reg-T requirement on its own), both for
    the whole position; ``unrealized_pnl`` is in dollars at the marks given
    (negative = losing); ``dte`` counts calendar days to its nearest expiry.
    """

    strategy_id: str
    underlying: str
    quantity: int
    beta_weighted_delta: float
    risk_capital: float
    unrealized_pnl: float
    dte: int | None
    legs: tuple[Leg, ...]


def strategy_risks(
    calculator: PortfolioRiskCalculator,
    strategies: Iterable[Strategy],
    market: Mapping[str, OptionGreeks] | Mapping[str, Quote],
    *,
    today: date,
    marks: Mapping[str, float] | None = None,
) -> tuple[StrategyRisk, ...]:
    """Each strategy's delta, risk capital, P&L and DTE, measured on its own.

    ``market`` maps contract keys to quotes (greeks and marks) or to greeks
    (then ``marks`` prices the legs). A leg without greeks or a price is an
    error (``RiskInputError``): a strategy that cannot be measured cannot be
    ranked for a reduction.
    """
    leg_greeks, leg_marks = _split_market(market, marks)
    out: list[StrategyRisk] = []
    for s in strategies:
        positions: list[Position] = []
        value = 0.0  # per unit, per share: what the legs are worth now (signed)
        for leg in s.legs:
            c = leg.contract
            mark = leg_marks.get(c.key, math.nan)
            if not math.isfinite(mark):
                raise RiskInputError(
                    name="marks", problem=f"no price for {c.key} of {s.strategy_id}"
                )
            qty = leg.ratio * s.quantity
            positions.append(Position(c, qty, mark * c.multiplier, mark, qty * mark * c.multiplier))
            value += leg.ratio * mark
        alone = calculator.calculate(positions, leg_greeks)
        out.append(
            StrategyRisk(
                strategy_id=s.strategy_id,
                underlying=s.underlying,
                quantity=s.quantity,
                beta_weighted_delta=alone.beta_weighted_delta,
                risk_capital=alone.risk_capital,
                unrealized_pnl=(s.credit + value) * s.multiplier * s.quantity,
                dte=s.dte(today),
                legs=s.legs,
            )
        )
    return tuple(out)
