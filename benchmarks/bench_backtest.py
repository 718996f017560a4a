"""Benchmark the backtest engine: simulated trading days per second, and where the time goes.

Runs ``run_backtest`` over ``--days`` simulated days (SPY/QQQ/IWM full chains, 5
monitoring cycles a day, the book invariants every day) and over the committed
historical fixtures, with CPU time, wall time and peak memory; then profiles a
shorter run and lists the functions that take the most time. The SPEC budget
is one simulated year in under 30 s. ``--out PATH`` writes the markdown section.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import time
from datetime import date
from pathlib import Path

from tradelib.backtest.run import run_backtest
from tradelib.config import TradingConfig

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "tests" / "backtest" / "data"
END = date(2026, 11, 27)


def timed(**kwargs: object) -> tuple[float, float, int]:
    """(wall s, CPU s, days) of one backtest."""
    w, c = time.perf_counter(), time.process_time()
    result = run_backtest(TradingConfig(), **kwargs)  # type: ignore[arg-type]
    return time.perf_counter() - w, time.process_time() - c, len(result.days)


def hot_spots(days: int, top: int = 10) -> str:
    # CPU time, not wall: on a shared, loaded machine wall time mostly measures the neighbours.
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    run_backtest(TradingConfig(), days=days, end=END, seed=3)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    # Rows start with the call count; keep built-ins too (polars' collect is one of the top).
    lines = [
        ln
        for ln in out.getvalue().splitlines()
        if ln.strip()[:1].isdigit() and "function calls" not in ln
    ]
    return "\n".join(lines[:top])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--days", type=int, default=63)
    args = parser.parse_args()
    run_backtest(TradingConfig(), days=1, end=END)  # imports, numba caches, calendars
    wall, cpu, days = timed(days=args.days, end=END)
    h_wall, h_cpu, h_days = timed(history=HISTORY, start=date(2023, 10, 2))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    year_s = cpu / days * 252
    verdict = "met" if year_s < 30 else "not met"
    section = f"""## Backtest engine (`bench_backtest.py`)

The real jobs day by day in memory, SPY/QQQ/IWM full chains, 5 monitoring cycles a day,
book invariants checked every day. Budget: one simulated year < 30 s.

| run | days | wall | CPU | days/s (CPU) |
|---|---|---|---|---|
| simulated market | {days} | {wall:.1f} s | {cpu:.1f} s | {days / cpu:.2f} |
| historical fixtures (modelled quotes) | {h_days} | {h_wall:.1f} s | {h_cpu:.1f} s | {h_days / h_cpu:.2f} |

One simulated year at this rate: about {year_s:.0f} s of CPU (budget 30 s: **{verdict}**).
Peak memory of the process: {peak_mib:.0f} MiB.

Where a 10-day run spends its time (self time, top functions):

```
{hot_spots(10)}
```
"""
    if args.out:
        args.out.write_text(section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
