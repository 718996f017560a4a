"""Measure the lake's write and read costs on a temporary local lake.

Usage: python benchmarks/bench_lake.py [--out PATH]
Prints a markdown section; with --out also writes it to PATH.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from tradelib.lake import Lake

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def option_frame(rows: int, start: int = 0, bid: float = 1.0) -> pl.DataFrame:
    """Return ``rows`` option snapshots of one underlying on one day, one per microsecond."""
    n = np.arange(start, start + rows)
    return pl.DataFrame(
        {
            "ts": [T0 + timedelta(microseconds=int(i)) for i in n],
            "underlying": "SPY",
            "expiry": date(2024, 4, 19),
            "strike": 400.0 + (n % 200),
            "right": np.where(n % 2 == 0, "P", "C"),
            "bid": bid + (n % 7) * 0.01,
            "ask": bid + 0.05 + (n % 7) * 0.01,
            "iv": 0.18,
            "delta": -0.16,
        }
    )


def timed_ms(action: Callable[[], object], repeat: int = 1) -> float:
    """Return the median wall time of ``action`` in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run(root: Path) -> list[tuple[str, str]]:
    lake = Lake(root)
    results: list[tuple[str, str]] = []

    lake.append("option_snapshots", option_frame(1))  # create the table outside the timing
    counter = iter(range(1, 10_000))
    one_row = timed_ms(
        lambda: lake.append("option_snapshots", option_frame(1, start=next(counter))), repeat=20
    )
    results.append(("append 1 row (median of 20)", f"{one_row:.1f} ms"))
    batch = option_frame(10_000, start=100_000)
    results.append(
        ("append 10,000 rows", f"{timed_ms(lambda: lake.append('option_snapshots', batch)):.1f} ms")
    )

    big = Lake(root / "big")
    big.append("option_snapshots", option_frame(100_000))
    updates = pl.concat(
        [option_frame(500, start=1_000, bid=2.0), option_frame(500, start=200_000)]
    )  # 500 matching keys, 500 new
    merge_ms = timed_ms(lambda: big.upsert("option_snapshots", updates))
    results.append(
        ("upsert 1,000 rows (500 update, 500 insert) into 100,000", f"{merge_ms:.1f} ms")
    )
    full_read = timed_ms(lambda: big.read("option_snapshots").collect(), repeat=5)
    results.append(("full read of 100,500 rows via polars (median of 5)", f"{full_read:.1f} ms"))

    small = Lake(root / "small")
    for i in range(200):
        small.append(
            "job_runs", [{"run_id": f"r{i}", "job": "sync", "started_at": T0, "status": "ok"}]
        )
    before = timed_ms(lambda: small.read("job_runs").collect(), repeat=5)
    files_before = small.info("job_runs").files
    small.maintain(retention_hours=0)
    after = timed_ms(lambda: small.read("job_runs").collect(), repeat=5)
    files_after = small.info("job_runs").files
    results.append((f"read after 200 one-row appends ({files_before} files)", f"{before:.1f} ms"))
    results.append(
        (f"same read after compact + checkpoint + vacuum ({files_after} file)", f"{after:.1f} ms")
    )
    return results


def render(results: list[tuple[str, str]]) -> str:
    lines = [
        "## Lake (Delta Lake, local disk)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        "`benchmarks/bench_lake.py`.",
        "",
        "| what | time |",
        "|---|---|",
        *[f"| {what} | {value} |" for what, value in results],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="also write the markdown section here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_lake_") as tmp:
        section = render(run(Path(tmp)))
    print(section)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(section)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # deltalake/arrow threads can abort a normal interpreter exit (TOOLCHAIN)


if __name__ == "__main__":
    main()
