"""A book over a portfolio limit: rolls that feed the breach become closes, and the strategy that
cuts the breach most is closed first; nothing changes while the book is within its limits."""

from __future__ import annotations

from datetime import date

from tradelib.domain import Contract, Decision, DecisionAction, Leg, Right, Urgency, utc
from tradelib.risk import LimitBreach, StrategyRisk
from tradelib.rules.book import BOOK_LIMIT_RULE, apply_book_limits

NOW = utc(2026, 11, 24, 16)
EXP = date(2026, 12, 31)


def risk(sid: str, symbol: str, capital: float, pnl: float = 0.0) -> StrategyRisk:
    put = Contract.option(symbol, EXP, 100.0, Right.PUT)
    return StrategyRisk(sid, symbol, 1, 20.0, capital, pnl, 37, (Leg(put, -1),))


def decision(sid: str, action: DecisionAction, rule: str = "hold") -> Decision:
    return Decision(f"d-{sid}", sid, NOW, rule, 9.0, action, Urgency.LOW, f"{rule} says so", {})


# QQQ is 46% of a $50,000 risk budget, over its 40% concentration limit.
QQQ_OVER = LimitBreach(
    "max_underlying_concentration",
    0.46,
    0.40,
    "QQQ concentration 46% > 40% of the risk budget",
    underlyings=("QQQ",),
    strategies=("q1", "q2"),
    per_dollar=1 / 50_000,
)
RISKS = [risk("q1", "QQQ", 12_000), risk("q2", "QQQ", 11_000, pnl=-300), risk("s1", "SPY", 9_000)]


def test_within_the_limits_nothing_changes() -> None:
    decisions = [
        decision("q1", DecisionAction.ROLL, "delta_breach"),
        decision("s1", DecisionAction.HOLD),
    ]
    assert apply_book_limits(decisions, RISKS, (), NOW) == decisions


def test_a_roll_that_feeds_the_breach_becomes_a_close() -> None:
    roll = decision("q2", DecisionAction.ROLL, "roll_opportunity")
    (out,) = apply_book_limits([roll], RISKS, [QQQ_OVER], NOW)
    assert (out.rule, out.action, out.urgency) == (
        BOOK_LIMIT_RULE,
        DecisionAction.CLOSE,
        Urgency.LOW,
    )
    assert "no roll: it adds to max_underlying_concentration (0.46 > 0.4)" in out.reason
    assert out.inputs["engine_rule"] == "roll_opportunity"


def test_a_roll_elsewhere_stands() -> None:
    roll = decision("s1", DecisionAction.ROLL, "roll_opportunity")
    assert apply_book_limits([roll], RISKS, [QQQ_OVER], NOW) == [roll]


def test_the_strategy_that_cuts_the_breach_most_is_closed_and_only_as_many_as_needed() -> None:
    holds = [decision(s, DecisionAction.HOLD) for s in ("q1", "q2", "s1")]
    out = {d.strategy_id: d for d in apply_book_limits(holds, RISKS, [QQQ_OVER], NOW)}
    # q1 alone (12,000 of risk capital = 24% of the budget) brings QQQ to 22%.
    assert out["q1"].action is DecisionAction.CLOSE and out["q1"].urgency is Urgency.NORMAL
    assert out["q1"].inputs["breached_limit"] == "max_underlying_concentration"
    assert out["q1"].inputs["measured_after"] < 0.40
    assert out["q2"].action is DecisionAction.HOLD and out["s1"].action is DecisionAction.HOLD


def test_an_exit_the_engine_decided_is_left_as_it_is() -> None:
    stop = decision("q1", DecisionAction.CLOSE, "stop_loss")
    out = apply_book_limits([stop, decision("q2", DecisionAction.HOLD)], RISKS, [QQQ_OVER], NOW)
    assert out[0] == stop


def test_a_book_a_hair_over_its_limit_is_left_alone_within_the_tolerance() -> None:
    holds = [decision(s, DecisionAction.HOLD) for s in ("q1", "q2", "s1")]
    hair = LimitBreach("max_underlying_concentration", 0.41, 0.40, "QQQ 41% > 40%", ("QQQ",))
    assert apply_book_limits(holds, RISKS, [hair], NOW, tolerance=0.10) == holds
    # QQQ_OVER (46% against 40%) is 15% past its limit: it acts.
    out = apply_book_limits(holds, RISKS, [QQQ_OVER], NOW, tolerance=0.10)
    assert out[0].action is DecisionAction.CLOSE
