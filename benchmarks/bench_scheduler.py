"""Measure the scheduler's own cost per job, beyond papermill's kernel start.

A temp workspace holds one trivial job notebook. Interleaved, several times:
papermill alone on the notebook (in-process ``execute_notebook``), and a tick
that finds the job due and runs it (same papermill call plus the scheduler's
work: task table, due logic, lock, job_runs rows, archive, secret scrub). The
difference of the medians is the overhead (budget < 0.5 s). The bookkeeping is
also timed alone, with a no-op executor, since kernel starts are noisy; and the
every-minute cost of a tick with nothing due, in-process and as the
``tradelib tick`` process cron starts.

Usage: python benchmarks/bench_scheduler.py [--out PATH]
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
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import papermill

from tradelib.config import load_config
from tradelib.scheduler import Outcome, Runner, RunStatus

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, market open
REPEAT = 7
CONFIG = """\
storage: {lake_uri: data/lake, runs_dir: runs}
scheduler:
  tasks:
    sync: {every_minutes: 1, market_hours_only: true, timeout_minutes: 5}
    entry: {enabled: false}
    monitoring: {enabled: false}
    variance: {enabled: false}
    maintenance: {enabled: false}
"""


def notebook() -> dict[str, Any]:
    def cell(cid: str, source: str, tags: list[str] | None = None) -> dict[str, Any]:
        meta = {"tags": tags} if tags else {}
        return {
            "id": cid,
            "cell_type": "code",
            "metadata": meta,
            "source": source,
            "outputs": [],
            "execution_count": None,
        }

    return {
        "cells": [
            cell("p", 'config_path: str = ""\nrun_ts: str = ""', ["parameters"]),
            cell("a", "x = 1 + 1"),
            cell("b", "print(run_ts, x)"),
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def noop_executor(
    notebook: Path, output: Path, parameters: Mapping[str, Any], *, cwd: Path, timeout_s: float
) -> Outcome:
    output.write_text("{}")
    return Outcome(RunStatus.SUCCESS)


def median_s(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "config").mkdir()
        config = root / "config" / "trading_config.yaml"
        config.write_text(CONFIG)
        nb = root / "notebooks" / "sync.ipynb"
        nb.parent.mkdir()
        nb.write_text(json.dumps(notebook()))
        cfg = load_config(config)
        runner = Runner(cfg, root=root, config_path=config)
        params = {"config_path": str(config), "run_ts": T0.isoformat()}

        def papermill_alone() -> float:
            t = time.perf_counter()
            papermill.execute_notebook(
                str(nb), str(root / "alone.ipynb"), parameters=params, cwd=str(root),
                progress_bar=False,
            )  # fmt: skip
            return time.perf_counter() - t

        minute = iter(range(10_000))

        def tick_one_job() -> float:
            t = time.perf_counter()
            report = runner.tick(T0 + timedelta(minutes=next(minute)))
            took = time.perf_counter() - t
            assert [r.status for r in report.runs] == [RunStatus.SUCCESS], report.lines()
            return took

        papermill_alone()  # warm-up: kernelspec lookup, imports, lake tables created
        tick_one_job()
        alone, ticked = [], []
        for _ in range(REPEAT):  # interleaved, so load on the machine hits both alike
            alone.append(papermill_alone())
            ticked.append(tick_one_job())

        bookkeeping_runner = Runner(cfg, root=root, config_path=config, executor=noop_executor)
        bookkeeping = []
        for _ in range(REPEAT):
            t = time.perf_counter()
            bookkeeping_runner.tick(T0 + timedelta(minutes=next(minute)))
            bookkeeping.append(time.perf_counter() - t)

        idle = []
        for _ in range(REPEAT):
            t = time.perf_counter()
            report = runner.tick(T0 + timedelta(days=4))  # Saturday: nothing due
            idle.append(time.perf_counter() - t)
            assert not report.runs

        tradelib = Path(sys.executable).with_name("tradelib")
        cli = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(
                [str(tradelib), "tick", "--at", "2026-11-28T15:00:00Z"],
                cwd=root,
                check=True,
                capture_output=True,
            )
            cli.append(time.perf_counter() - t)

    overhead = median_s(ticked) - median_s(alone)
    rows = [
        ("papermill alone, trivial notebook (in-process)", f"{median_s(alone):.2f} s", ""),
        ("tick running that notebook as a due job", f"{median_s(ticked):.2f} s", ""),
        (
            "**scheduler overhead per job** (difference of medians)",
            f"**{overhead:.2f} s**",
            f"budget < 0.5 s: {'met' if overhead < 0.5 else 'MISSED'}",
        ),
        (
            "scheduler bookkeeping per job alone (no-op executor)",
            f"{median_s(bookkeeping) * 1e3:.0f} ms",
            "tasks + due + lock + 2 job_runs upserts + archive",
        ),
        ("tick with nothing due (in-process)", f"{median_s(idle) * 1e3:.0f} ms", ""),
        (
            "`tradelib tick` process with nothing due (what cron starts)",
            f"{median_s(cli):.2f} s",
            "python start + imports + tick",
        ),
    ]
    lines = [
        "## Scheduler",
        "",
        f"Median of {REPEAT} interleaved runs on a temp workspace and lake.",
        "",
        "| what | median | note |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    sys.stdout.flush()
    os._exit(0)  # deltalake: skip interpreter teardown (see TOOLCHAIN exit-crash note)


if __name__ == "__main__":
    raise SystemExit(main())
