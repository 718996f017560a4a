"""Benchmark IBBroker over ib_async against the simulated TWS gateway, next to SimBroker directly.

Measures: connect + full sync (ib_async's startup sync, then positions, account,
open orders and executions) of an account holding 200 three-leg strategies
(600 legs); positions()/account() alone; a snapshot of 200 option quotes with
ib_async's default request pacing (45/s, what a real TWS needs) and without
it (the gateway has no pacing); and one combo order placed and filled. The
same calls on SimBroker directly are the reference. Prints a markdown
section; ``--out PATH`` writes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from tradelib.broker.connection import DEFAULT_MAX_REQUESTS_PER_S, IBConnectionManager
from tradelib.broker.ib import IBBroker
from tradelib.broker.port import Broker
from tradelib.broker.sim import SimBroker
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    Right,
    TradingMode,
    make_order_ref,
    net_prices,
    utc,
)
from tradelib.gateway import GatewayThread, SimGateway
from tradelib.sim import SimMarketConfig, SimulatedMarket

START = utc(2026, 11, 24, 15)
STRATEGIES = 200


def median_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(runs)


def strangle_legs(broker: Broker, underlying: str, expiry: date, k: int) -> tuple[Leg, ...]:
    """Short put, long put 30 below, short call: listed strikes nearest the targets."""
    (spot,) = broker.snapshot([Contract.stock(underlying)])
    strikes = broker.option_chain(underlying).strikes_for(expiry)
    s = round(spot.mark)

    def opt(target: float, right: Right) -> Contract:
        strike = min(strikes, key=lambda x: abs(x - target))
        return broker.resolve(Contract.option(underlying, expiry, strike, right))

    return (
        Leg(opt(s - 10 - k, Right.PUT), -1),
        Leg(opt(s - 40 - k, Right.PUT), 1),
        Leg(opt(s + 10 + k, Right.CALL), -1),
    )


def open_strategies(broker: Broker, n: int) -> int:
    """Open ``n`` three-leg strategies across SPY/QQQ/IWM at natural; return how many were sent."""
    sent = 0
    used: set[str] = set()
    today = broker.now().date()
    for underlying in ("SPY", "QQQ", "IWM"):
        exps = [e for e in broker.option_chain(underlying).expiries if 20 <= (e - today).days <= 60]
        for e in exps[:6]:
            for k in range(30):
                if sent >= n:
                    return sent
                legs = strangle_legs(broker, underlying, e, k)
                keys = {leg.contract.key for leg in legs}
                if len(keys) < 3 or keys & used:
                    continue  # every leg its own position: 200 strategies, 600 legs
                used |= keys
                quotes = {
                    q.contract.key: q for q in broker.snapshot([leg.contract for leg in legs])
                }
                _, natural, _ = net_prices(legs, quotes)
                sid = f"bench-{sent}"
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
                sent += 1
    return sent


def ib_broker(port: int, client_id: int, pacing: int) -> IBBroker:
    connection = IBConnectionManager(
        "127.0.0.1", port, (client_id,), max_requests_per_s=pacing, connect_timeout_s=30.0
    )
    return IBBroker(connection, mode=TradingMode.PAPER)


def option_contracts(broker: Broker) -> list[Contract]:
    today = broker.now().date()
    chain = broker.option_chain("SPY")
    expiry = next(e for e in chain.expiries if (e - today).days >= 30)
    strikes = list(chain.strikes_for(expiry))
    (spot,) = broker.snapshot([Contract.stock("SPY")])
    mid = min(range(len(strikes)), key=lambda i: abs(strikes[i] - spot.mark))
    picked = strikes[max(mid - 50, 0) : max(mid - 50, 0) + 100]
    return [
        broker.resolve(Contract.option("SPY", expiry, k, r))
        for k in picked
        for r in (Right.PUT, Right.CALL)
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    rows: list[tuple[str, str, str]] = []

    sim = SimBroker(SimulatedMarket(SimMarketConfig(seed=7, start=START)), initial_cash=10_000_000)
    gateway = SimGateway(sim, port=0, speed=1.0)
    with GatewayThread(gateway) as thread:
        setup = ib_broker(thread.port, 9, 0)
        setup.connect()
        t0 = time.perf_counter()
        sent = open_strategies(setup, STRATEGIES)
        place_s = time.perf_counter() - t0
        setup.wait(5)
        legs_held = len(setup.positions())
        fills = len(setup.executions())
        setup.disconnect()
        rows.append(
            (
                f"setup: {sent} combo orders placed through IBBroker",
                f"{place_s:.1f} s",
                f"{legs_held} legs held, {fills} leg fills",
            )
        )

        def connect_and_sync() -> None:
            broker = ib_broker(thread.port, 1, 0)
            broker.connect()
            broker.positions()
            broker.account()
            broker.open_orders()
            broker.executions()
            broker.disconnect()

        rows.append(
            (
                f"IBBroker connect + full sync, {legs_held} legs",
                f"{median_ms(connect_and_sync, 3):.0f} ms",
                "budget: sync of 600 legs < 2 s",
            )
        )

        broker = ib_broker(thread.port, 1, 0)
        broker.connect()
        positions_ms = median_ms(broker.positions)
        account_ms = median_ms(broker.account)
        rows.append((f"IBBroker.positions(), {legs_held} legs", f"{positions_ms:.1f} ms", ""))
        rows.append(("IBBroker.account()", f"{account_ms:.1f} ms", ""))
        contracts = option_contracts(broker)
        rows.append(
            (
                "IBBroker.snapshot, 200 option quotes, no pacing",
                f"{median_ms(lambda: broker.snapshot(contracts)):.0f} ms",
                "ib.max_requests_per_s = 0 (the gateway has no pacing)",
            )
        )
        broker.disconnect()
        paced = ib_broker(thread.port, 2, DEFAULT_MAX_REQUESTS_PER_S)
        paced.connect()
        paced_contracts = option_contracts(paced)
        rows.append(
            (
                "IBBroker.snapshot, 200 option quotes, default pacing",
                f"{median_ms(lambda: paced.snapshot(paced_contracts), 3):.0f} ms",
                f"{DEFAULT_MAX_REQUESTS_PER_S} requests/s, safe for a real TWS",
            )
        )
        paced.disconnect()

        def sim_sync() -> None:
            thread.call(
                lambda: (sim.positions(), sim.account(), sim.open_orders(), sim.executions())
            )

        rows.append(
            (
                f"SimBroker directly: positions + account + open orders + executions, {legs_held} legs",
                f"{median_ms(sim_sync):.0f} ms",
                "budget: < 200 ms",
            )
        )
        rows.append(
            (
                "SimBroker.snapshot directly, 200 option quotes",
                f"{median_ms(lambda: thread.call(lambda: sim.snapshot(contracts))):.1f} ms",
                "",
            )
        )

    lines = ["## IBBroker over the simulated gateway (ib_async 2.1.0)", ""]
    lines += ["| what | time | note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown, as the other benchmarks do


if __name__ == "__main__":
    main()
