"""``DecisionEngine``: priority-ordered rules over each open strategy; the first that fires decides.

Pure: strategy states, the market state and the time go in, decisions come
out. A monitoring workflow calls ``evaluate_all`` once per cycle with states
built by ``build_strategy_state`` and stores the result with
``record_decisions``.

Invalid-marks policy: when any leg quote of a strategy fails ``check_quote``
its P&L and greeks cannot be trusted, so every rule with ``needs_marks`` is
skipped. Rules that read only the spot and the calendar (expiration day,
short strike breached, DTE exit) still run and may close the position; if
none fires the decision is a hold whose reason starts ``"no valid marks: "``
and names each bad leg. (Acting on such a close is the executor's business:
it will not price an order off a bad quote.)

The hold rule is the engine's fallback: it always answers, so disabling it in
config cannot leave a strategy without a decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from tradelib.config import TradingConfig
from tradelib.domain import Decision, ensure_utc
from tradelib.rules.rules import RULE_CLASSES, Hold, Rule
from tradelib.rules.state import MarketState, StrategyState


def default_rules(cfg: TradingConfig) -> list[Rule]:
    """Return all twelve rules with thresholds from ``cfg``, enabled or not."""
    return [cls.from_config(cfg) for cls in RULE_CLASSES]


class DecisionEngine:
    """Evaluate rules in priority order (lower first); the first that fires decides."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        ordered = sorted(rules, key=lambda rule: rule.priority)
        names = [rule.name for rule in ordered]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rules given more than once: {duplicates}")
        self._rules: tuple[Rule, ...] = tuple(r for r in ordered if not isinstance(r, Hold))
        self._hold = next((r for r in ordered if isinstance(r, Hold)), Hold())
        # Split once here so a cycle with bad quotes does not test the flag per rule.
        self._spot_rules = tuple(r for r in self._rules if not r.needs_marks)

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> DecisionEngine:
        """Build the engine with every rule that ``cfg.rules.enabled`` leaves on."""
        return cls(r for r in default_rules(cfg) if cfg.rules.is_enabled(r.name))

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules in the order they run, the hold fallback last."""
        return (*self._rules, self._hold)

    def __repr__(self) -> str:
        return f"DecisionEngine({', '.join(f'{r.priority:g} {r.name}' for r in self.rules)})"

    def evaluate(self, state: StrategyState, market: MarketState, now: datetime) -> Decision:
        """Return the decision of the first rule that fires for ``state`` (hold if none)."""
        return self._decide(state, market, ensure_utc(now, "now"))

    def _decide(self, state: StrategyState, market: MarketState, now: datetime) -> Decision:
        rules = self._rules if state.marks_valid else self._spot_rules
        for rule in rules:
            decision = rule.evaluate(state, market, now)
            if decision is not None:
                return decision
        return self._hold.evaluate(state, market, now)

    def evaluate_all(
        self, states: Iterable[StrategyState], market: MarketState, now: datetime
    ) -> list[Decision]:
        """Return one decision per strategy state, in the order given."""
        now = ensure_utc(now, "now")
        return [self._decide(state, market, now) for state in states]

    def explain(self, state: StrategyState, market: MarketState, now: datetime) -> list[Decision]:
        """Return every decision that would fire for ``state``, in priority order.

        Only the first one counts; the rest show what else was close (for
        dashboards and research, not for acting).
        """
        now = ensure_utc(now, "now")
        rules: Sequence[Rule] = self._rules if state.marks_valid else self._spot_rules
        fired = [d for d in (r.evaluate(state, market, now) for r in rules) if d is not None]
        return [*fired, self._hold.evaluate(state, market, now)]
