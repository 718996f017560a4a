"""Benchmark the position sync: 200 strategies (600 legs) through SimBroker and through
ib_async over the simulated TWS gateway.

For each path: the first sync into an empty lake (every strategy, position, order and
execution is new) and the steady-state sync (nothing changed but a new positions
snapshot), median of several runs; for SimBroker also the sync's own work without the
lake writes (broker reads, reconciliation and grouping). Prints a markdown section;
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

from tradelib.broker import Broker
from tradelib.broker.sim import SimBroker
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderType,
    Right,
    make_order_ref,
    utc,
)
from tradelib.jobs.sync import SyncWorkflow
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.stores.sync import SyncStore
from tradelib.sync import StrategyRegistry
from tradelib.sync.reconcile import diff_positions, lake_book
from tradelib.sync.registry import FillFact

START = utc(2026, 11, 24, 15)
STRATEGIES = 200
REPEAT = 5


def median_s(
    fn: Callable[[], object], repeat: int = REPEAT, between: Callable[[], object] | None = None
) -> float:
    runs = []
    for _ in range(repeat):
        if between is not None:
            between()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def strategy_legs(broker: Broker, underlying: str, expiry: date, k: int) -> tuple[Leg, ...]:
    """Short put, long put further out, short call, ``k`` strikes from the money."""
    (spot,) = broker.snapshot([Contract.stock(underlying)])
    s = round(spot.mark)
    return (
        Leg(Contract.option(underlying, expiry, s - 10 - k, Right.PUT), -1),
        Leg(Contract.option(underlying, expiry, s - 40 - k, Right.PUT), 1),
        Leg(Contract.option(underlying, expiry, s + 10 + k, Right.CALL), -1),
    )


def open_strategies(broker: Broker, n: int = STRATEGIES) -> int:
    """Open ``n`` three-leg strategies with our order refs (market orders); return legs held."""
    today = broker.now().date()
    placed = 0
    for underlying in ("SPY", "QQQ", "IWM"):
        expiries = [
            e for e in broker.option_chain(underlying).expiries if 20 <= (e - today).days <= 60
        ][:4]
        for e in expiries:
            for k in range(17):
                if placed >= n:
                    break
                sid = f"bench-{placed}"
                broker.place_order(
                    OrderIntent(
                        make_order_ref(sid, OrderPurpose.OPEN),
                        sid,
                        OrderPurpose.OPEN,
                        strategy_legs(broker, underlying, e, k),
                        1,
                        None,
                        broker.now(),
                        order_type=OrderType.MARKET,
                    )
                )
                placed += 1
    broker.wait(5)
    return len(broker.positions())


def sync_rows(label: str, broker: Broker, legs: int) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    workflow = SyncWorkflow()
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp) / "lake")
        t0 = time.perf_counter()
        first = workflow.run(broker, lake)
        cold = time.perf_counter() - t0
        assert first.ok and len(first.open_strategies) >= STRATEGIES, first.lines()
        rows.append(
            (
                f"{label}: first sync, {STRATEGIES} strategies / {legs} legs into an empty lake",
                f"{cold * 1e3:.0f} ms",
                f"{sum(first.written.values())} rows written",
            )
        )
        steady = median_s(lambda: workflow.run(broker, lake), between=lambda: broker.wait(1))
        rows.append(
            (
                f"{label}: steady-state sync (no change, new positions snapshot)",
                f"{steady * 1e3:.0f} ms",
                "budget: < 200 ms" if label == "SimBroker" else "budget: < 2 s",
            )
        )
        if label == "SimBroker":
            store = SyncStore(lake)
            book = store.open_strategies()
            registry = StrategyRegistry()
            expired = workflow.expired_through(broker.now())

            def core() -> None:
                positions = broker.positions()
                broker.open_orders()
                fills = [FillFact.of(f) for f in broker.executions()]
                now = broker.now()
                registry.update(book, positions, fills, now, expired)
                diff_positions(
                    lake_book(book),
                    positions,
                    fills,
                    now=now,
                    expired_through=expired,
                    book_version="v",
                )

            rows.append(
                (
                    f"{label}: broker reads + reconcile + registry, no lake I/O",
                    f"{median_s(core) * 1e3:.0f} ms",
                    "",
                )
            )
    return rows


def sim_section() -> list[tuple[str, str, str]]:
    broker = SimBroker(
        SimulatedMarket(SimMarketConfig(seed=7, start=START)), initial_cash=10_000_000
    )
    broker.connect()
    legs = open_strategies(broker)
    return sync_rows("SimBroker", broker, legs)


def ib_section() -> list[tuple[str, str, str]]:
    try:
        from tradelib.broker.connection import IBConnectionManager
        from tradelib.broker.ib import IBBroker
        from tradelib.gateway import GatewayThread, SimGateway
    except ImportError:
        return [("ib_async over the gateway", "n/a", "IBBroker not available")]
    market = SimulatedMarket(SimMarketConfig(seed=7, start=START))
    gateway = SimGateway(SimBroker(market, initial_cash=10_000_000), port=0, speed=1.0)
    with GatewayThread(gateway) as thread:
        connection = IBConnectionManager(
            "127.0.0.1", thread.port, (31,), connect_timeout_s=10.0, max_requests_per_s=0
        )
        broker = IBBroker(connection, line_budget=100)
        broker.connect()
        try:
            t0 = time.perf_counter()
            legs = open_strategies(broker)
            setup = time.perf_counter() - t0
            rows = sync_rows("ib_async over the gateway", broker, legs)
            rows.append(
                (
                    "ib_async over the gateway: opening the 200 strategies (setup)",
                    f"{setup:.1f} s",
                    "",
                )
            )
        finally:
            broker.disconnect()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = sim_section() + ib_section()
    lines = ["## Position sync", "", "| what | median | note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    sys.stdout.flush()
    os._exit(0)  # deltalake: skip interpreter teardown (see TOOLCHAIN exit-crash note)


if __name__ == "__main__":
    main()
