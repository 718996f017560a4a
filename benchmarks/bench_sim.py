"""Benchmark the embedded simulated market and SimBroker.

Measures: one SPY option chain, a simulated day of 1-s data, SimBroker
snapshot of 200 option quotes, positions()/account() with 600 legs (the
SimBroker half of the "sync of 200 strategies" budget), a 4-leg order placed
and filled, and the whole demo day into a temp lake. Prints a markdown section;
``--out PATH`` writes it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.demo.day import run_demo
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    Right,
    make_order_ref,
    net_prices,
    utc,
)
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimulatedMarket

START = utc(2026, 11, 24, 15)


def median_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    fn()  # warm-up (numba, caches)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(runs)


def strangle_legs(broker: SimBroker, underlying: str, expiry: date, k: int) -> tuple[Leg, ...]:
    (spot,) = broker.snapshot([Contract.stock(underlying)])
    s = round(spot.mark)
    return (
        Leg(Contract.option(underlying, expiry, s - 10 - k, Right.PUT), -1),
        Leg(Contract.option(underlying, expiry, s - 40 - k, Right.PUT), 1),
        Leg(Contract.option(underlying, expiry, s + 10 + k, Right.CALL), -1),
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []

    market = SimulatedMarket(SimMarketConfig(seed=7, start=START))
    expiry = next(e for e in market.expiries("SPY") if (e - START.date()).days >= 30)
    rows.append(
        (
            "option_chain, one SPY expiry (~30 DTE)",
            f"{median_ms(lambda: market.option_chain('SPY', expiry)):.2f} ms",
            "",
        )
    )

    def one_day() -> None:
        m = SimulatedMarket(SimMarketConfig(seed=int(time.time_ns() % 1000), start=START))
        m.advance(6.5 * 3600)
        for sym in ("SPY", "QQQ", "IWM", "ES", "NQ", "RTY", "VIX"):
            m.spot(sym)

    rows.append(
        (
            "build market + one simulated session, all instruments",
            f"{median_ms(one_day, 3):.0f} ms",
            "incl. 90-day history",
        )
    )

    broker = SimBroker(
        SimulatedMarket(SimMarketConfig(seed=7, start=START)), initial_cash=10_000_000
    )
    broker.connect()
    info = broker.option_chain("SPY")
    strikes = [k for k in info.strikes_for(expiry)][:100]
    contracts = [
        Contract.option("SPY", expiry, k, r) for k in strikes for r in (Right.PUT, Right.CALL)
    ]
    rows.append(
        (
            "SimBroker.snapshot, 200 option quotes",
            f"{median_ms(lambda: broker.snapshot(contracts)):.1f} ms",
            "",
        )
    )

    # 200 three-leg strategies = 600 legs across 3 underlyings and several expiries.
    n = 0
    for underlying in ("SPY", "QQQ", "IWM"):
        exps = [
            e
            for e in broker.option_chain(underlying).expiries
            if 20 <= (e - START.date()).days <= 60
        ][:4]
        for e in exps:
            for k in range(17):
                if n >= 200:
                    break
                legs = strangle_legs(broker, underlying, e, k)
                quotes = {
                    q.contract.key: q for q in broker.snapshot([leg.contract for leg in legs])
                }
                _, natural, _ = net_prices(legs, quotes)
                sid = f"bench-{n}"
                broker.place_order(
                    OrderIntent(
                        make_order_ref(sid, OrderPurpose.OPEN),
                        sid,
                        OrderPurpose.OPEN,
                        legs,
                        1,
                        round(natural + 0.05, 2),
                        broker.now(),
                    )
                )
                n += 1
    broker.wait(5)
    legs_held = len(broker.positions())
    rows.append(
        (
            f"SimBroker.positions(), {legs_held} legs",
            f"{median_ms(broker.positions):.1f} ms",
            "budget: sync of 600 legs < 200 ms",
        )
    )
    rows.append(
        (
            f"SimBroker.account(), {legs_held} legs (incl. margin)",
            f"{median_ms(broker.account):.1f} ms",
            "",
        )
    )

    fresh = SimBroker(SimulatedMarket(SimMarketConfig(seed=7, start=START)))
    fresh.connect()
    seq = iter(range(1, 10_000))

    def condor() -> None:
        legs = (
            *strangle_legs(fresh, "SPY", expiry, 0),
            Leg(
                Contract.option(
                    "SPY",
                    expiry,
                    round(fresh.snapshot([Contract.stock("SPY")])[0].mark) + 15,
                    Right.CALL,
                ),
                1,
            ),
        )
        quotes = {q.contract.key: q for q in fresh.snapshot([leg.contract for leg in legs])}
        _, natural, _ = net_prices(legs, quotes)
        ref = make_order_ref("condor", OrderPurpose.OPEN, next(seq))
        fresh.place_order(
            OrderIntent(
                ref, "condor", OrderPurpose.OPEN, legs, 1, round(natural + 0.05, 2), fresh.now()
            )
        )
        fresh.wait(1)

    rows.append(("iron condor: quotes + place + fill (4 legs)", f"{median_ms(condor):.1f} ms", ""))

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_demo(
            TradingConfig(),
            lake=Lake(Path(tmp) / "lake"),
            day=date(2026, 11, 24),
            progress=lambda _m: None,
        )
        demo_s = time.perf_counter() - t0
    rows.append(
        (
            "demo day (make demo's job) into a temp lake",
            f"{demo_s:.1f} s",
            "budget for issue 2: < 2 min",
        )
    )

    lines = ["## Simulated market and SimBroker", "", "| what | median | note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    sys.stdout.flush()
    os._exit(0)  # deltalake: skip interpreter teardown (see TOOLCHAIN exit-crash note)


if __name__ == "__main__":
    main()
