"""Several processes appending to one table at once lose and duplicate nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from tradelib.lake import Lake

WRITERS = 4
APPENDS_PER_WRITER = 20

# Each writer is a fresh interpreter (deltalake panics in fork()ed children), and a
# script rather than a pickled test function, so it does not depend on how pytest
# names this test module.
WRITER_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from datetime import UTC, datetime, timedelta
    from tradelib.lake import Lake

    root, writer, appends = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lake = Lake(root, commit_retries=10)
    t0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    written = 0
    for n in range(appends):
        row = {
            "run_id": f"w{writer}-{n}",
            "job": f"writer-{writer}",
            "started_at": t0 + timedelta(seconds=n),
            "status": "ok",
        }
        written += lake.append("job_runs", [row], txn_id=f"w{writer}-{n}")
    print(written, flush=True)
    os._exit(0)
    """
)


@pytest.mark.slow  # four writer processes
def test_four_processes_appending_concurrently_keep_every_row_once(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, root, str(w), str(APPENDS_PER_WRITER)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    outputs = [writer.communicate(timeout=120) for writer in writers]

    assert [w.returncode for w in writers] == [0] * WRITERS, [err for _, err in outputs]
    assert [int(out) for out, _ in outputs] == [APPENDS_PER_WRITER] * WRITERS
    runs = Lake(root).read("job_runs").collect()
    assert runs.height == WRITERS * APPENDS_PER_WRITER
    assert runs["run_id"].n_unique() == runs.height
    per_writer = runs.group_by("job").len().sort("job")
    assert per_writer["len"].to_list() == [APPENDS_PER_WRITER] * WRITERS
    assert runs.filter(pl.col("status") != "ok").height == 0
