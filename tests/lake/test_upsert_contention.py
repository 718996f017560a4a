"""Several processes upserting into one table at once: no write fails, no row is lost
or duplicated (issue 17: 1-8 of every 100-170 batches failed with 8 writers)."""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import sys
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.slow  # spawned writer processes

WRITERS = 6
BATCHES_PER_WRITER = 8
ROWS_PER_BATCH = 3


def _writer_module(folder: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """Write the writer function as a module ``spawn`` children can import by name.

    Children unpickle the target by module name; pytest's importlib mode gives test
    modules names no child can import, so the function lives in its own file on
    sys.path (spawn hands the parent's sys.path to each child).
    """
    source = "from __future__ import annotations\n\nROWS_PER_BATCH = 3\n\n\n"
    source += inspect.getsource(sys.modules[__name__]).split("# --- writer ---\n")[1]
    (folder / "contention_writer.py").write_text(source)
    monkeypatch.syspath_prepend(str(folder))
    return importlib.import_module("contention_writer")


def test_spawned_writers_upserting_one_table_lose_and_fail_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradelib.lake import Lake

    upsert_batches = _writer_module(tmp_path, monkeypatch).upsert_batches  # type: ignore[attr-defined]
    root = str(tmp_path / "lake")
    Lake(root).upsert("job_runs", [])  # nothing to write: the table need not exist yet
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WRITERS) as pool:
        results = pool.starmap(
            upsert_batches, [(root, w, BATCHES_PER_WRITER, WRITERS) for w in range(WRITERS)]
        )

    assert [failed for failed, _ in results] == [0] * WRITERS, [e for _, e in results if e]
    runs = Lake(root).read("job_runs").collect()
    assert runs.height == WRITERS * BATCHES_PER_WRITER * ROWS_PER_BATCH
    assert runs["run_id"].n_unique() == runs.height
    finished = runs.filter(pl.col("status") == "success")
    assert finished.height == WRITERS * (BATCHES_PER_WRITER - 1)


# --- writer ---
def upsert_batches(root: str, writer: int, batches: int, expected_writers: int) -> tuple[int, str]:
    """Upsert ``batches`` batches into ``job_runs``; return (failed batches, first error).

    Module level so a ``spawn`` child can import it (deltalake panics in forked children).
    """
    from datetime import UTC, datetime, timedelta

    from tradelib.errors import CommitConflictError
    from tradelib.lake import Lake

    lake = Lake(root, commit_retries=5, expected_writers=expected_writers)
    t0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    failed, first_error = 0, ""
    for batch in range(batches):
        rows = [
            {
                "run_id": f"w{writer}-b{batch}-r{r}",
                "job": f"writer-{writer}",
                "started_at": t0 + timedelta(seconds=batch),
                "status": "running",
            }
            for r in range(ROWS_PER_BATCH)
        ]
        if batch:  # also finish a row of the previous batch: an update, not an insert
            rows.append({**rows[0], "run_id": f"w{writer}-b{batch - 1}-r0", "status": "success"})
        try:
            lake.upsert("job_runs", rows)
        except CommitConflictError as exc:
            failed += 1
            first_error = first_error or str(exc)
    return failed, first_error
