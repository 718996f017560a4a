"""The existing book against the portfolio limits: breaches, their use, the reductions that fix them.

Limits that only gate entries leave a book that is already over a limit
there. ``check_book`` measures the *existing* portfolio against every
portfolio limit (delta, concentration, correlated exposure, margin use,
positions) and returns the breaches as ``LimitBreach`` values; ``measure_book``
reports every limit's use (the dashboard's risk panel); ``propose_reductions``
ranks the open strategies that would bring each breach back within its limit,
most at risk first; ``adds_to_breach`` tells the monitoring job which positions
it must not roll forward. Measures are those of the entry checks in
``tradelib.risk.limits`` (shares of the risk budget, margin over net liquidation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from tradelib.domain import AccountSnapshot, Leg, Strategy
from tradelib.risk.limits import (
    MaxCorrelatedExposure,
    MaxMarginUse,
    MaxPortfolioDelta,
    MaxPositions,
    MaxUnderlyingConcentration,
    PortfolioLimitsChecker,
    RiskControl,
    pct,
)
from tradelib.risk.portfolio import PortfolioRisk, StrategyRisk

if TYPE_CHECKING:
    from tradelib.config import TradingConfig

_EPS = 1e-9


# --- the existing book ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BookLimits:
    """The portfolio limits an existing book is held to (None: not checked).

    ``max_margin_use`` is both the margin limit and the risk budget's share of
    net liquidation. Entry-only caps (entries per day, contracts per order)
    have no meaning for a book and are not here.
    """

    max_margin_use: float
    max_portfolio_delta: float | None = None
    max_underlying_concentration: float | None = None
    max_correlated_exposure: float | None = None
    groups: tuple[frozenset[str], ...] = ()
    max_positions: int | None = None

    @classmethod
    def from_controls(cls, controls: Iterable[RiskControl], max_margin_use: float) -> BookLimits:
        """The book limits of a ``PortfolioLimitsChecker``'s controls."""
        kw: dict[str, object] = {}
        for c in controls:
            if isinstance(c, MaxPortfolioDelta):
                kw["max_portfolio_delta"] = c.limit
            elif isinstance(c, MaxUnderlyingConcentration):
                kw["max_underlying_concentration"] = c.limit
            elif isinstance(c, MaxCorrelatedExposure):
                kw["max_correlated_exposure"] = c.limit
                kw["groups"] = c.groups
            elif isinstance(c, MaxPositions):
                kw["max_positions"] = c.limit
        return cls(max_margin_use, **kw)  # type: ignore[arg-type]

    @classmethod
    def from_config(
        cls,
        cfg: TradingConfig,
        *,
        groups: Iterable[frozenset[str]] = (),
        returns: pl.DataFrame | None = None,
    ) -> BookLimits:
        """Every book limit from ``cfg``; correlated groups as ``PortfolioLimitsChecker.from_config``."""
        checker = PortfolioLimitsChecker.from_config(cfg, groups=groups, returns=returns)
        return cls.from_controls(checker.controls, checker.max_margin_use)


@dataclass(frozen=True, slots=True)
class LimitBreach:
    """One portfolio limit the existing book is over.

    ``limit`` is the control's name (``max_portfolio_delta``,
    ``max_underlying_concentration``, ``max_correlated_exposure``,
    ``max_margin_use``, ``max_positions``); ``measured`` and ``threshold`` are
    in that control's unit (SPY-equivalent shares, shares of the risk budget,
    share of net liquidation, strategies). ``underlyings`` and ``strategies``
    name what contributes. ``per_dollar`` converts a strategy's risk capital
    into the measure (1 / risk budget, 1 / net liquidation; 0 where risk
    capital is not the measure).
    """

    limit: str
    measured: float
    threshold: float
    reason: str
    underlyings: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    per_dollar: float = 0.0

    @property
    def excess(self) -> float:
        """How far past the limit the book is, in the measure's unit."""
        return abs(self.measured) - self.threshold


@dataclass(frozen=True, slots=True)
class LimitUse:
    """How much of one portfolio limit the book uses (``measured`` in the limit's unit)."""

    limit: str
    measured: float
    threshold: float
    detail: str

    @property
    def use(self) -> float:
        """``measured`` over ``threshold`` (above 1: over the limit)."""
        return abs(self.measured) / self.threshold if self.threshold > 0 else math.inf


def measure_book(
    portfolio: PortfolioRisk,
    account: AccountSnapshot,
    limits: BookLimits,
    *,
    open_strategies: int,
) -> tuple[LimitUse, ...]:
    """Every portfolio limit's use by the book as it stands, measured as ``check_book`` does.

    Concentration and correlated exposure report the worst underlying and group.
    """
    nl = account.net_liquidation
    budget = max(limits.max_margin_use * nl, 0.0)
    out: list[LimitUse] = []
    if limits.max_portfolio_delta is not None:
        delta = portfolio.beta_weighted_delta
        out.append(
            LimitUse(
                MaxPortfolioDelta.name,
                delta,
                limits.max_portfolio_delta,
                f"{delta:+.0f} SPY-equivalent shares (beta-weighted)",
            )
        )
    if limits.max_underlying_concentration is not None:
        worst = max(portfolio.by_underlying.values(), key=lambda u: u.risk_capital, default=None)
        dollars = worst.risk_capital if worst is not None else 0.0
        name = worst.underlying if worst is not None else "none held"
        out.append(
            LimitUse(
                MaxUnderlyingConcentration.name,
                _budget_share(dollars, budget),
                limits.max_underlying_concentration,
                f"{name}: ${dollars:,.0f} of ${budget:,.0f} risk budget",
            )
        )
    if limits.max_correlated_exposure is not None:
        sums = [
            (sum(r.risk_capital for g in grp if (r := portfolio.underlying(g)) is not None), grp)
            for grp in limits.groups
            if len(grp) >= 2
        ]
        dollars, group = max(sums, key=lambda t: t[0], default=(0.0, frozenset[str]()))
        names = ", ".join(sorted(group)) or "no correlated group"
        out.append(
            LimitUse(
                MaxCorrelatedExposure.name,
                _budget_share(dollars, budget),
                limits.max_correlated_exposure,
                f"{{{names}}}: ${dollars:,.0f} of ${budget:,.0f} risk budget",
            )
        )
    use = account.init_margin / nl if nl > 0 else math.inf
    out.append(
        LimitUse(
            MaxMarginUse.name,
            use,
            limits.max_margin_use,
            f"${account.init_margin:,.0f} initial margin of ${nl:,.0f} net liquidation",
        )
    )
    if limits.max_positions is not None:
        out.append(
            LimitUse(
                MaxPositions.name,
                float(open_strategies),
                float(limits.max_positions),
                f"{open_strategies} open strategies",
            )
        )
    return tuple(out)


def _budget_share(dollars: float, budget: float) -> float:
    """``dollars`` as a share of the risk budget (no budget: infinite for any risk)."""
    if dollars <= 0:
        return 0.0
    return dollars / budget if budget > 0 else math.inf


@dataclass(frozen=True, slots=True)
class _BookScale:
    """The book, its risk budget, and who holds what: what every limit's check reads."""

    portfolio: PortfolioRisk
    account: AccountSnapshot
    limits: BookLimits
    strategies: Sequence[StrategyRisk]
    budget: float  # max_margin_use x net liquidation, in dollars
    per_budget: float  # 1 / budget (inf without one)

    @classmethod
    def of(
        cls,
        portfolio: PortfolioRisk,
        account: AccountSnapshot,
        limits: BookLimits,
        strategies: Sequence[StrategyRisk],
    ) -> _BookScale:
        budget = max(limits.max_margin_use * account.net_liquidation, 0.0)
        per_budget = 1.0 / budget if budget > 0 else math.inf
        return cls(portfolio, account, limits, strategies, budget, per_budget)

    def share(self, dollars: float) -> float:
        """``dollars`` as a share of the risk budget."""
        return dollars * self.per_budget if dollars > 0 else 0.0

    def on(self, symbols: Iterable[str]) -> tuple[str, ...]:
        """The strategies on any of ``symbols``."""
        names = set(symbols)
        return tuple(s.strategy_id for s in self.strategies if s.underlying in names)


def check_book(
    portfolio: PortfolioRisk,
    account: AccountSnapshot,
    limits: BookLimits,
    *,
    open_strategies: int,
    strategies: Sequence[StrategyRisk] = (),
) -> tuple[LimitBreach, ...]:
    """Every portfolio limit the existing book breaks, as values; empty when within all.

    ``portfolio`` is the book as ``PortfolioRiskCalculator.calculate`` measures
    it, ``open_strategies`` the number of open strategies and ``strategies``
    their risk contributions (``strategy_risks``), which name the contributors.
    Concentration and correlated exposure are shares of the risk budget
    (``max_margin_use`` x net liquidation), as for entries; margin use is the
    account's initial margin over net liquidation.
    """
    book = _BookScale.of(portfolio, account, limits, strategies)
    return (
        *_delta_breach(book),
        *_concentration_breaches(book),
        *_correlated_breaches(book),
        *_margin_breach(book),
        *_positions_breach(book, open_strategies),
    )


def _delta_breach(book: _BookScale) -> list[LimitBreach]:
    limits, portfolio, strategies = book.limits, book.portfolio, book.strategies
    delta = portfolio.beta_weighted_delta
    if limits.max_portfolio_delta is None or not (
        abs(delta) > limits.max_portfolio_delta + _EPS  # a NaN delta breaches nothing
    ):
        return []
    same_sign = tuple(s.strategy_id for s in strategies if s.beta_weighted_delta * delta > 0)
    return [
        LimitBreach(
            MaxPortfolioDelta.name,
            delta,
            limits.max_portfolio_delta,
            f"book delta over the limit: {delta:+.0f} beyond +-{limits.max_portfolio_delta:g} "
            f"SPY-equivalent shares",
            tuple(
                u.underlying
                for u in portfolio.by_underlying.values()
                if u.beta_weighted_delta * delta > 0
            ),
            same_sign,
        )
    ]


def _concentration_breaches(book: _BookScale) -> list[LimitBreach]:
    limits, budget = book.limits, book.budget
    if limits.max_underlying_concentration is None:
        return []
    out: list[LimitBreach] = []
    for u in book.portfolio.by_underlying.values():
        used = book.share(u.risk_capital)
        if used > limits.max_underlying_concentration + _EPS:
            out.append(
                LimitBreach(
                    MaxUnderlyingConcentration.name,
                    used,
                    limits.max_underlying_concentration,
                    f"{u.underlying} concentration over the limit: {pct(used)} > "
                    f"{pct(limits.max_underlying_concentration)} of the risk budget "
                    f"(${u.risk_capital:,.0f} of ${budget:,.0f})",
                    (u.underlying,),
                    book.on((u.underlying,)),
                    book.per_budget,
                )
            )
    return out


def _correlated_breaches(book: _BookScale) -> list[LimitBreach]:
    limits, budget = book.limits, book.budget
    if limits.max_correlated_exposure is None:
        return []
    out: list[LimitBreach] = []
    for group in limits.groups:
        if len(group) < 2:
            continue
        dollars = sum(
            r.risk_capital for g in group if (r := book.portfolio.underlying(g)) is not None
        )
        used = book.share(dollars)
        if used > limits.max_correlated_exposure + _EPS:
            names = tuple(sorted(group))
            out.append(
                LimitBreach(
                    MaxCorrelatedExposure.name,
                    used,
                    limits.max_correlated_exposure,
                    f"correlated exposure over the limit: {{{', '.join(names)}}} "
                    f"{pct(used)} > {pct(limits.max_correlated_exposure)} of the risk "
                    f"budget (${dollars:,.0f} of ${budget:,.0f})",
                    names,
                    book.on(names),
                    book.per_budget,
                )
            )
    return out


def _margin_breach(book: _BookScale) -> list[LimitBreach]:
    account, limits = book.account, book.limits
    nl = account.net_liquidation
    use = account.init_margin / nl if nl > 0 else math.inf
    if not use > limits.max_margin_use + _EPS:  # a NaN use breaches nothing
        return []
    return [
        LimitBreach(
            MaxMarginUse.name,
            use,
            limits.max_margin_use,
            f"margin use over the limit: {pct(use)} > {pct(limits.max_margin_use)} of net "
            f"liquidation (${account.init_margin:,.0f} of ${nl:,.0f})",
            tuple(sorted(book.portfolio.by_underlying)),
            tuple(s.strategy_id for s in book.strategies if s.risk_capital > 0),
            1.0 / nl if nl > 0 else math.inf,
        )
    ]


def _positions_breach(book: _BookScale, open_strategies: int) -> list[LimitBreach]:
    limit, strategies = book.limits.max_positions, book.strategies
    if limit is None or not open_strategies > limit:
        return []
    return [
        LimitBreach(
            MaxPositions.name,
            open_strategies,
            limit,
            f"positions over the limit: {open_strategies} > {limit} open strategies",
            tuple(sorted({s.underlying for s in strategies})),
            tuple(s.strategy_id for s in strategies),
        )
    ]


@dataclass(frozen=True, slots=True)
class Reduction:
    """A proposal: close ``units`` of ``strategy_id`` (all of it when ``units == quantity``)."""

    strategy_id: str
    units: int
    quantity: int
    limit: str  # the breach this answers
    cut: float  # how much it lowers that breach's measure
    measured_after: float  # the measure once this and every earlier proposal are done
    reason: str

    @property
    def closes_all(self) -> bool:
        return self.units >= self.quantity


def _effect(breach: LimitBreach, s: StrategyRisk) -> float:
    """Signed change of ``breach.measured`` if all of ``s`` were closed (0: no contribution)."""
    if breach.limit == MaxPortfolioDelta.name:
        return -s.beta_weighted_delta
    if breach.limit == MaxPositions.name:
        return -1.0
    if s.underlying in breach.underlyings:
        return -max(s.risk_capital, 0.0) * breach.per_dollar
    return 0.0


def _over(breach: LimitBreach, measured: float) -> bool:
    return abs(measured) > breach.threshold + _EPS


def propose_reductions(
    breaches: Sequence[LimitBreach], strategies: Sequence[StrategyRisk]
) -> tuple[Reduction, ...]:
    """Closes that bring every breach back within its limit, most at risk first.

    Breaches are worked from the furthest over (relative to its limit); for
    each, the strategy whose closing cuts the measure most goes first (ties:
    the bigger loss, then the nearer expiry), repeated until the measure is
    within the limit or nothing left cuts it. Only as many units as needed
    are proposed (a whole strategy for the positions limit). A strategy
    proposed for one breach counts for the others too, and is proposed once.
    """
    by_id = {s.strategy_id: s for s in strategies}
    done: dict[str, int] = {}  # strategy id -> units proposed so far
    out: list[Reduction] = []
    worst_first = sorted(
        breaches, key=lambda b: -(b.excess / b.threshold if b.threshold > 0 else math.inf)
    )
    for breach in worst_first:
        measured = breach.measured + sum(
            _effect(breach, by_id[sid]) * units / by_id[sid].quantity for sid, units in done.items()
        )
        while _over(breach, measured):
            options: list[tuple[float, float, int, str]] = []
            for s in strategies:
                left = s.quantity - done.get(s.strategy_id, 0)
                if left <= 0:
                    continue
                effect = _effect(breach, s) * left / s.quantity
                cut = abs(measured) - abs(measured + effect)
                if cut > _EPS:
                    dte = s.dte if s.dte is not None else 1_000_000
                    options.append((-cut, s.unrealized_pnl, dte, s.strategy_id))
            if not options:
                break
            _, _, _, sid = min(options)
            s = by_id[sid]
            left = s.quantity - done.get(sid, 0)
            per_unit = _effect(breach, s) / s.quantity
            if breach.limit == MaxPositions.name:
                units = left
            else:
                excess = abs(measured) - breach.threshold
                units = min(left, max(1, math.ceil(excess / abs(per_unit) - _EPS)))
            before = measured
            measured += per_unit * units
            done[sid] = done.get(sid, 0) + units
            out.append(
                Reduction(
                    sid,
                    units,
                    s.quantity,
                    breach.limit,
                    abs(before) - abs(measured),
                    measured,
                    f"{breach.limit}: close {units} of {s.quantity} unit(s) of {sid} "
                    f"({s.underlying}, P&L ${s.unrealized_pnl:+,.0f}, "
                    f"DTE {s.dte if s.dte is not None else '-'}): {before:.4g} -> "
                    f"{measured:.4g} (limit {breach.threshold:g})",
                )
            )
    return tuple(out)


def adds_to_breach(
    item: StrategyRisk | Strategy | Sequence[Leg],
    breaches: Sequence[LimitBreach],
    *,
    beta_weighted_delta: float | None = None,
) -> bool:
    """True when keeping ``item`` on (rolling it forward) feeds a breached limit.

    ``item`` is an open strategy's risk (``StrategyRisk``), the strategy
    itself or its legs. It adds to a concentration or correlated-exposure
    breach when its underlying is in the breach; to a margin breach when it
    has a short leg (it ties up margin); to a delta breach when its delta has
    the breach's sign: pass ``beta_weighted_delta`` with a ``Strategy`` or
    legs, else a delta breach counts as fed (unknown delta is not shown to
    help). Rolling never adds a position, so the positions limit never counts.
    """
    delta: float | None
    if isinstance(item, StrategyRisk):
        symbols = {item.underlying}
        delta = item.beta_weighted_delta if beta_weighted_delta is None else beta_weighted_delta
        has_short = any(leg.is_short for leg in item.legs) or item.risk_capital > 0
    else:
        legs = item.legs if isinstance(item, Strategy) else tuple(item)
        symbols = {leg.contract.symbol for leg in legs}
        if isinstance(item, Strategy):
            symbols.add(item.underlying)
        delta = beta_weighted_delta
        has_short = any(leg.is_short for leg in legs)
    shared = (MaxUnderlyingConcentration.name, MaxCorrelatedExposure.name)
    for b in breaches:
        fed = (
            (b.limit == MaxPortfolioDelta.name and (delta is None or delta * b.measured > 0))
            or (b.limit == MaxMarginUse.name and has_short)
            or (b.limit in shared and bool(symbols & set(b.underlyings)))
        )
        if fed:
            return True
    return False
