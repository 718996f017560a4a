"""Benchmark futures collection and the futures-vs-spot analysis.

Measures, on a temp lake filled with 7 simulated trading days of 1-s bars
(ES/NQ/RTY ~587k bars each, SPY/QQQ/IWM ~164k each): the whole analysis of the
three pairs from the lake (read + as-of join + rolling correlation + lead/lag;
budget < 100 ms), its parts, the overnight signal, the collector's cost per
minute of bars (poll six symbols from SimBroker + one idempotent lake append),
and the demo's backfill. Prints a markdown section; ``--out PATH`` writes it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import ModuleType

import polars as pl

from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.demo.futures import run_futures_demo
from tradelib.domain import utc
from tradelib.futures.analysis import (
    FUTURE,
    SPOT,
    SPOT_RET,
    AnalysisParams,
    analyze_aligned,
)
from tradelib.futures.collector import CollectorSettings, FuturesCollector
from tradelib.lake import Lake
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.stores import futures as futures_data
from tradelib.stores.futures import current_signal, load_aligned, load_analyses

END_DAY = date(2026, 11, 24)
PAIRS = {"ES": "SPY", "NQ": "QQQ", "RTY": "IWM"}


def timed_ms(fn: Callable[[], object], repeat: int = 9) -> tuple[float, float]:
    """Median and best of ``repeat`` runs after a warm-up, in milliseconds."""
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(runs), min(runs)


def baseline_stores(ref: str) -> ModuleType:
    """``tradelib.stores.futures`` (with its analysis module) as of git ``ref``, side by side.

    For an interleaved before/after in one process: the two modules are read
    with ``git show`` into a temp folder and imported under other names.
    """
    root = Path(__file__).resolve().parents[1]

    def show(path: str) -> str:
        return subprocess.run(
            ["git", "show", f"{ref}:{path}"], cwd=root, check=True, capture_output=True, text=True
        ).stdout

    folder = Path(tempfile.mkdtemp(prefix="bench_futures_baseline_"))
    (folder / "baseline_futures_analysis.py").write_text(show("src/tradelib/futures/analysis.py"))
    stores = show("src/tradelib/stores/futures.py").replace(
        "from tradelib.futures.analysis import", "from baseline_futures_analysis import"
    )
    (folder / "baseline_stores_futures.py").write_text(stores)
    sys.path.insert(0, str(folder))
    return importlib.import_module("baseline_stores_futures")


def before_after(lake: Lake, cfg: TradingConfig, ref: str, rounds: int) -> list[str]:
    """The whole analysis at ``ref`` and now, alternating, ``rounds`` each: wall and CPU medians."""
    old = baseline_stores(ref)
    old_params = old.AnalysisParams.from_config(cfg.futures)
    params = AnalysisParams.from_config(cfg.futures)
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    loads = []
    for _ in range(rounds):
        for name, fn in (
            ("before", lambda: old.load_analyses(lake, PAIRS, old_params)),
            ("after", lambda: load_analyses(lake, PAIRS, params)),
        ):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            runs[name].append(((time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3))
        loads.append(os.getloadavg()[0])
    lines = []
    for name, values in runs.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        lines.append(
            f"{name}: {wall:.0f} ms wall (best {min(v[0] for v in values):.0f}), {cpu:.0f} ms CPU"
        )
    lines.append(
        f"{rounds} rounds each, alternating; load average {min(loads):.1f}-{max(loads):.1f}"
    )
    return lines


def polars_reference(aligned: dict[str, pl.DataFrame], params: AnalysisParams) -> None:
    """TOOLCHAIN's reference figure: a plain polars rolling correlation on the aligned frames."""
    for frame in aligned.values():
        frame.select(
            pl.rolling_corr(
                pl.col(FUTURE).log().diff(),
                pl.col(SPOT_RET),
                window_size=params.correlation_window_s,
            ).mean(),
            pl.col(SPOT).len(),
        )


def analysis_rows(lake: Lake, params: AnalysisParams) -> list[tuple[str, str, str]]:
    """The whole analysis from the lake, its parts, and the Delta-scan comparison."""
    rows: list[tuple[str, str, str]] = []
    med, best = timed_ms(lambda: load_analyses(lake, PAIRS, params))
    rows.append(
        (
            "futures analysis, 7 days x 3 pairs, from the lake "
            "(read + as-of join + rolling corr + lead/lag)",
            f"{med:.0f} ms (best {best:.0f})",
            "budget < 100 ms",
        )
    )
    # the same analysis through a plain Delta scan (what read_bars did before it read
    # the pruned partitions' Parquet files itself), interleaved so load hits both alike
    direct_files = futures_data._partition_files
    runs: dict[str, list[float]] = {"delta": [], "direct": []}
    for _ in range(9):
        for mode in ("delta", "direct"):
            futures_data._partition_files = direct_files if mode == "direct" else (lambda *_a: None)
            t0 = time.perf_counter()
            load_analyses(lake, PAIRS, params)
            runs[mode].append((time.perf_counter() - t0) * 1e3)
    futures_data._partition_files = direct_files
    rows.append(
        (
            "  same, interleaved: Delta scan vs direct Parquet read of the pruned partitions",
            f"{statistics.median(runs['delta']):.0f} ms vs {statistics.median(runs['direct']):.0f} ms",
            "read_bars uses the direct read on a local lake",
        )
    )
    med, best = timed_ms(lambda: load_aligned(lake, PAIRS, params))
    rows.append(("  of which: read + as-of join + returns, 3 pairs", f"{med:.0f} ms", ""))
    symbols = [*PAIRS, *PAIRS.values()]
    med, best = timed_ms(lambda: futures_data.read_closes(lake, symbols))
    rows.append(
        (
            "    of which: read ts + close of the 6 symbols (2.25M rows, in time order)",
            f"{med:.0f} ms",
            "files ordered by their first ts: no sort",
        )
    )
    aligned = load_aligned(lake, PAIRS, params)
    med, best = timed_ms(lambda: [analyze_aligned(frame, params) for frame in aligned.values()])
    rows.append(
        (
            "  of which: coverage + lead/lag (61 lags) + rolling corr, 3 pairs",
            f"{med:.0f} ms",
            "",
        )
    )
    med, _ = timed_ms(lambda: polars_reference(aligned, params))
    rows.append(
        (
            "  reference: plain polars rolling_corr, 3 pairs",
            f"{med:.0f} ms",
            "TOOLCHAIN: ~13 ms/pair",
        )
    )
    return rows


def collector_rows(tmp: Path) -> list[tuple[str, str, str]]:
    """The collector's cost per minute of bars: polling six symbols, one lake append."""
    rows: list[tuple[str, str, str]] = []
    # one minute of bars for 6 symbols per cycle, written as one commit
    market = SimulatedMarket(SimMarketConfig(seed=7, start=utc(2026, 11, 24, 15)))
    broker = SimBroker(market)
    settings = CollectorSettings(poll_interval_s=60.0, flush_interval_s=60.0, step_s=60.0)
    collector = FuturesCollector(broker, Lake(tmp / "collector"), settings)
    collector.start()
    polls: list[float] = []
    flushes: list[float] = []
    for _ in range(15):
        broker.wait(60)
        t0 = time.perf_counter()
        collector.poll()
        polls.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        written = collector.flush()
        flushes.append((time.perf_counter() - t0) * 1e3)
    rows.append(
        (
            f"collector, per minute of bars: poll 6 symbols from SimBroker ({written} bars)",
            f"{statistics.median(polls):.1f} ms",
            "",
        )
    )
    rows.append(
        (
            "collector, per minute of bars: one idempotent append (txn id)",
            f"{statistics.median(flushes):.0f} ms",
            "one commit per flush_interval_s (60 s)",
        )
    )
    collector.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--baseline", metavar="REF", help="also time the analysis at git REF, interleaved"
    )
    parser.add_argument("--rounds", type=int, default=31, help="rounds each for --baseline")
    args = parser.parse_args()
    cfg = TradingConfig()
    params = AnalysisParams.from_config(cfg.futures)
    rows: list[tuple[str, str, str]] = []

    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp) / "lake")
        t0 = time.perf_counter()
        filled = run_futures_demo(cfg, lake, end_day=END_DAY, progress=lambda _m: None)
        backfill_s = time.perf_counter() - t0
        bars = sum(filled.rows.values())
        if args.baseline:
            for line in before_after(lake, cfg, args.baseline, args.rounds):
                print(f"analysis at {args.baseline} vs now: {line}")

        rows += analysis_rows(lake, params)
        med, _ = timed_ms(lambda: [current_signal(lake, cfg, f) for f in PAIRS], repeat=5)
        rows.append(("overnight signal (current_signal), 3 futures", f"{med:.0f} ms", ""))
        rows.append(
            (
                f"demo backfill: 7 simulated days, {bars:,} bars into the lake",
                f"{backfill_s:.1f} s",
                "collect_simulated_days",
            )
        )

        rows += collector_rows(Path(tmp))

    load = os.getloadavg()
    lines = [
        "## Futures collection and analysis",
        "",
        f"Load average at the end of the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"on {os.cpu_count()} cores.",
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
    main()
