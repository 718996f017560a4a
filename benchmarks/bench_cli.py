"""Measure `tradelib --help`: wall time and peak memory of the whole process.

Budget (SPEC.md): < 0.3 s. The root help lists the commands from a static table;
no command module (nor pydantic, polars, pyarrow) is imported for it. Also times
`python -c "import tradelib.cli"` and, for contrast, importing every command
module (what --help cost when the root imported them all).

Usage: python benchmarks/bench_cli.py [--out PATH]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPEAT = 9
BUDGET_S = 0.3
TRADELIB = Path(sys.executable).with_name("tradelib")
ALL_MODULES = (
    "import importlib, tradelib.cli as c; "
    "[importlib.import_module('tradelib.cli.' + e.module) for e in c.COMMANDS.values()]"
)


def run(argv: list[str]) -> tuple[float, float]:
    """Return (wall seconds, peak RSS MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    took = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all of them: report it only when it grew
    return took, max(peak, before) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cases = {
        "`tradelib --help`": [str(TRADELIB), "--help"],
        "`import tradelib.cli`": [sys.executable, "-c", "import tradelib.cli"],
        "import every command module (the old start-up)": [sys.executable, "-c", ALL_MODULES],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    peaks: dict[str, float] = {}
    for _ in range(REPEAT):  # interleaved, so load changes hit every case alike
        for name, argv in cases.items():
            took, peak = run(argv)
            times[name].append(took)
            peaks.setdefault(name, peak)
    help_s = statistics.median(times["`tradelib --help`"])
    lines = [
        "## CLI start-up",
        "",
        f"Median of {REPEAT} interleaved process runs. Budget: `tradelib --help` < "
        f"{BUDGET_S} s: {'met' if help_s < BUDGET_S else 'NOT met'} ({help_s:.2f} s).",
        "",
        "| what | median | min | peak RSS (first run) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {statistics.median(t):.2f} s | {min(t):.2f} s | {peaks[name]:.0f} MiB |"
        for name, t in times.items()
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
