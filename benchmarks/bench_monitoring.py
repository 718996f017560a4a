"""Benchmark the monitoring job: one cycle over 50 open strategies on SimBroker.

Sets up 50 put credit spreads (SPY, QQQ, IWM, ~35 DTE) filled on the simulated
market and recorded in a temp lake's ``strategies`` table, then measures:

* ``run_monitoring_job`` end to end: open the persisted simulated account,
  load the book, snapshot every leg, regime, states, rules, store decisions and
  slot use, save the account (what one scheduled run costs beyond papermill);
* one cycle of a fresh ``MonitoringWorkflow`` (as in a job process: every leg
  snapshotted) and of a long-lived one (legs stream, snapshots only when due);
* the pure part of that cycle for reference: 50 ``build_strategy_state`` + one
  ``DecisionEngine.evaluate_all``.

No rule fires on the fresh positions, so no order is sent: the figures are the
monitoring overhead, not execution. Prints a markdown section; ``--out PATH``
writes it.

Usage: .venv/bin/python benchmarks/bench_monitoring.py [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import save_sim_broker
from tradelib.config import TradingConfig
from tradelib.domain import (
    Contract,
    Leg,
    MarketRegime,
    OrderIntent,
    OrderPurpose,
    Right,
    StrategyType,
    make_order_ref,
    net_prices,
    utc,
)
from tradelib.jobs.context import run_once
from tradelib.jobs.monitoring import MonitoringWorkflow, run_monitoring
from tradelib.lake import Lake
from tradelib.rules import DecisionEngine, MarketState, build_strategy_state
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.stores.sync import SyncStore
from tradelib.sync.model import HeldLeg, StrategyRecord

START = utc(2026, 11, 24, 15)
N_STRATEGIES = 50
UNDERLYINGS = ("SPY", "QQQ", "IWM")
WIDTH = 5.0


def median_ms(
    fn: Callable[[], object], repeat: int = 7, before: Callable[[], object] | None = None
) -> float:
    """Median of ``repeat`` timed calls of ``fn`` (after a warm-up); ``before`` runs untimed."""
    runs = []
    for i in range(repeat + 1):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        if i:  # the first call is the warm-up
            runs.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(runs)


def open_book(broker: SimBroker, lake: Lake) -> None:
    """Fill 50 put credit spreads and record them as open strategies."""
    today = broker.now().date()
    ladders = {}  # underlying -> (expiry, strikes below spot, highest first), fixed up front
    for u in UNDERLYINGS:
        info = broker.option_chain(u)
        expiry = min(info.expiries, key=lambda e: abs((e - today).days - 35))
        (spot,) = broker.snapshot([Contract.stock(u)])
        # One strike per printed value: the listing may carry float noise around a strike.
        listed = {f"{k:g}": k for k in info.strikes_for(expiry) if k <= spot.mark * 0.97}
        ladders[u] = (expiry, sorted(listed.values(), reverse=True))
    records = []
    for n in range(N_STRATEGIES):
        u = UNDERLYINGS[n % len(UNDERLYINGS)]
        expiry, strikes = ladders[u]
        short = strikes[n // len(UNDERLYINGS)]
        long = max(k for k in strikes if k <= short - WIDTH)
        legs = (
            Leg(Contract.option(u, expiry, short, Right.PUT), -1),
            Leg(Contract.option(u, expiry, long, Right.PUT), 1),
        )
        quotes = {q.contract.key: q for q in broker.snapshot([leg.contract for leg in legs])}
        _, natural, _ = net_prices(legs, quotes)
        sid = f"bench-{u}-{short:g}-{long:g}"
        ref = make_order_ref(sid, OrderPurpose.OPEN)
        broker.place_order(
            OrderIntent(
                ref, sid, OrderPurpose.OPEN, legs, 1, round(natural + 0.05, 2), broker.now()
            )
        )
        broker.wait(2)
        fills = [f for f in broker.executions() if f.order_ref == ref]
        assert fills, f"{sid} did not fill"
        credit = -sum(f.quantity * f.price for f in fills)
        records.append(
            StrategyRecord(
                sid,
                StrategyType.PUT_CREDIT_SPREAD,
                u,
                tuple(HeldLeg(f.contract, f.quantity) for f in fills),
                fills[0].ts,
                broker.now(),
                credit=credit,
            )
        )
    SyncStore(lake).save_strategies(records)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = TradingConfig().with_overrides(
            {
                "storage.lake_uri": str(root / "lake"),
                "simulation.state_path": str(root / "sim.pkl"),
            }
        )
        lake = Lake(root / "lake")
        broker = SimBroker(SimulatedMarket(SimMarketConfig(seed=7, start=START)))
        broker.connect()
        open_book(broker, lake)
        broker.wait(60)
        save_sim_broker(broker, root / "sim.pkl")

        def job() -> None:
            report = run_once(run_monitoring, cfg, advance_to=broker_time[0])
            assert len(report.decisions) == N_STRATEGIES and not report.actions, report.lines()
            broker_time[0] += timedelta(seconds=30)

        broker_time = [broker.now() + timedelta(seconds=30)]
        rows.append(
            (
                f"run_monitoring_job, {N_STRATEGIES} strategies (open sim account, cycle, save)",
                f"{median_ms(job):.0f} ms",
                "no fills; every leg snapshotted",
            )
        )

        def later() -> None:
            broker.wait(30)  # the market moves on between cycles (not timed)

        def fresh_cycle() -> None:
            workflow = MonitoringWorkflow.from_config(cfg, broker, lake)
            report = workflow.run_cycle()
            workflow.close()
            assert len(report.decisions) == N_STRATEGIES and not report.actions

        rows.append(
            (
                f"MonitoringWorkflow.run_cycle, {N_STRATEGIES} strategies, fresh workflow",
                f"{median_ms(fresh_cycle, before=later):.0f} ms",
                "load, quotes, regime, states, rules, persist",
            )
        )

        steady = MonitoringWorkflow.from_config(cfg, broker, lake)

        def steady_cycle() -> None:
            steady.run_cycle()

        rows.append(
            (
                f"MonitoringWorkflow.run_cycle, {N_STRATEGIES} strategies, long-lived workflow",
                f"{median_ms(steady_cycle, before=later):.0f} ms",
                "legs stream; snapshots when due",
            )
        )

        strategies = [r.to_strategy() for r in SyncStore(lake).open_strategies()]
        contracts = [leg.contract for s in strategies for leg in s.legs]
        spots = {
            q.contract.symbol: q.mark
            for q in broker.snapshot([Contract.stock(u) for u in UNDERLYINGS])
        }
        quotes = {q.contract.key: q for q in broker.snapshot(contracts)}
        now = broker.now()
        engine = DecisionEngine.from_config(cfg)
        market = MarketState(now, MarketRegime.NORMAL, 16.0, spots)

        def pure() -> None:
            states = [
                build_strategy_state(s, quotes, spots[s.underlying], now, entry_iv=0.2)
                for s in strategies
            ]
            engine.evaluate_all(states, market, now)

        rows.append(
            (
                f"of which pure: {N_STRATEGIES} states + rules engine",
                f"{median_ms(pure, repeat=31):.2f} ms",
                "the engine over 1,000 strategies: see bench_rules",
            )
        )
        steady.close()

    lines = ["## Monitoring job", "", "| what | median | note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    sys.stdout.flush()
    os._exit(0)  # deltalake: skip interpreter teardown (see TOOLCHAIN exit-crash note)


if __name__ == "__main__":
    main()
