"""Portfolio limits: one small control per limit, each answering with a value.

Every control looks at an ``EntryContext`` (the portfolio before and after a
proposed entry, the account, counts) and returns ``None`` (within its limit)
or a ``RiskRejection`` naming the check, the value, the limit and a reason a
trader can read (``delta exceeded: +612 > 500 after entry``).
``PortfolioLimitsChecker`` runs them all and returns a ``RiskVerdict``.

Concentration and correlated exposure are measured on risk capital (the
Reg-T style requirement, see ``tradelib.risk.portfolio``) as a fraction of the
*risk budget*, ``risk.max_margin_use x net liquidation``: the budget is what the
margin limit lets us commit at all, so "no more than 40% in one underlying"
means 40% of the budget. Measuring against the portfolio's own total instead
would refuse the very first entry (it is 100% of a one-position portfolio).

The existing book against the same limits (breaches, limit use, reductions)
is ``tradelib.risk.book``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

import polars as pl

from tradelib.domain import AccountSnapshot
from tradelib.risk.portfolio import PortfolioRisk, StrategyRisk
from tradelib.risk.returns import correlated_groups, correlations

if TYPE_CHECKING:
    from tradelib.config import TradingConfig
    from tradelib.risk.book import LimitBreach

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class RiskRejection:
    """One limit a proposed entry would break."""

    check: str
    reason: str
    value: float
    limit: float
    underlying: str | None = None


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """The answer of the limits checker: approved, or the rejections with their reasons."""

    rejections: tuple[RiskRejection, ...] = ()
    checks: tuple[str, ...] = ()  # every check that ran, approved or not

    @property
    def approved(self) -> bool:
        return not self.rejections

    def __bool__(self) -> bool:
        return self.approved

    @property
    def reason(self) -> str:
        """All rejection reasons on one line ("approved" when there are none)."""
        return "; ".join(r.reason for r in self.rejections) if self.rejections else "approved"


@dataclass(frozen=True, slots=True)
class EntryContext:
    """What every control sees about one proposed entry."""

    before: PortfolioRisk
    after: PortfolioRisk
    account: AccountSnapshot
    open_strategies: int  # open before this entry
    entries_today: int  # entered before this one today
    quantity: int  # units of the candidate
    risk_budget: float  # dollars of risk capital the margin limit allows

    @property
    def candidate_underlyings(self) -> tuple[str, ...]:
        return self.after.candidate_underlyings

    def share_of_budget(self, dollars: float) -> float:
        return dollars / self.risk_budget if self.risk_budget > 0 else float("inf")


class RiskControl(Protocol):
    """One portfolio limit."""

    name: ClassVar[str]

    def validate(self, ctx: EntryContext) -> RiskRejection | None:
        """Return ``None`` when ``ctx`` stays within the limit, else the rejection."""
        ...


def pct(x: float) -> str:
    return f"{x:.0%}" if x != float("inf") else "inf"


@dataclass(frozen=True, slots=True)
class MaxPortfolioDelta:
    """Beta-weighted delta (SPY-equivalent shares) within +-limit.

    An entry that leaves delta over the limit but closer to zero than before is
    allowed: it reduces the breach.
    """

    limit: float
    name: ClassVar[str] = "max_portfolio_delta"

    def validate(self, ctx: EntryContext) -> RiskRejection | None:
        after = ctx.after.beta_weighted_delta
        before = ctx.before.beta_weighted_delta
        if abs(after) <= self.limit + _EPS or abs(after) < abs(before):
            return None
        return RiskRejection(
            self.name,
            f"delta exceeded: {after:+.0f} > {self.limit:g} after entry "
            f"(SPY-equivalent shares, {before:+.0f} before)",
            after,
            self.limit,
        )


@dataclass(frozen=True, slots=True)
class MaxUnderlyingConcentration:
    """Risk capital in any one underlying the candidate touches, as a share of the budget."""

    limit: float
    name: ClassVar[str] = "max_underlying_concentration"

    def validate(self, ctx: EntryContext) -> RiskRejection | None:
        worst: RiskRejection | None = None
        for symbol in ctx.candidate_underlyings:
            u = ctx.after.underlying(symbol)
            capital = u.risk_capital if u is not None else 0.0
            share = ctx.share_of_budget(capital)
            if share > self.limit + _EPS and (worst is None or share > worst.value):
                worst = RiskRejection(
                    self.name,
                    f"{symbol} concentration exceeded: {pct(share)} > {pct(self.limit)} "
                    f"of the risk budget after entry "
                    f"(${capital:,.0f} of ${ctx.risk_budget:,.0f})",
                    share,
                    self.limit,
                    symbol,
                )
        return worst


@dataclass(frozen=True, slots=True)
class MaxCorrelatedExposure:
    """Risk capital in a group of correlated underlyings, as a share of the budget.

    ``groups`` come from ``correlated_groups`` (pairwise returns correlation >=
    ``risk.correlation_threshold``); only groups of two or more are checked
    here, a single underlying is the concentration control's job.
    """

    limit: float
    groups: tuple[frozenset[str], ...] = ()
    name: ClassVar[str] = "max_correlated_exposure"

    def validate(self, ctx: EntryContext) -> RiskRejection | None:
        touched = set(ctx.candidate_underlyings)
        worst: RiskRejection | None = None
        for group in self.groups:
            if len(group) < 2 or not group & touched:
                continue
            capital = sum(
                u.risk_capital for s in group if (u := ctx.after.underlying(s)) is not None
            )
            share = ctx.share_of_budget(capital)
            if share > self.limit + _EPS and (worst is None or share > worst.value):
                names = ", ".join(sorted(group))
                worst = RiskRejection(
                    self.name,
                    f"correlated exposure exceeded: {{{names}}} {pct(share)} > "
                    f"{pct(self.limit)} of the risk budget after entry "
                    f"(${capital:,.0f} of ${ctx.risk_budget:,.0f})",
                    share,
                    self.limit,
                    ",".join(sorted(group)),
                )
        return worst


@dataclass(frozen=True, slots=True)
class MaxPositions:
    """Open strategies after the entry."""

    limit: int
    name: ClassVar[str] = "max_positions"

    def validate(self, ctx: EntryContext) -> RiskRejection | None:
        after = ctx.open_strategies + 1
        if after <= self.limit:
            return None
        return RiskRejection(
            self.name,
            f"positions exceeded: {after} > {self.limit} open strategies after entry",
            after,
            self.limit,
        )


@dataclass(frozen=True, slots=True)
class MaxMarginUse:
    """Initial margin as a share of net liquidation, after the entry's added requirement."""

    limit: float
    name: ClassVar[str] = "max_margin_use"

    def validate(self, ctx: EntryContext) -> RiskRejection | None:
        added = max(ctx.after.risk_capital - ctx.before.risk_capital, 0.0)
        margin = ctx.account.init_margin + added
        nl = ctx.account.net_liquidation
        use = margin / nl if nl > 0 else float("inf")
        if use <= self.limit + _EPS:
            return None
        return RiskRejection(
            self.name,
            f"margin use exceeded: {pct(use)} > {pct(self.limit)} of net liquidation "
            f"after entry (${margin:,.0f} of ${nl:,.0f})",
            use,
            self.limit,
        )


@dataclass(frozen=True, slots=True)
class MaxNewEntriesPerDay:
    """New strategies opened today, counting this one."""

    limit: int
    name: ClassVar[str] = "max_new_entries_per_day"

    def validate(self, ctx: EntryContext) -> RiskRejection | None:
        after = ctx.entries_today + 1
        if after <= self.limit:
            return None
        return RiskRejection(
            self.name,
            f"new entries exceeded: {after} > {self.limit} today after entry",
            after,
            self.limit,
        )


@dataclass(frozen=True, slots=True)
class MaxContractsPerOrder:
    """Units of the candidate in one order."""

    limit: int
    name: ClassVar[str] = "max_contracts_per_order"

    def validate(self, ctx: EntryContext) -> RiskRejection | None:
        if ctx.quantity <= self.limit:
            return None
        return RiskRejection(
            self.name,
            f"contracts per order exceeded: {ctx.quantity} > {self.limit}",
            ctx.quantity,
            self.limit,
        )


@dataclass(frozen=True, slots=True)
class PortfolioLimitsChecker:
    """Run every control over a proposed entry; pure."""

    controls: tuple[RiskControl, ...]
    max_margin_use: float
    _names: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", tuple(c.name for c in self.controls))

    @classmethod
    def from_config(
        cls,
        cfg: TradingConfig,
        *,
        groups: Iterable[frozenset[str]] = (),
        returns: pl.DataFrame | None = None,
    ) -> PortfolioLimitsChecker:
        """Build every control from ``cfg.risk`` and ``cfg.trading_limits``.

        Correlated groups are ``groups`` when given, else computed from the wide
        daily ``returns`` frame (see ``daily_returns``) with
        ``risk.correlation_threshold``; with neither, no group is known and the
        correlated-exposure control approves everything.
        """
        risk, limits = cfg.risk, cfg.trading_limits
        found = tuple(groups)
        if not found and returns is not None:
            found = correlated_groups(correlations(returns), risk.correlation_threshold)
        controls: Sequence[RiskControl] = (
            MaxPortfolioDelta(risk.max_portfolio_delta),
            MaxUnderlyingConcentration(risk.max_underlying_concentration),
            MaxCorrelatedExposure(risk.max_correlated_exposure, found),
            MaxMarginUse(risk.max_margin_use),
            MaxPositions(limits.max_positions),
            MaxNewEntriesPerDay(limits.max_new_entries_per_day),
            MaxContractsPerOrder(limits.max_contracts_per_order),
        )
        return cls(tuple(controls), risk.max_margin_use)

    def check(
        self,
        portfolio_after: PortfolioRisk,
        account: AccountSnapshot,
        *,
        open_strategies: int,
        entries_today: int,
        quantity: int | None = None,
        before: PortfolioRisk | None = None,
    ) -> RiskVerdict:
        """Check the portfolio after a proposed entry (see ``PortfolioRiskCalculator.with_candidate``).

        ``before`` defaults to the baseline the candidate was added to.
        """
        base = before or portfolio_after.baseline or portfolio_after
        ctx = EntryContext(
            before=base,
            after=portfolio_after,
            account=account,
            open_strategies=open_strategies,
            entries_today=entries_today,
            quantity=quantity if quantity is not None else portfolio_after.candidate_quantity,
            risk_budget=max(self.max_margin_use * account.net_liquidation, 0.0),
        )
        rejections = tuple(r for c in self.controls if (r := c.validate(ctx)) is not None)
        return RiskVerdict(rejections, self._names)

    def check_book(
        self,
        portfolio: PortfolioRisk,
        account: AccountSnapshot,
        *,
        open_strategies: int,
        strategies: Sequence[StrategyRisk] = (),
    ) -> tuple[LimitBreach, ...]:
        """Breaches of the existing book against this checker's portfolio limits (no candidate).

        See ``tradelib.risk.book.check_book``; controls this checker does not run are not
        checked.
        """
        from tradelib.risk.book import BookLimits, check_book  # book builds on these controls

        limits = BookLimits.from_controls(self.controls, self.max_margin_use)
        return check_book(
            portfolio, account, limits, open_strategies=open_strategies, strategies=strategies
        )
