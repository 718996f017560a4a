"""Each book invariant catches the defect it is for, and names day, subject and numbers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from tradelib.book import BookState, Invariant, check_book_state
from tradelib.book.invariants import DecisionFact, OrderFact
from tradelib.domain import AccountSnapshot, Contract, Fill, Position, Right, StrategyType, utc
from tradelib.sync import CloseReason, HeldLeg, StrategyRecord

DAY = date(2026, 11, 16)
T0 = utc(2026, 11, 16, 15)
EXP = date(2026, 12, 18)
SHORT = Contract.option("IWM", EXP, 240, Right.CALL, con_id=1)
LONG = Contract.option("IWM", EXP, 245, Right.CALL, con_id=2)
OTHER = Contract.option("IWM", EXP, 250, Right.CALL, con_id=3)


def spread(sid: str, short: Contract, long: Contract, pid: str | None = "p1") -> StrategyRecord:
    legs = (HeldLeg(short, -1), HeldLeg(long, 1))
    return StrategyRecord(
        sid, StrategyType.CALL_CREDIT_SPREAD, "IWM", legs, T0, T0, credit=0.9, prediction_id=pid
    )


def fill(n: int, c: Contract, qty: float, price: float, ref: str = "tl:x:open:1") -> Fill:
    return Fill(f"e{n}", ref, c, qty, price, T0 + timedelta(seconds=n), commission=0.65)


def state(**changes: object) -> BookState:
    """A whole book: spread x (short 240 / long 245) opened for 0.90, marked at 0.80."""
    fills = [fill(1, SHORT, -1, 1.50), fill(2, LONG, 1, 0.60)]
    cash = 100_000.0 + 150.0 - 60.0 - 1.30
    positions = [Position(SHORT, -1, 150.0, 1.30, -130.0), Position(LONG, 1, 60.0, 0.50, 50.0)]
    account = AccountSnapshot(T0, "DU***", cash - 80.0, cash, 0, 0, 0, 0)
    base = BookState(
        day=DAY,
        strategies=[spread("x", SHORT, LONG)],
        closed_quantities={},
        positions=positions,
        fills=fills,
        account=account,
        starting_cash=100_000.0,
        orders=[OrderFact("tl:x:open:1", "x", "open", T0, 1.0)],
        prediction_ids=frozenset({"p1"}),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def kinds(s: BookState) -> list[Invariant]:
    return [v.invariant for v in check_book_state(s)]


def test_a_whole_book_has_no_violation() -> None:
    assert check_book_state(state()) == []


def test_a_strategy_stripped_of_a_leg_the_broker_still_holds_is_named() -> None:
    stripped = replace(spread("x", SHORT, LONG), legs=(HeldLeg(SHORT, -1),))
    (v,) = check_book_state(state(strategies=[stripped]))
    assert v.invariant is Invariant.LEGS_SUM and v.day == DAY
    assert "strategies hold 0" in v.detail and "the broker 1" in v.detail


def test_legs_netting_to_zero_across_strategies_agree_with_a_flat_broker() -> None:
    x, y = spread("x", SHORT, LONG), spread("y", LONG, OTHER)  # 245 nets to zero
    positions = [Position(SHORT, -1, 150.0, 1.30, -130.0), Position(OTHER, 1, 30.0, 0.2, 20.0)]
    s = state(strategies=[x, y], positions=positions)
    assert Invariant.LEGS_SUM not in kinds(s)


def test_a_zero_leg_and_a_closed_strategy_still_holding_are_violations() -> None:
    zero = replace(
        spread("x", SHORT, LONG), legs=(HeldLeg(SHORT, -1), HeldLeg(LONG, 1), HeldLeg(OTHER, 0))
    )
    closed = spread("old", SHORT, LONG).closed(CloseReason.CLOSED, T0)
    s = state(strategies=[zero, closed], closed_quantities={"old": 1.0})
    found = [v for v in check_book_state(s) if v.invariant is Invariant.LEG_QUANTITY]
    assert {v.subject for v in found} == {"x", "old"}


def test_cash_off_by_a_cent_is_caught_with_both_numbers() -> None:
    s = state()
    account = replace(
        s.account, cash=s.account.cash + 0.01, net_liquidation=s.account.net_liquidation + 0.01
    )
    (v,) = check_book_state(replace(s, account=account))
    assert v.invariant is Invariant.CASH and "off by +0.01" in v.detail


def test_net_liquidation_must_equal_cash_plus_marked_positions() -> None:
    s = state()
    account = replace(s.account, net_liquidation=s.account.net_liquidation + 5)
    assert kinds(replace(s, account=account)) == [Invariant.NET_LIQUIDATION]


def test_a_close_order_without_a_decision_before_it_is_a_violation() -> None:
    close = OrderFact("tl:x:close:1", "x", "close", T0 + timedelta(hours=1), 1.0)
    s = state(orders=[*state().orders, close])
    assert kinds(s) == [Invariant.DECISION]
    late = DecisionFact("x", "close", T0 + timedelta(hours=2))
    assert kinds(replace(s, decisions=[late])) == [Invariant.DECISION]
    ok = DecisionFact("x", "close", T0 + timedelta(minutes=30))
    assert kinds(replace(s, decisions=[ok])) == []


def test_an_entry_without_its_prediction_is_a_violation() -> None:
    assert kinds(state(prediction_ids=frozenset())) == [Invariant.PREDICTION]


def test_a_duplicated_merge_key_names_its_table() -> None:
    (v,) = check_book_state(state(duplicate_keys={"positions": 41, "orders": 0}))
    assert v.subject == "positions" and "41" in v.detail
