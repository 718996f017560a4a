"""Does the parallel IV + greeks kernel stay parallel when a small chain runs first?

Each serial/parallel kernel pair must have its own numba cache entry: when they
shared one, whichever compiled first was what both loaded afterwards, so a process
that priced a small (serial) chain first ran the 20,000-option chain serially.

With an empty numba cache dir, fresh processes each: price a 200-option chain
(serial kernel), then time `iv_and_greeks` on a 20,000-option chain (parallel
kernel). The first process compiles and fills the cache, the next ones load it.
For reference the same is timed with NUMBA_NUM_THREADS=1. Reported: the median
20k time per case and the speed-up of 2 threads over 1.

Usage: python benchmarks/bench_iv_cache.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROCESSES = 3
CHILD = r"""
import json, time
import numpy as np
from tradelib.pricing import bs_price, iv_and_greeks

def chain(n):
    rng = np.random.default_rng(7)
    spot = np.full(n, 500.0)
    strike = rng.uniform(350, 650, n)
    t = rng.uniform(7, 90, n) / 365.0
    vol = rng.uniform(0.12, 0.45, n)
    is_call = rng.random(n) < 0.5
    price = bs_price(spot, strike, t, vol, 0.04, 0.01, is_call)
    return price, spot, strike, t, is_call

small = chain(200)
iv_and_greeks(small[0], small[1], small[2], small[3], 0.04, 0.01, small[4])  # serial first
big = chain(20_000)
args = (big[0], big[1], big[2], big[3], 0.04, 0.01, big[4])
iv_and_greeks(*args)  # the parallel kernel's first call (compile or cache load)
runs = []
for _ in range(15):
    t0 = time.perf_counter()
    iv_and_greeks(*args)
    runs.append(time.perf_counter() - t0)
runs.sort()
print(json.dumps({"median_ms": runs[len(runs) // 2] * 1e3}))
"""


def run_child(cache_dir: str, threads: int | None) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["median_ms"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for threads in (None, 1):
        with tempfile.TemporaryDirectory() as cache:
            times = [run_child(cache, threads) for _ in range(PROCESSES)]
        rows.append((threads, times))
    (_, two), (_, one) = rows
    cached_two, cached_one = statistics.median(two[1:]), statistics.median(one[1:])
    lines = [
        "## IV solver: parallel kernel after a small chain (numba cache identity)",
        "",
        f"{PROCESSES} fresh processes per case, each pricing a 200-option chain first, "
        "then timing IV + greeks on 20,000 options (median of 15). Process 1 compiles "
        "into an empty cache, the others load it.",
        "",
        "| threads | process 1 (compiles) | processes 2.. (cache) |",
        "|---|---|---|",
        f"| {os.cpu_count()} (default) | {two[0]:.2f} ms | {cached_two:.2f} ms |",
        f"| 1 (NUMBA_NUM_THREADS=1) | {one[0]:.2f} ms | {cached_one:.2f} ms |",
        "",
        f"Speed-up of the default threads over 1, cached: {cached_one / cached_two:.2f}x.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
