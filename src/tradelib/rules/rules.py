"""The twelve decision rules of SPEC part 7, one small class each.

Every rule is a frozen value holding its own thresholds (``from_config``
reads them from ``TradingConfig``), with a ``name``, a ``priority`` (lower
runs first) and ``evaluate(state, market, now) -> Decision | None``. A rule
that needs an input the state does not have (a mark, a greek, the spot, a
roll quote) does not fire. ``needs_marks`` says whether a rule reads anything
priced off the leg quotes (P&L, greeks, IV): the engine skips those rules when
a quote is invalid.

Thresholds are inclusive ("loss >= 2.0 x credit", "DTE <= 21") except where
SPEC words them strictly: a strike is *breached* when spot is beyond it, and
position gamma must be *over* its limit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import ClassVar, Self

from tradelib.config import RuleName, TradingConfig
from tradelib.domain import Decision, DecisionAction, MarketRegime, Right, Urgency
from tradelib.domain.decisions import InputValue
from tradelib.rules.state import MarketState, StrategyState


def decision_id(strategy_id: str, ts: datetime, rule: str) -> str:
    """Return the deterministic id of ``rule``'s decision about a strategy at ``ts`` (UTC).

    Re-running a cycle at the same time gives the same ids, so storing its
    decisions again changes nothing.
    """
    return f"{strategy_id}:{_stamp(ts)}:{rule}"


@lru_cache(maxsize=256)
def _stamp(ts: datetime) -> str:
    # One cycle formats the same time for every strategy; strftime is the slow part.
    return f"{ts:%Y%m%dT%H%M%S.%fZ}"


class Rule(ABC):
    """One decision rule. Subclasses are frozen slotted dataclasses."""

    __slots__ = ()
    name: ClassVar[RuleName]
    priority: ClassVar[float]
    needs_marks: ClassVar[bool] = True

    @classmethod
    @abstractmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        """Build the rule with its thresholds from ``cfg``."""

    @abstractmethod
    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        """Return a decision if the rule fires for ``state``, else None."""

    def decide(
        self,
        state: StrategyState,
        market: MarketState,
        now: datetime,
        action: DecisionAction,
        urgency: Urgency,
        reason: str,
        numbers: Mapping[str, InputValue],
    ) -> Decision:
        """Build this rule's decision; ``numbers`` join the state's inputs."""
        inputs: dict[str, InputValue] = {
            **state.inputs,
            "regime": None if market.regime is None else market.regime.value,
            "vix": market.vix,
            **numbers,
        }
        return Decision(
            decision_id=decision_id(state.strategy_id, now, self.name),
            strategy_id=state.strategy_id,
            ts=now,
            rule=self.name,
            priority=self.priority,
            action=action,
            urgency=urgency,
            reason=reason,
            inputs=inputs,
        )


def roll_or_close(
    state: StrategyState, roll_min_dte: int, roll_min_credit: float
) -> tuple[DecisionAction, str]:
    """Choose roll when DTE allows (> ``roll_min_dte``) and a roll credit is available.

    Below the gamma window a tested position is closed, not rolled: rolling
    short-dated risk late rarely collects a credit worth the slippage.
    """
    credit, dte = state.roll_credit, state.dte
    if credit is None:
        return DecisionAction.CLOSE, "close (no roll quote)"
    if credit < roll_min_credit:
        return DecisionAction.CLOSE, f"close (roll credit {credit:.2f} < {roll_min_credit:.2f})"
    if dte is None or dte <= roll_min_dte:
        return DecisionAction.CLOSE, f"close (DTE {dte} <= {roll_min_dte}, too late to roll)"
    return DecisionAction.ROLL, f"roll for a {credit:.2f} credit (>= {roll_min_credit:.2f})"


@dataclass(frozen=True, slots=True)
class StopLoss(Rule):
    """1.0: loss >= ``multiple`` x credit received -> close, IMMEDIATE."""

    name: ClassVar[RuleName] = "stop_loss"
    priority: ClassVar[float] = 1.0
    multiple: float = 2.0

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        return cls(cfg.rules.stop_loss_multiple)

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        loss = state.loss_multiple
        if loss is None or loss < self.multiple:
            return None
        reason = (
            f"loss {loss:.2f}x credit >= stop {self.multiple:.2f}x: "
            f"debit {state.debit_to_close:.2f} vs credit {state.credit:.2f}"
        )
        return self.decide(
            state,
            market,
            now,
            DecisionAction.CLOSE,
            Urgency.IMMEDIATE,
            reason,
            {"stop_loss_multiple": self.multiple},
        )


@dataclass(frozen=True, slots=True)
class ExpirationDay(Rule):
    """1.1: 0 DTE and a short strike expiring today within ``proximity_pct`` of spot -> close."""

    name: ClassVar[RuleName] = "expiration_day"
    priority: ClassVar[float] = 1.1
    needs_marks: ClassVar[bool] = False
    proximity_pct: float = 0.01

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        return cls(cfg.rules.expiration_proximity_pct)

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        spot = state.spot
        if state.dte != 0 or spot is None:
            return None
        today = state.today
        nearest: tuple[float, float, Right] | None = None
        for leg in state.short_option_legs:
            c = leg.leg.contract
            if c.expiry != today or c.strike is None or c.right is None:
                continue
            distance = abs(c.strike - spot) / spot
            if nearest is None or distance < nearest[0]:
                nearest = (distance, c.strike, c.right)
        if nearest is None or nearest[0] > self.proximity_pct:
            return None
        distance, strike, right = nearest
        reason = (
            f"0 DTE: short {_side(right)} {strike:g} is {distance:.2%} from spot {spot:.2f} "
            f"<= {self.proximity_pct:.2%}"
        )
        return self.decide(
            state,
            market,
            now,
            DecisionAction.CLOSE,
            Urgency.IMMEDIATE,
            reason,
            {
                "strike": strike,
                "strike_distance_pct": round(distance, 6),
                "expiration_proximity_pct": self.proximity_pct,
            },
        )


@dataclass(frozen=True, slots=True)
class ShortStrikeBreached(Rule):
    """1.2: spot through a short strike (below a short put, above a short call) -> close, HIGH."""

    name: ClassVar[RuleName] = "short_strike_breached"
    priority: ClassVar[float] = 1.2
    needs_marks: ClassVar[bool] = False

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        return cls()

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        spot = state.spot
        if spot is None:
            return None
        for leg in state.short_option_legs:
            c = leg.leg.contract
            if c.strike is None:
                continue
            if c.right is Right.PUT and spot < c.strike:
                where = f"spot {spot:.2f} below short put {c.strike:g}"
            elif c.right is Right.CALL and spot > c.strike:
                where = f"spot {spot:.2f} above short call {c.strike:g}"
            else:
                continue
            return self.decide(
                state,
                market,
                now,
                DecisionAction.CLOSE,
                Urgency.HIGH,
                f"short strike breached: {where} by {abs(spot - c.strike):.2f}",
                {"strike": c.strike, "right": c.right.value if c.right else None},
            )
        return None


@dataclass(frozen=True, slots=True)
class DeltaBreach(Rule):
    """1.3: abs(short-leg delta) >= ``threshold`` -> roll (credit available, time left) or close."""

    name: ClassVar[RuleName] = "delta_breach"
    priority: ClassVar[float] = 1.3
    threshold: float = 0.40
    roll_min_dte: int = 7
    roll_min_credit: float = 0.05

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        r = cfg.rules
        return cls(r.delta_breach, r.gamma_dte, r.roll_min_credit)

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        delta = state.max_short_delta
        if delta is None or delta < self.threshold:
            return None
        action, how = roll_or_close(state, self.roll_min_dte, self.roll_min_credit)
        return self.decide(
            state,
            market,
            now,
            action,
            Urgency.HIGH,
            f"short-leg |delta| {delta:.2f} >= {self.threshold:.2f}: {how}",
            {
                "delta_breach": self.threshold,
                "roll_min_dte": self.roll_min_dte,
                "roll_min_credit": self.roll_min_credit,
            },
        )


@dataclass(frozen=True, slots=True)
class AssignmentRisk(Rule):
    """1.4: short call ITM with extrinsic < the dividend, before the ex-date -> close, HIGH.

    Early exercise pays a call holder when the dividend beats the time value
    given up, so the risk exists from now until the ex-date, if the call is
    still alive then.
    """

    name: ClassVar[RuleName] = "assignment_risk"
    priority: ClassVar[float] = 1.4

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        return cls()

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        div, spot = state.dividend, state.spot
        if div is None or spot is None or div.amount <= 0 or not state.today < div.ex_date:
            return None
        for leg in state.short_option_legs:
            c = leg.leg.contract
            if c.right is not Right.CALL or c.strike is None or c.expiry is None:
                continue
            if c.expiry < div.ex_date or spot <= c.strike or not leg.quote_ok:
                continue
            intrinsic = spot - c.strike
            extrinsic = max(leg.mark - intrinsic, 0.0)
            if extrinsic >= div.amount:
                continue
            reason = (
                f"assignment risk: short call {c.strike:g} ITM by {intrinsic:.2f}, "
                f"extrinsic {extrinsic:.2f} < dividend {div.amount:.2f} before ex-date "
                f"{div.ex_date.isoformat()}"
            )
            return self.decide(
                state,
                market,
                now,
                DecisionAction.CLOSE,
                Urgency.HIGH,
                reason,
                {
                    "strike": c.strike,
                    "extrinsic": round(extrinsic, 4),
                    "dividend": div.amount,
                    "ex_date": div.ex_date.isoformat(),
                },
            )
        return None


@dataclass(frozen=True, slots=True)
class GammaRisk(Rule):
    """1.5: DTE <= ``max_dte`` and abs(position gamma) over ``max_gamma`` -> close, HIGH."""

    name: ClassVar[RuleName] = "gamma_risk"
    priority: ClassVar[float] = 1.5
    max_dte: int = 7
    max_gamma: float = 50.0

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        return cls(cfg.rules.gamma_dte, cfg.rules.max_position_gamma)

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        gamma, dte = state.position_gamma, state.dte
        if gamma is None or dte is None or dte > self.max_dte or abs(gamma) <= self.max_gamma:
            return None
        reason = (
            f"gamma risk: |position gamma| {abs(gamma):.1f} > {self.max_gamma:g} "
            f"at DTE {dte} <= {self.max_dte}"
        )
        return self.decide(
            state,
            market,
            now,
            DecisionAction.CLOSE,
            Urgency.HIGH,
            reason,
            {"gamma_dte": self.max_dte, "max_position_gamma": self.max_gamma},
        )


@dataclass(frozen=True, slots=True)
class DynamicTakeProfit(Rule):
    """2.1: profit >= the current regime's target (fraction of max profit) -> close, NORMAL.

    Skipped (the fixed target applies) when the regime is unknown or dynamic
    targets are switched off.
    """

    name: ClassVar[RuleName] = "dynamic_take_profit"
    priority: ClassVar[float] = 2.1
    targets: Mapping[MarketRegime, float] = field(default_factory=dict)
    enabled: bool = True

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        pt = cfg.profit_targets
        targets = {MarketRegime(k): float(v) for k, v in pt.regime.model_dump().items()}
        return cls(targets, pt.dynamic_enabled)

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        regime, profit = market.regime, state.profit_fraction
        if not self.enabled or regime is None or profit is None:
            return None
        target = self.targets.get(regime)
        if target is None or profit < target:
            return None
        reason = (
            f"profit {profit:.1%} of max >= {target:.0%} target for regime {regime.value}: "
            f"pnl ${state.pnl:,.2f}"
        )
        return self.decide(
            state,
            market,
            now,
            DecisionAction.CLOSE,
            Urgency.NORMAL,
            reason,
            {"profit_target": target},
        )


@dataclass(frozen=True, slots=True)
class FixedTakeProfit(Rule):
    """2.2: profit >= ``target`` of max profit -> close, NORMAL.

    Applies only where the dynamic target does not: the regime is unknown, or
    dynamic targets are off (``dynamic_active`` False).
    """

    name: ClassVar[RuleName] = "fixed_take_profit"
    priority: ClassVar[float] = 2.2
    target: float = 0.5
    dynamic_active: bool = True

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        pt = cfg.profit_targets
        dynamic = pt.dynamic_enabled and cfg.rules.is_enabled("dynamic_take_profit")
        return cls(pt.fixed, dynamic)

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        profit = state.profit_fraction
        if profit is None or (self.dynamic_active and market.regime is not None):
            return None
        if profit < self.target:
            return None
        why = "regime unknown" if self.dynamic_active else "dynamic targets off"
        reason = (
            f"profit {profit:.1%} of max >= fixed {self.target:.0%} target ({why}): "
            f"pnl ${state.pnl:,.2f}"
        )
        return self.decide(
            state,
            market,
            now,
            DecisionAction.CLOSE,
            Urgency.NORMAL,
            reason,
            {"profit_target": self.target},
        )


@dataclass(frozen=True, slots=True)
class DteExit(Rule):
    """3.0: DTE <= ``max_dte`` -> roll (credit available, time left) or close, NORMAL."""

    name: ClassVar[RuleName] = "dte_exit"
    priority: ClassVar[float] = 3.0
    needs_marks: ClassVar[bool] = False
    max_dte: int = 21
    roll_min_dte: int = 7
    roll_min_credit: float = 0.05

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        r = cfg.rules
        return cls(r.dte_exit, r.gamma_dte, r.roll_min_credit)

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        dte = state.dte
        if dte is None or dte > self.max_dte:
            return None
        action, how = roll_or_close(state, self.roll_min_dte, self.roll_min_credit)
        return self.decide(
            state,
            market,
            now,
            action,
            Urgency.NORMAL,
            f"DTE {dte} <= {self.max_dte}: {how}",
            {
                "dte_exit": self.max_dte,
                "roll_min_dte": self.roll_min_dte,
                "roll_min_credit": self.roll_min_credit,
            },
        )


@dataclass(frozen=True, slots=True)
class VolatilityExpansion(Rule):
    """4.0: IV up >= ``rise_pct`` (relative) since entry while losing -> reduce (or close one lot)."""

    name: ClassVar[RuleName] = "volatility_expansion"
    priority: ClassVar[float] = 4.0
    rise_pct: float = 0.5

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        return cls(cfg.rules.vol_expansion_pct)

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        change, pnl = state.iv_change, state.pnl
        if change is None or pnl is None or pnl >= 0 or change < self.rise_pct:
            return None
        # Halving the exposure keeps a chance at the premium; a single lot cannot be halved.
        action = DecisionAction.REDUCE if state.strategy.quantity > 1 else DecisionAction.CLOSE
        reason = (
            f"IV up {change:.0%} since entry ({state.entry_iv:.1%} -> {state.current_iv:.1%}) "
            f">= {self.rise_pct:.0%} while losing ${-pnl:,.2f}: {action.value}"
        )
        return self.decide(
            state,
            market,
            now,
            action,
            Urgency.NORMAL,
            reason,
            {"vol_expansion_pct": self.rise_pct, "iv_change": round(change, 4)},
        )


@dataclass(frozen=True, slots=True)
class RollOpportunity(Rule):
    """5.0: a tested short leg (|delta| >= ``tested_delta``) can roll out for a net credit."""

    name: ClassVar[RuleName] = "roll_opportunity"
    priority: ClassVar[float] = 5.0
    tested_delta: float = 0.30
    min_credit: float = 0.05

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        return cls(cfg.rules.roll_tested_delta, cfg.rules.roll_min_credit)

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision | None:
        delta, credit = state.max_short_delta, state.roll_credit
        if delta is None or credit is None or state.dte is None or state.dte <= 0:
            return None
        if delta < self.tested_delta or credit < self.min_credit:
            return None
        reason = (
            f"tested side (|delta| {delta:.2f} >= {self.tested_delta:.2f}) rolls out for a "
            f"{credit:.2f} credit >= {self.min_credit:.2f}"
        )
        return self.decide(
            state,
            market,
            now,
            DecisionAction.ROLL,
            Urgency.LOW,
            reason,
            {"roll_tested_delta": self.tested_delta, "roll_min_credit": self.min_credit},
        )


@dataclass(frozen=True, slots=True)
class Hold(Rule):
    """9.0: nothing else fired -> hold, LOW. With invalid marks, says which quotes are bad."""

    name: ClassVar[RuleName] = "hold"
    priority: ClassVar[float] = 9.0
    needs_marks: ClassVar[bool] = False

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        return cls()

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision:
        if not state.marks_valid:
            reason = "no valid marks: " + "; ".join(state.mark_problems)
            numbers: dict[str, InputValue] = {"mark_problems": len(state.mark_problems)}
        else:
            profit = state.profit_fraction
            shown = "n/a" if profit is None else f"{profit:.1%}"
            delta = state.max_short_delta
            reason = (
                f"no rule fired: profit {shown} of max, DTE {state.dte}, max short |delta| "
                f"{'n/a' if delta is None else f'{delta:.2f}'}"
            )
            numbers = {}
        return self.decide(state, market, now, DecisionAction.HOLD, Urgency.LOW, reason, numbers)


RULE_CLASSES: tuple[type[Rule], ...] = (
    StopLoss,
    ExpirationDay,
    ShortStrikeBreached,
    DeltaBreach,
    AssignmentRisk,
    GammaRisk,
    DynamicTakeProfit,
    FixedTakeProfit,
    DteExit,
    VolatilityExpansion,
    RollOpportunity,
    Hold,
)


def _side(right: Right) -> str:
    return "call" if right is Right.CALL else "put"
