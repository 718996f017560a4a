"""Several processes writing one table on S3 (moto's server): nothing lost, nothing doubled.

Delta on S3 needs no lock: each commit is created with ``If-None-Match: *`` and the
store refuses the loser, who retries at the next version. A writer killed mid-commit
leaves at most an unreferenced data file, which vacuum removes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from deltalake import DeltaTable

from tradelib.lake import Lake

from .s3 import S3Endpoint

WRITERS = 4
APPENDS_PER_WRITER = 50

# A fresh interpreter per writer (deltalake panics in fork()ed children). The AWS_*
# variables of the test's environment are all it needs to reach the store.
WRITER_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from datetime import UTC, datetime, timedelta
    from tradelib.lake import Lake

    root, writer, appends = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lake = Lake(root, commit_retries=20)
    t0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    written = 0
    for n in range(appends if appends >= 0 else 10**9):
        row = {
            "run_id": f"w{writer}-{n}",
            "job": f"writer-{writer}",
            "started_at": t0 + timedelta(seconds=n),
            "status": "ok",
        }
        written += lake.append("job_runs", [row], txn_id=f"w{writer}-{n}")
        print(f"acked {n}", flush=True)
    print(f"written {written}", flush=True)
    os._exit(0)
    """
)


def _writer(root: str, writer: int, appends: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, root, str(writer), str(appends)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_four_processes_appending_50_times_each_on_s3_keep_every_row_once(
    s3: S3Endpoint, s3_uri: str
) -> None:
    Lake(s3_uri).verify_store()
    started = time.monotonic()
    writers = [_writer(s3_uri, w, APPENDS_PER_WRITER) for w in range(WRITERS)]
    outputs = [w.communicate(timeout=600) for w in writers]
    wall_s = time.monotonic() - started

    assert [w.returncode for w in writers] == [0] * WRITERS, [err[-2000:] for _, err in outputs]
    assert [out.splitlines()[-1] for out, _ in outputs] == [
        f"written {APPENDS_PER_WRITER}"
    ] * WRITERS
    runs = Lake(s3_uri).read("job_runs").collect()
    assert runs.height == WRITERS * APPENDS_PER_WRITER
    assert runs["run_id"].n_unique() == runs.height
    per_writer = runs.group_by("job").len().sort("job")
    assert per_writer["len"].to_list() == [APPENDS_PER_WRITER] * WRITERS
    reader = Lake(s3_uri)
    history = DeltaTable(reader.uri("job_runs"), storage_options=reader.storage_options).history()
    ops = pl.Series("operation", [h.get("operation") for h in history]).value_counts(sort=True)
    # one commit per append, one create (a race to create must not commit twice)
    assert dict(ops.iter_rows()) == {"WRITE": WRITERS * APPENDS_PER_WRITER, "CREATE TABLE": 1}
    print(f"\n{WRITERS}x{APPENDS_PER_WRITER} appends on moto S3: {wall_s:.1f} s wall")


# Appends one batch of 20-second bars after another until killed; each batch spans
# about 12 days, so its data lands as 12 files (one per date partition) before the
# commit: a kill on seeing the first one lands between the data files and the commit.
BATCH_WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    import polars as pl
    from tradelib.lake import Lake

    root, writer, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lake = Lake(root, commit_retries=20)
    t0 = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(days=100 * writer)
    for n in range(10**9):
        start = t0 + timedelta(seconds=n * rows * 20)
        ts = pl.datetime_range(
            start, start + timedelta(seconds=(rows - 1) * 20), "20s", eager=True, time_zone="UTC"
        )
        bars = pl.DataFrame({"ts": ts, "symbol": "ES", "local_symbol": "ESH4"}).with_columns(
            open=pl.lit(1.0), high=pl.lit(1.0), low=pl.lit(1.0), close=pl.lit(1.0)
        )
        lake.append("futures_bars", bars, txn_id=f"w{writer}-{n}")
        print(f"acked {n}", flush=True)
    """
)
BATCH_ROWS = 50_000
BATCH_T0 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.mark.slow
def test_a_writer_killed_mid_commit_leaves_the_table_readable(s3: S3Endpoint, s3_uri: str) -> None:
    bucket, prefix = s3_uri.split("/")[2], "desk/lake/futures_bars/"

    def data_objects() -> set[str]:
        keys = s3.keys(bucket, prefix)
        return {k for k in keys if k.endswith(".parquet") and "/_delta_log/" not in k}

    orphans_seen, rounds = 0, 0
    while rounds < 3 or (orphans_seen == 0 and rounds < 8):
        writer = subprocess.Popen(
            [sys.executable, "-c", BATCH_WRITER_SCRIPT, s3_uri, str(rounds), str(BATCH_ROWS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().startswith("acked 0")
        known = data_objects()
        deadline = time.monotonic() + 60
        while not (data_objects() - known) and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(writer.pid, signal.SIGKILL)  # the next batch's data files are landing
        out, _ = writer.communicate(timeout=30)
        assert writer.returncode == -signal.SIGKILL
        acked = 1 + sum(1 for line in out.splitlines() if line.startswith("acked"))

        lake = Lake(s3_uri)  # a fresh reader, as another process would be
        start = BATCH_T0 + timedelta(days=100 * rounds)
        ours = lake.read(
            "futures_bars", filter=pl.col("ts").is_between(start, start + timedelta(days=100))
        ).collect()
        # every acknowledged batch is whole; the one in flight is whole or absent
        assert ours.height in (acked * BATCH_ROWS, (acked + 1) * BATCH_ROWS)
        assert ours["ts"].n_unique() == ours.height
        orphans_seen += len(data_objects()) - lake.info("futures_bars").files
        rounds += 1

    assert orphans_seen > 0, "no kill landed between a batch's data files and its commit"
    after = Lake(s3_uri)
    total = after.info("futures_bars").rows
    orphans = len(data_objects()) - after.info("futures_bars").files
    (report,) = after.maintain(retention_hours=0)
    assert report.rows == total
    assert len(data_objects()) == report.files_after  # the killed writers' files are gone
    assert Lake(s3_uri).read("futures_bars").collect().height == total
    print(f"\n{rounds} writers killed mid-append; {orphans} unreferenced data files vacuumed")
