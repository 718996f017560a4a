"""Benchmark the lake on S3 (moto's server on 127.0.0.1) against the same lake on local disk.

Two measures, each run on both lakes:

* **a trading day of job writes**: one simulated day through the real jobs
  (``run_day``: sync, entry, 5 monitoring cycles, sync, variance), every job
  committing its rows as it would live; same seed, so the same rows land in both;
* **the monitoring dashboard's panel queries** over a month of demo data (the
  lake given with ``--lake``, e.g. a ``tradelib demo`` lake), read locally and from
  a bucket holding the same files.

moto serves from memory on this machine, so the S3 figures are the object-store
protocol (HTTP requests, conditional PUTs, listings, no local page cache) without
a network's round trips: a real bucket adds ~10-50 ms per request on top.
Prints a markdown section; ``--out PATH`` writes it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.lake.s3 import MotoServer  # noqa: E402

from tradelib.backtest.engine import day_slots, run_day  # noqa: E402
from tradelib.broker.sim import SimBroker  # noqa: E402
from tradelib.config import TradingConfig  # noqa: E402
from tradelib.dashboards.monitoring import QUERIES  # noqa: E402
from tradelib.jobs.context import JobContext  # noqa: E402
from tradelib.lake import Lake  # noqa: E402
from tradelib.markethours import MarketHours  # noqa: E402
from tradelib.sim import SimMarketConfig, SimulatedMarket  # noqa: E402

DAY = date(2026, 11, 24)


def median_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()  # warm-up: the first read lists the table and loads its log
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(runs)


def day_of_writes(lake: Lake) -> tuple[float, int]:
    """(wall s, Delta commits) of one simulated trading day's jobs writing into ``lake``."""
    cfg = TradingConfig()
    hours = MarketHours(cfg.scheduler.calendar)
    first_open, _ = hours.session_bounds(DAY)
    market = SimulatedMarket(
        SimMarketConfig(seed=7, start=first_open - timedelta(minutes=5)), calendar=hours
    )
    broker = SimBroker.from_config(cfg, market=market)
    broker.connect()
    ctx = JobContext.of(broker, lake, cfg, hours)
    slots = day_slots(hours, DAY, monitoring_cycles=5)
    t0 = time.perf_counter()
    run_day(ctx, DAY, slots, starting_cash=broker.account().cash)
    wall = time.perf_counter() - t0
    commits = sum(int(info.version or 0) + 1 for info in lake.tables() if info.exists)
    return wall, commits


def upload(folder: Path, bucket: str, prefix: str, client: object) -> int:
    """Copy a local lake's files into the bucket under ``prefix``; return the file count."""
    n = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(folder).as_posix()}"
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())  # type: ignore[attr-defined]
            n += 1
    return n


def query_medians(lake: Lake, now: datetime) -> dict[str, float]:
    return {name: median_ms(lambda q=q: q(lake, now)) for name, q in QUERIES.items()}


def last_account_ts(lake: Lake) -> datetime:
    ts = lake.read("account_snapshots", columns=["ts"]).collect()["ts"].max()
    assert isinstance(ts, datetime)
    return ts.astimezone(UTC) + timedelta(minutes=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--lake", type=Path, help="a demo lake to query (default: 3 demo days built here)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import boto3

    server = MotoServer()
    try:
        for key, value in server.endpoint.env().items():
            os.environ[key] = value
        bucket = server.endpoint.create_bucket(f"bench-{uuid.uuid4().hex[:8]}")
        client = boto3.client("s3", endpoint_url=server.endpoint.url)
        with tempfile.TemporaryDirectory() as tmp:
            local_day = day_of_writes(Lake(Path(tmp) / "day"))
            s3_day = day_of_writes(Lake(f"s3://{bucket}/day"))
            source = args.lake
            if source is None:
                from tradelib.demo.lakes import build_demo_lake

                source = Path(tmp) / "demo"
                build_demo_lake(source, days=3)
            files = upload(source.resolve(), bucket, "month", client)
            local, remote = Lake(source.resolve()), Lake(f"s3://{bucket}/month")
            now = last_account_ts(local)
            local_q, s3_q = query_medians(local, now), query_medians(remote, now)
    finally:
        server.stop()
    rows = [
        (
            "a trading day of job writes (9 jobs, `run_day`)",
            f"{local_day[0]:.1f} s",
            f"{s3_day[0]:.1f} s",
            f"{s3_day[0] / local_day[0]:.1f}x; {local_day[1]} / {s3_day[1]} Delta commits",
        ),
        (
            f"dashboard panel queries, all {len(local_q)}, sum of medians",
            f"{sum(local_q.values()):.0f} ms",
            f"{sum(s3_q.values()):.0f} ms",
            f"{sum(s3_q.values()) / sum(local_q.values()):.1f}x; {files} files",
        ),
    ]
    slowest = sorted(s3_q, key=lambda k: s3_q[k], reverse=True)[:4]
    rows += [
        (f"  `{name}`", f"{local_q[name]:.1f} ms", f"{s3_q[name]:.1f} ms", "") for name in slowest
    ]
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    section = (
        "## Lake on S3 (moto) vs local disk (bench_s3.py)\n\n"
        "moto's S3 server on 127.0.0.1, in memory: the object-store protocol without a "
        f"network's latency (a real bucket adds its round trips). Load average {load}.\n\n"
        "| what | local | S3 (moto) | note |\n|---|---|---|---|\n"
        + "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)
        + "\n"
    )
    print(section)
    if args.out:
        args.out.write_text(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
