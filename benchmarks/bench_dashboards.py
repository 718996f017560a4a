"""Benchmark the monitoring dashboard's lake queries on a month of demo data.

Builds 20 simulated trading days with the demo (account, positions, chains)
plus what the other jobs would write over that month (decisions every 5
minutes, one append per monitoring run as the real job does; job runs,
orders, market-data line use and predictions one append per day). Measures the median of each panel
query and of a full forced refresh, first on the lake as written (many small
files), then after maintenance (compact + checkpoint). Last, the peak memory
(VmHWM) of a Jupyter kernel that executes dashboards/monitoring.ipynb against
that lake. Prints a markdown section; ``--out PATH`` writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from tradelib.config import TradingConfig
from tradelib.dashboards.common import LAKE_ENV
from tradelib.dashboards.monitoring import (
    QUERIES,
    MonitoringDashboard,
    open_strategies,
    risk_limit_use,
)
from tradelib.demo.day import run_demo
from tradelib.demo.lakes import recent_trading_days
from tradelib.domain import Decision, DecisionAction, Urgency
from tradelib.lake import TABLES, Lake, TableName
from tradelib.markethours import MarketHours
from tradelib.rules import decision_id
from tradelib.stores.decisions import decision_rows

ROOT = Path(__file__).resolve().parents[1]
END = date(2026, 11, 24)
DAYS = 20
BUDGET_MS = 50.0


def median_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(runs)


def _every(start: datetime, end: datetime, minutes: int) -> list[datetime]:
    out, ts = [], start
    while ts < end:
        out.append(ts)
        ts += timedelta(minutes=minutes)
    return out


def build_month(root: Path, cfg: TradingConfig) -> Lake:
    """20 demo days, plus a month of the other jobs' rows, written run by run."""
    lake = Lake(root)
    hours = MarketHours(cfg.scheduler.calendar)
    for day in recent_trading_days(cfg, DAYS, END):
        run_demo(cfg, lake=lake, day=day, progress=lambda _m: None)
        open_, close = hours.session_bounds(day)
        positions = lake.read(TableName.POSITIONS, filter=pl.col("date") == day).collect()
        legs = positions.filter(pl.col("snapshot_ts") == pl.col("snapshot_ts").max())
        sids = {u: f"demo-{u}-pcs-{day:%Y%m%d}" for u in cfg.strategies.underlyings}
        lake.append(
            TableName.STRATEGIES,
            [
                {
                    "strategy_id": sid,
                    "strategy_type": "put_credit_spread",
                    "underlying": u,
                    "status": "open" if day == END else "closed",
                    "opened_at": open_,
                    "closed_at": None if day == END else close,
                    "legs_json": json.dumps(
                        [
                            {
                                "symbol": u,
                                "expiry": str(r["expiry"]),
                                "strike": r["strike"],
                                "right": r["right"],
                                "con_id": r["con_id"],
                                "quantity": r["quantity"],
                            }
                            for r in legs.filter(pl.col("underlying") == u).iter_rows(named=True)
                        ]
                    ),
                    "quantity": 1.0,
                    "credit": 0.4,
                    "max_profit": 40.0,
                    "max_loss": 460.0,
                    "inferred": False,
                    "updated_at": close,
                }
                for u, sid in sids.items()
            ],
        )
        for ts in _every(open_, close, 5):  # the monitoring job: one write per run
            lake.append(
                TableName.DECISIONS,
                decision_rows(
                    Decision(
                        decision_id(sid, ts, "hold"),
                        sid,
                        ts,
                        "hold",
                        9.0,
                        DecisionAction.HOLD,
                        Urgency.LOW,
                        "hold: nothing fired",
                        {"regime": "normal", "vix": 16.0},
                    )
                    for sid in sids.values()
                ),
            )
        runs = [
            {
                "run_id": f"{job}-{ts:%Y%m%d%H%M}",
                "job": job,
                "started_at": ts,
                "finished_at": ts + timedelta(seconds=2),
                "status": "ok",
                "duration_s": 2.0,
            }
            for job, every in (("sync", 5), ("monitoring", 5), ("entry", 30))
            for ts in _every(open_, close, every)
        ]
        lake.append(TableName.JOB_RUNS, runs)
        lake.append(
            TableName.MARKET_DATA_SLOTS,
            [
                {
                    "ts": ts,
                    "streaming_lines": 6,
                    "snapshot_contracts": 0,
                    "budget": 100,
                    "reserved": 10,
                }
                for ts in _every(open_, close, 5)
            ],
        )
        lake.append(
            TableName.ORDERS,
            [
                {
                    "order_ref": f"{sid}:open",
                    "strategy_id": sid,
                    "intent": "open",
                    "status": "filled",
                    "order_type": "LMT",
                    "action": "SELL",
                    "quantity": 1.0,
                    "filled_quantity": 1.0,
                    "legs_json": "[]",
                    "created_at": open_,
                    "updated_at": open_,
                }
                for sid in sids.values()
            ],
        )
        lake.append(
            TableName.PREDICTIONS,
            [
                {
                    "prediction_id": f"p-{sid}",
                    "strategy_id": sid,
                    "strategy_type": "put_credit_spread",
                    "underlying": u,
                    "regime": "normal",
                    "predicted_pnl": 25.0,
                    "actual_pnl": None if day == END else 20.0,
                    "entered_at": open_,
                    "closed_at": None if day == END else close,
                    "updated_at": close,
                }
                for u, sid in sids.items()
            ],
        )
    return lake


def maintain(lake: Lake) -> None:
    for name in TABLES:
        if lake.exists(name):
            lake.compact(name)
            lake.checkpoint(name)


def query_rows(lake: Lake, cfg: TradingConfig, label: str) -> list[tuple[str, str, str]]:
    now = datetime(END.year, END.month, END.day, 21, 0, tzinfo=UTC)
    rows: list[tuple[str, str, str]] = []
    medians: list[float] = []
    for name, query in QUERIES.items():
        ms = median_ms(lambda q=query: q(lake, now))  # type: ignore[misc]
        medians.append(ms)
        rows.append((f"{label}: `{name}`", f"{ms:.1f} ms", ""))
    account = QUERIES["account"](lake, now)
    legs = QUERIES["legs"](lake, now)
    strategies = open_strategies(lake, now, legs=legs)
    ms = median_ms(
        lambda: risk_limit_use(lake, now, cfg, account=account, legs=legs, strategies=strategies)
    )
    medians.append(ms)
    rows.append(
        (
            f"{label}: `limits` (risk_limit_use)",
            f"{ms:.1f} ms",
            "on the cached frames, as refreshed",
        )
    )
    ms = median_ms(lambda: risk_limit_use(lake, now, cfg))
    rows.append((f"{label}: `limits` standalone", f"{ms:.1f} ms", "re-reads legs and strategies"))
    overall = statistics.median(medians)
    rows.append(
        (
            f"**{label}: median over the {len(medians)} queries**",
            f"**{overall:.1f} ms**",
            f"budget < {BUDGET_MS:.0f} ms: {'met' if overall < BUDGET_MS else 'NOT met'}",
        )
    )
    dashboard = MonitoringDashboard(lake, cfg, refresh_s=30)
    ms = median_ms(lambda: dashboard.refresh(force=True), repeat=5)
    rows.append((f"{label}: full forced refresh (every panel + 2 figures)", f"{ms:.0f} ms", ""))
    return rows


def kernel_peak_mib(lake: Lake) -> float | None:
    """Peak RSS (VmHWM) of a kernel executing the dashboard notebook over ``lake``."""
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        return None
    os.environ[LAKE_ENV] = str(lake.root)
    notebook = nbformat.read(ROOT / "dashboards" / "monitoring.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(ROOT / "dashboards")}},
    )
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        pid = getattr(client.km.provisioner, "pid", None)
        if pid is None:
            return None
        status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--lake", type=Path, help="keep the month lake here (reused when it exists)"
    )
    args = parser.parse_args()
    cfg = TradingConfig()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.lake or Path(tmp) / "lake"
        t0 = time.perf_counter()
        lake = Lake(root) if (root / "positions").exists() else build_month(root, cfg)
        built = time.perf_counter() - t0
        info = {t.name: t for t in lake.tables() if t.exists}
        rows.append(
            (
                f"build: {DAYS} demo days + a month of job rows",
                f"{built:.0f} s" if args.lake is None else "reused",
                f"positions {info['positions'].rows:,} rows / {info['positions'].files} files, "
                f"option_snapshots {info['option_snapshots'].rows:,} rows, "
                f"decisions {info['decisions'].rows:,} rows / {info['decisions'].files} files, "
                f"job_runs {info['job_runs'].rows:,} rows",
            )
        )
        rows += query_rows(lake, cfg, "as written")
        maintain(lake)
        rows += query_rows(lake, cfg, "after maintenance")
        peak = kernel_peak_mib(lake)
        rows.append(
            (
                "peak memory of a kernel running dashboards/monitoring.ipynb",
                "n/a" if peak is None else f"{peak:.0f} MiB",
                "budget < 1 GiB (VmHWM of the kernel process)",
            )
        )

    lines = [
        "## Monitoring dashboard queries (a month of demo data)",
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
