"""Run every benchmark script and collect their markdown sections into one report.

Usage: python benchmarks/run_all.py --out docs/benchmarks.md
Each script runs in its own process (so one crashing or leaking cannot skew
another) and writes its section with ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Every bench_*.py here, pricing first (it is the headline budget).
SCRIPTS = sorted(p.name for p in HERE.glob("bench_*.py"))
SCRIPTS.sort(key=lambda name: name != "bench_pricing.py")


def machine_line() -> str:
    return (
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--only", nargs="*", help="run only these scripts")
    args = parser.parse_args()
    sections: list[str] = []
    failed: list[str] = []
    for name in args.only or SCRIPTS:
        script = HERE / name
        if not script.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "section.md"
            t0 = time.perf_counter()
            print(f"== {name}", flush=True)
            proc = subprocess.run([sys.executable, str(script), "--out", str(out)], check=False)
            took = time.perf_counter() - t0
            if proc.returncode != 0 or not out.exists():
                failed.append(name)
                sections.append(f"## {name}\n\nFAILED (exit {proc.returncode}) after {took:.1f}s\n")
            else:
                sections.append(out.read_text().rstrip() + "\n")
    header = (
        "# Benchmarks\n\n"
        "Written by `make bench` (`benchmarks/run_all.py`); not hand-edited. "
        "Budgets come from SPEC.md.\n\n"
        f"Machine: {machine_line()}\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + "\n" + "\n".join(sections))
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
