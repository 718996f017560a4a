"""Strategies to watch and a broker wrapper that watches the line budget."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from tradelib.broker import Broker
from tradelib.domain import Contract, Leg, Right, Strategy, StrategyType, utc
from tradelib.errors import MarketDataLineLimitError

START = utc(2026, 11, 24, 15)  # Tuesday 10:00 New York


def strangle_with_wing(
    broker: Broker, sid: str, underlying: str, expiry: date, k: int, used: set[str]
) -> Strategy:
    """Short put, long put further out, short call, ``k`` steps further from the money each
    time; priced from the market. ``used`` keeps every leg a distinct contract."""
    spot = broker.snapshot([Contract.stock(underlying)])[0].mark
    strikes = sorted(broker.option_chain(underlying).strikes_for(expiry))

    def option(target: float, right: Right, outward: int) -> Contract:
        # The free strike nearest the target, preferring the side away from the money.
        free = [j for j in range(len(strikes)) if f"{expiry}{strikes[j]}{right}" not in used]
        i = min(free, key=lambda j: (abs(strikes[j] - target), -outward * strikes[j]))
        used.add(f"{expiry}{strikes[i]}{right}")
        return broker.resolve(Contract.option(underlying, expiry, strikes[i], right))

    legs = (
        Leg(option(spot * (0.985 - 0.01 * k), Right.PUT, -1), -1),
        Leg(option(spot * (0.92 - 0.01 * k), Right.PUT, -1), 1),
        Leg(option(spot * (1.015 + 0.01 * k), Right.CALL, 1), -1),
    )
    quotes = {q.contract.key: q for q in broker.snapshot([leg.contract for leg in legs])}
    credit = -sum(leg.ratio * quotes[leg.contract.key].mid for leg in legs)
    return Strategy(sid, StrategyType.CUSTOM, underlying, legs, 1, round(credit, 2), broker.now())


def many_strategies(broker: Broker, n: int) -> list[Strategy]:
    """``n`` three-leg strategies (distinct legs) over SPY, QQQ, IWM and two expiries each
    (about 30 and 45 days out), from near the money to far from it."""
    today = broker.now().date()
    out: list[Strategy] = []
    per = -(-n // 3)
    for underlying in ("SPY", "QQQ", "IWM"):
        listed = [
            e for e in broker.option_chain(underlying).expiries if 28 <= (e - today).days <= 60
        ]
        expiries = [listed[0], listed[-1]]
        used: set[str] = set()
        for i in range(per):
            if len(out) == n:
                break
            expiry = expiries[i % 2]
            out.append(
                strangle_with_wing(broker, f"s{len(out):03d}", underlying, expiry, i // 2, used)
            )
    return out


class LineWatch:
    """Wraps a broker's stream/unstream to record the order of calls and the peak line count."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.calls: list[tuple[str, int]] = []
        self.peak = 0
        self.refusals = 0
        stream, unstream = broker.stream, broker.unstream

        def watched_stream(contracts: Sequence[Contract]) -> None:
            self.calls.append(("stream", len(contracts)))
            try:
                stream(contracts)
            except MarketDataLineLimitError:
                self.refusals += 1
                raise
            self.peak = max(self.peak, len(broker.streaming()))

        def watched_unstream(contracts: Sequence[Contract]) -> None:
            self.calls.append(("unstream", len(contracts)))
            unstream(contracts)

        broker.stream = watched_stream  # type: ignore[method-assign]
        broker.unstream = watched_unstream  # type: ignore[method-assign]
