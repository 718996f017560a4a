"""Benchmark a backtest sweep: a 2-worker dask LocalCluster against one process, serially.

A 64-point grid (4 take-profit targets x 4 short-leg deltas x 4 seeds) on the
simulated market, ``--days`` trading days per point. SPEC's budget is 64
ONE-YEAR backtests with a speed-up >= 1.7x; a simulated year costs minutes of CPU
today, so the points here are short runs (5 days by default) and the figures say
so. Both runs write to their own lake through ``run_sweep`` (batched writes
included); the LocalCluster run includes starting the cluster. Scheduler overhead
per task is measured apart, with 64 empty tasks on the same kind of cluster.
``--out PATH`` writes the markdown section.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from tradelib.config import TradingConfig
from tradelib.lake import Lake, TableName
from tradelib.sweep import build_grid, run_sweep

END = date(2026, 11, 25)


def grid_data(days: int, points: int) -> dict[str, object]:
    """A 4 x 4 x seeds grid of ``points`` points (a multiple of 16); 2 x 2 or 2 x 1 for 4 or 2."""
    targets, deltas = {2: (2, 1), 4: (2, 2)}.get(points, (4, 4))
    if points not in (2, 4) and points % 16:
        raise SystemExit(f"--points {points}: 2, 4, or a multiple of 16")
    return {
        "grid": {
            "profit_targets.fixed": [0.4, 0.5, 0.6, 0.7][:targets],
            "strategies.target_delta": [0.12, 0.16, 0.2, 0.25][:deltas],
        },
        "seeds": list(range(1, max(1, points // (targets * deltas)) + 1)),
        "markets": [{"source": "sim", "days": days, "end": END.isoformat()}],
    }


def empty_task(x: int) -> int:
    return x


def scheduler_overhead(tasks: int = 64) -> tuple[float, float]:
    """(cluster start s, wall per empty task in ms) on a 2-worker LocalCluster."""
    from distributed import Client, LocalCluster, as_completed

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    start_s = time.perf_counter() - t0
    try:
        client.gather(client.map(empty_task, range(8), pure=False))  # warm the connections
        per: list[float] = []
        for _ in range(3):
            t = time.perf_counter()
            futures = [client.submit(empty_task, i, pure=False) for i in range(tasks)]
            for f in as_completed(futures):
                f.result()
            per.append((time.perf_counter() - t) / tasks * 1000)
    finally:
        client.close()
        cluster.close()
    return start_s, statistics.median(per)


def timed_sweep(days: int, points: int, workers: int, folder: Path) -> tuple[float, list[float]]:
    """(wall s, per-point backtest wall s) of the sweep into a fresh lake under ``folder``."""
    grid = build_grid(grid_data(days, points), base=TradingConfig(), sweep_id=f"bench-w{workers}")
    lake = Lake(folder / f"lake-w{workers}")
    t = time.perf_counter()
    result = run_sweep(grid, lake=lake, workers=workers, batch=16)
    wall = time.perf_counter() - t
    if not result.complete:
        raise SystemExit(f"sweep incomplete: {result.lines()}")
    runs = lake.read(TableName.BACKTEST_RUNS, columns=["wall_s"]).collect()
    return wall, runs["wall_s"].to_list()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--days", type=int, default=5, help="trading days per point")
    parser.add_argument("--points", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start_s, per_task_ms = scheduler_overhead()
        print(
            f"LocalCluster start {start_s:.2f} s; {per_task_ms:.2f} ms per empty task", flush=True
        )
        par_wall, par_points = timed_sweep(args.days, args.points, 2, folder)
        print(f"2-worker LocalCluster: {par_wall:.1f} s", flush=True)
        ser_wall, ser_points = timed_sweep(args.days, args.points, 0, folder)
        print(f"serial, one process:   {ser_wall:.1f} s", flush=True)
    speedup = ser_wall / par_wall
    # what the parallel run cost beyond its share of the points' own compute, per point
    overhead_ms = (par_wall - sum(par_points) / 2) / args.points * 1000
    load = os.getloadavg()
    rows = [
        ("points x trading days each", f"{args.points} x {args.days}"),
        ("serial, one process (wall)", f"{ser_wall:.1f} s"),
        ("2-worker LocalCluster (wall, incl. cluster start)", f"{par_wall:.1f} s"),
        ("speed-up", f"{speedup:.2f}x"),
        (
            "one point's backtest, median (serial / on a worker)",
            f"{statistics.median(ser_points):.2f} s / {statistics.median(par_points):.2f} s",
        ),
        ("LocalCluster start (2 processes)", f"{start_s:.2f} s"),
        ("scheduler round trip per empty task", f"{per_task_ms:.2f} ms"),
        ("sweep overhead per point beyond its compute / 2", f"{overhead_ms:.0f} ms"),
        ("load average at the end (1/5/15 min)", " / ".join(f"{x:.1f}" for x in load)),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    section = (
        "## Backtest sweep on dask (bench_sweep.py)\n\n"
        f"{args.points} points (take-profit targets x short-leg deltas x seeds), simulated "
        f"market, **{args.days} trading days per point**. Budget (SPEC): speed-up >= 1.7x on "
        "64 one-year backtests; short points weigh the fixed costs (cluster start, worker "
        "imports, writes) more.\n\n"
        "| what | figure |\n|---|---|\n" + table + "\n"
    )
    print(section)
    if args.out:
        args.out.write_text(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
