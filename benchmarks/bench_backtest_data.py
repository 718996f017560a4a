"""Benchmark the backtest data layer (tradelib.backtest).

Measures: importing 5 years of end-of-day chains of one index (~3.8M quotes,
synthetic, written as Parquet and CSV) in a fresh process (wall time and
peak memory above the interpreter's baseline), the chain-per-day lookup of a
RecordedChainSource (every expiry of a day, IV and greeks given, and solved
when the file has none), and a HistoricalSource's modelled quotes for one day
of SPY/QQQ/IWM (every listed expiry, 5 times a day). ``--out PATH`` writes
the markdown section.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from tradelib.backtest import HistoricalSource, RecordedChainSource, load_chains
from tradelib.backtest.listing import listed_expiries
from tradelib.markethours import MarketHours
from tradelib.pricing import bs_greeks
from tradelib.sim.surface import option_book

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "backtest" / "data"
FIRST, LAST = date(2019, 1, 2), date(2023, 12, 29)
STRIKES_PER_EXPIRY = 117

# ru_maxrss survives exec (it would carry this process's peak): read the fresh process's VmHWM.
LOADER = """
import json, sys, time
from tradelib.backtest import load_chains
def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
base = kib("VmHWM")
t0, c0 = time.perf_counter(), time.process_time()
store = load_chains(sys.argv[1])
took, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = kib("VmHWM")
print(json.dumps({"s": took, "cpu": cpu, "rows": len(store), "peak_mib": (peak - base) / 1024,
                  "held_mib": store.nbytes / 2**20, "rss_mib": peak / 1024}))
"""


def synthetic_chains(path_pq: Path, path_csv: Path) -> int:
    hours = MarketHours()
    days = hours.trading_days(FIRST, LAST)
    rng = np.random.default_rng(5)
    spot = 250.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.011, len(days))))
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("q", "e", "k", "c", "s", "t")}
    for d, s in zip(days, spot, strict=True):
        exp = listed_expiries(d, (4,), hours)[:13]
        step = max(1.0, round(s * 0.004))
        grid = np.round(s / step) * step + step * (np.arange(STRIKES_PER_EXPIRY) - 75)
        for e in exp:
            n = grid.size * 2
            cols["q"].append(np.full(n, (d - date(1970, 1, 1)).days))
            cols["e"].append(np.full(n, (e - date(1970, 1, 1)).days))
            cols["k"].append(np.repeat(grid, 2))
            cols["c"].append(np.tile([True, False], grid.size))
            cols["s"].append(np.full(n, s))
            cols["t"].append(np.full(n, max((e - d).days, 0.25) / 365.0))
    a = {k: np.concatenate(v) for k, v in cols.items()}
    z = np.log(a["k"] / a["s"]) / np.sqrt(a["t"])
    iv = np.clip(0.17 + np.where(z < 0, -0.3 * z, -0.1 * z) + 0.1 * z**2, 0.08, 1.5)
    g = bs_greeks(a["s"], a["k"], a["t"], iv, 0.03, 0.013, a["c"])
    bid, ask, _, _ = option_book(g.price, z / 0.17, 1.0)
    df = pl.DataFrame(
        {
            "underlying": "SPY",
            "quote_date": pl.Series(a["q"].astype(np.int32)).cast(pl.Date),
            "expiry": pl.Series(a["e"].astype(np.int32)).cast(pl.Date),
            "strike": a["k"],
            "right": np.where(a["c"], "C", "P"),
            "bid": bid,
            "ask": ask,
            "iv": np.round(iv, 5),
            "delta": np.round(g.delta, 5),
            "gamma": np.round(g.gamma, 6),
            "vega": np.round(g.vega, 5),
            "theta": np.round(g.theta, 5),
            "volume": rng.integers(0, 5000, a["k"].size),
            "open_interest": rng.integers(0, 50000, a["k"].size),
            "underlying_price": np.round(a["s"], 2),
        }
    )
    df.write_parquet(path_pq)
    df.write_csv(path_csv)
    return df.height


def load_in_fresh_process(path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", LOADER, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def best_of(n: int, fn: object) -> list[float]:
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        runs.append(time.perf_counter() - t0)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lines = ["## Backtest data (tradelib.backtest)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        pq, csv = Path(tmp) / "chains.parquet", Path(tmp) / "chains.csv"
        t0 = time.perf_counter()
        n = synthetic_chains(pq, csv)
        gen = time.perf_counter() - t0
        mib_pq, mib_csv = pq.stat().st_size / 2**20, csv.stat().st_size / 2**20
        loads = {
            fmt: [load_in_fresh_process(p) for _ in range(3)]
            for fmt, p in (("parquet", pq), ("csv", csv))
        }
        store = load_chains(pq)
        src = RecordedChainSource(store)
        days = src.trading_days()
        sample = days[:: max(1, len(days) // 100)]

        def one_day(d: date) -> int:
            src.advance_to(src.quote_time(d))
            return sum(len(src.option_chain("SPY", e)) for e in src.expiries("SPY"))

        per_day = []
        quotes = 0
        for d in sample:
            t0 = time.perf_counter()
            quotes += one_day(d)
            per_day.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        for d in days:
            store.day_rows("SPY", d)
        index_us = (time.perf_counter() - t0) / len(days) * 1e6
        bare = load_chains(pq)
        for name in ("iv", "delta", "gamma", "vega", "theta"):
            bare.columns[name] = np.full(len(bare), np.nan)
        src2 = RecordedChainSource(bare)
        solved = []
        for d in sample[:30]:
            src2.advance_to(src2.quote_time(d))
            t0 = time.perf_counter()
            for e in src2.expiries("SPY"):
                src2.option_chain("SPY", e)
            solved.append((time.perf_counter() - t0) * 1e3)

    hist = HistoricalSource.from_dir(FIXTURES)
    warm = date(2022, 6, 14)  # numba kernels and caches warm up on another day
    hist.advance_to(hist.quote_time(warm) + timedelta(hours=1))
    for s in hist.underlyings:
        for e in hist.expiries(s):
            hist.option_chain(s, e)
    day = date(2022, 6, 15)
    hist.advance_to(hist.quote_time(day))
    hist_ms, hist_cpu, hist_quotes = [], [], 0
    for k in range(5):
        hist.advance_to(hist.quote_time(day) + timedelta(minutes=5 + 75 * k))
        t0, c0 = time.perf_counter(), time.process_time()
        hist_quotes = 0
        for s in hist.underlyings:
            for e in hist.expiries(s):
                hist_quotes += len(hist.option_chain(s, e))
        hist_ms.append((time.perf_counter() - t0) * 1e3)
        hist_cpu.append((time.process_time() - c0) * 1e3)

    def fmt(runs: list[dict[str, float]], key: str) -> str:
        vals = sorted(r[key] for r in runs)
        return f"{statistics.median(vals):.2f}"

    lines += [
        f"Synthetic end-of-day chains of one index, {FIRST}..{LAST}: {n:,} quotes, "
        f"{len(days):,} days ({n / len(days):,.0f} quotes/day), all optional columns; "
        f"Parquet {mib_pq:.0f} MiB, CSV {mib_csv:.0f} MiB (generated in {gen:.1f} s).",
        "",
        "| what | median | notes |",
        "|---|---|---|",
    ]
    for fmt_name, runs in loads.items():
        lines.append(
            f"| `load_chains` {fmt_name}, fresh process | {fmt(runs, 's')} s | CPU {fmt(runs, 'cpu')} s; "
            f"peak RSS +{fmt(runs, 'peak_mib')} MiB over the interpreter "
            f"({fmt(runs, 'rss_mib')} MiB total); arrays held {fmt(runs, 'held_mib')} MiB |"
        )
    lines += [
        f"| day index lookup (`ChainStore.day_rows`) | {index_us:.1f} µs | per day, all {len(days)} days |",
        f"| recorded chain per day, every expiry, IV/greeks given | {statistics.median(per_day):.2f} ms | "
        f"{len(sample)} days sampled, {quotes / len(sample):,.0f} quotes/day, first build (not cached) |",
        f"| recorded chain per day, IV/greeks solved from mid | {statistics.median(solved):.2f} ms | {len(solved)} days |",
        f"| historical source, one moment of a day, SPY+QQQ+IWM every listed expiry | {statistics.median(hist_ms):.1f} ms | "
        f"{hist_quotes:,} modelled quotes; 5 moments of {day}, median; CPU {statistics.median(hist_cpu):.1f} ms |",
        f"| historical source, one day at 5 cycles | {sum(hist_ms):.0f} ms | sum of the 5 moments |",
        "",
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(wall times stretch when other work shares the machine; CPU times less so).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
