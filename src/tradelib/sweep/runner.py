"""Run a sweep: every point a backtest, on dask.distributed, written to the lake in batches.

The driver (this process) expands the grid, records the sweep in
``backtest_sweeps``, leaves out the points whose run id ``backtest_runs`` already
holds, and hands the rest to dask: a ``LocalCluster`` of ``workers`` processes
(one thread each) by default, an existing cluster with ``scheduler``, or, with
``workers=0``, this process alone. Workers return compact results; the driver
writes them through the backtest's own ``write_results`` into a memory buffer
and from there to the lake, a batch at a time: trades and equity first, the run
rows last, so a point counts as done only once all of it is stored. Run ids come
from the sweep id and the point, so a re-run adds nothing and a killed sweep,
run again, re-runs only the points it had not stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tradelib.backtest.run import BacktestResult, write_results
from tradelib.errors import SweepError
from tradelib.lake import Lake, TableName
from tradelib.lake.memory import MemoryLake
from tradelib.sweep.grid import (
    SweepGrid,
    SweepPoint,
    history_folder,
    history_lake_uri,
    load_grid,
)
from tradelib.sweep.tasks import PointOutcome, PointTask, run_point, warm_up

Progress = Callable[[str], None]
RUNS, TRADES, EQUITY, SWEEPS = (
    TableName.BACKTEST_RUNS,
    TableName.BACKTEST_TRADES,
    TableName.BACKTEST_EQUITY,
    TableName.BACKTEST_SWEEPS,
)
# written in this order: a point is done when its run row is stored
WRITE_ORDER = (TRADES, EQUITY, RUNS)
DEFAULT_BATCH = 8
FLUSH_EVERY_S = 30.0  # a slow sweep still stores what it has at least this often
CONNECT_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)


@dataclass(slots=True)
class SweepResult:
    """What a sweep run did: points in all, already stored, run now, failed."""

    sweep_id: str
    total: int
    already_done: int = 0
    ran: int = 0
    written: int = 0  # run rows stored by this call
    failed: dict[str, str] = field(default_factory=dict)  # run id -> error
    left: int = 0  # points neither stored nor failed (max_points, interrupted)
    wall_s: float = 0.0
    dashboard_link: str | None = None
    workers: int = 0

    @property
    def complete(self) -> bool:
        return not self.failed and self.left == 0

    def lines(self) -> list[str]:
        """The summary: how many points ran, were stored before, failed."""
        rate = self.ran / self.wall_s * 60 if self.wall_s > 0 else 0.0
        out = [
            f"sweep {self.sweep_id}: {self.total} points; {self.already_done} already stored, "
            f"{self.ran} run now ({self.written} stored), {len(self.failed)} failed, "
            f"{self.left} left; {self.wall_s:.1f} s wall, {rate:.1f} points/min"
        ]
        out += [f"  FAILED {run_id}: {error}" for run_id, error in sorted(self.failed.items())]
        return out


class BatchWriter:
    """Buffers finished points in a ``MemoryLake`` and stores them in the lake a batch at a time."""

    def __init__(self, lake: Lake, grid: SweepGrid) -> None:
        self.lake = lake
        self.grid = grid
        self.buffer = MemoryLake("sweep-batch")
        self.pending = 0
        self.stored = 0
        self.last_flush = time.monotonic()

    def add(self, point: SweepPoint, outcome: PointOutcome) -> None:
        """Buffer one finished point's run row, trades and equity."""
        result = BacktestResult(
            outcome.run_id,
            outcome.source,
            outcome.source_name,
            outcome.modelled,
            outcome.seed,
            self.grid.spec.cycles_per_day,
            trades=outcome.trades,
            equity=outcome.equity,
            stats=outcome.stats,
            wall_s=outcome.wall_s,
        )
        write_results(self.buffer, result, point.cfg, outcome.days, self.grid.spec.cycles_per_day)
        self.pending += 1

    def due(self, batch: int) -> bool:
        return self.pending >= batch or (
            self.pending > 0 and time.monotonic() - self.last_flush >= FLUSH_EVERY_S
        )

    def flush(self) -> int:
        """Store the buffered points (trades, equity, then run rows); return run rows stored."""
        if self.pending == 0:
            return 0
        written = self.buffer.copy_to(self.lake, WRITE_ORDER)
        self.buffer = MemoryLake("sweep-batch")
        self.pending = 0
        self.last_flush = time.monotonic()
        self.stored += written.get(str(RUNS), 0)
        return written.get(str(RUNS), 0)


def stored_run_ids(lake: Lake, run_ids: Iterable[str]) -> set[str]:
    """The ``run_ids`` whose run row the lake holds (their points are done)."""
    wanted = list(run_ids)
    if not wanted or not lake.exists(RUNS):
        return set()
    held = lake.read(RUNS, columns=["run_id"], filter=pl.col("run_id").is_in(wanted)).collect()
    return set(held["run_id"].to_list())


def record_sweep(lake: Lake, grid: SweepGrid) -> None:
    """Store the sweep's row once; refuse a sweep id that already names another grid."""
    if lake.exists(SWEEPS):
        held = lake.read(SWEEPS, filter=pl.col("sweep_id") == grid.sweep_id).collect()
        if held.height:
            if held["grid_hash"][0] != grid.grid_hash:
                raise SweepError(
                    sweep_id=grid.sweep_id,
                    problem=f"this sweep id already names a different grid in {lake.root} "
                    f"(stored {held['created_at'][0]:%Y-%m-%d %H:%M} UTC); give the changed "
                    "grid a new --sweep-id",
                )
            return
    lake.append(
        SWEEPS,
        [
            {
                "sweep_id": grid.sweep_id,
                "created_at": datetime.now(UTC),
                "grid_hash": grid.grid_hash,
                "grid_json": grid.grid_json,
                "points": len(grid.points),
                "points_json": json.dumps([p.record() for p in grid.points], default=str),
            }
        ],
    )


def task_of(
    point: SweepPoint, grid: SweepGrid, versions: Mapping[str, int | None] | None = None
) -> PointTask:
    """The picklable task a worker runs for ``point`` (``versions``: the bars' pinned ones)."""
    history = history_lake = None
    if point.market.source == "history" and point.market.folder is not None:
        history = str(history_folder(point.market, grid.root).resolve())
    elif point.market.source == "history":
        history_lake = history_lake_uri(point.market, point.cfg)
    version = (versions or {}).get(history_lake) if history_lake else None
    return PointTask(
        run_id=point.run_id,
        cfg=point.cfg.with_account(None),  # a backtest needs no account: none is shipped
        seed=point.seed,
        days=point.days,
        start=point.start,
        end=point.end,
        history=history,
        history_lake=history_lake,
        history_version=version,
        cycles_per_day=grid.spec.cycles_per_day,
    )


class _Progress:
    """The progress line: points done of the total, points per minute, failures."""

    def __init__(self, out: Progress | None, grid: SweepGrid, done_before: int) -> None:
        self.out = out
        self.grid = grid
        self.done_before = done_before
        self.started = time.monotonic()
        self.ran = 0
        self.failed = 0

    def tick(self, *, failed: bool = False) -> None:
        self.ran += 1
        self.failed += int(failed)
        if self.out is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.ran / elapsed * 60
        total = len(self.grid.points)
        done = self.done_before + self.ran - self.failed
        left = total - done - self.failed
        eta = f", ~{left / rate:.1f} min left" if rate > 0 and left > 0 else ""
        self.out(f"  {done}/{total} points done, {rate:.1f} points/min, {self.failed} failed{eta}")


def run_sweep(
    grid: SweepGrid | str | Path,
    *,
    lake: Lake,
    workers: int = 2,
    scheduler: str | None = None,
    client: Any = None,
    sweep_id: str | None = None,
    batch: int = DEFAULT_BATCH,
    max_points: int | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run every point of ``grid`` not yet stored in ``lake``; return what was done.

    ``grid`` is a ``SweepGrid`` or the path of a GRID.yaml. The points run on a
    ``LocalCluster`` of ``workers`` processes, on the cluster at ``scheduler``
    (``tcp://host:8786``), on a given dask ``client``, or here, one after the
    other, with ``workers=0``. ``batch`` points are stored per write;
    ``max_points`` caps how many run now (the rest on a later call). A point that
    fails is reported in ``SweepResult.failed`` and stays missing, so the next
    run retries it. ``progress`` gets the dashboard link and a line per point.
    """
    started = time.perf_counter()
    if not isinstance(grid, SweepGrid):
        grid = load_grid(grid, sweep_id=sweep_id)
    if batch < 1:
        raise SweepError(sweep_id=grid.sweep_id, problem=f"batch must be >= 1, got {batch}")
    record_sweep(lake, grid)
    done = stored_run_ids(lake, (p.run_id for p in grid.points))
    todo = [p for p in grid.points if p.run_id not in done]
    if max_points is not None:
        todo = todo[:max_points]
    result = SweepResult(grid.sweep_id, len(grid.points), already_done=len(done))
    say = progress or (lambda _line: None)
    say(
        f"sweep {grid.sweep_id}: {len(grid.points)} points, {len(done)} already stored, "
        f"{len(todo)} to run -> {lake.root}"
    )
    writer = BatchWriter(lake, grid)
    meter = _Progress(progress, grid, len(done))
    try:
        if todo:
            versions = pinned_history(todo, grid, scheduler)
            outcomes = (
                _serial(todo, grid, versions)
                if workers == 0 and client is None and scheduler is None
                else _distributed(todo, grid, workers, scheduler, client, result, say, versions)
            )
            for point, outcome in outcomes:
                result.ran += 1
                if isinstance(outcome, BaseException):
                    result.failed[point.run_id] = f"{type(outcome).__name__}: {outcome}"
                    log.warning("sweep point %s failed: %s", point.run_id, outcome)
                    meter.tick(failed=True)
                    continue
                writer.add(point, outcome)
                meter.tick()
                if writer.due(batch):
                    writer.flush()
    finally:
        writer.flush()  # what finished is stored even when the sweep is interrupted
        result.written = writer.stored
        result.left = len(grid.points) - len(done) - writer.stored - len(result.failed)
        result.wall_s = time.perf_counter() - started
    return result


def pinned_history(
    todo: list[SweepPoint], grid: SweepGrid, scheduler: str | None
) -> dict[str, int | None]:
    """The version of each lake's bars the points of this run read (one for all of them).

    A lake on this machine's disk cannot serve the workers of a remote cluster:
    refused, naming it, before any point runs.
    """
    from tradelib.backtest.history_store import history_version
    from tradelib.lake.workspace import job_lake

    versions: dict[str, int | None] = {}
    for point in todo:
        if point.market.source != "history" or point.market.folder is not None:
            continue
        uri = history_lake_uri(point.market, point.cfg)
        if uri in versions:
            continue
        if scheduler and "://" not in uri:
            raise SweepError(
                sweep_id=grid.sweep_id,
                problem=f"market {point.market.label!r} reads the lake at {uri} on this machine; "
                f"the workers of {scheduler} cannot: put the lake on S3 (storage.lake_uri or "
                "the market's lake: s3://...) or give the market a folder every worker has",
            )
        versions[uri] = history_version(job_lake(point.cfg, uri))
    return versions


def _serial(
    todo: list[SweepPoint], grid: SweepGrid, versions: Mapping[str, int | None]
) -> Iterator[tuple[SweepPoint, PointOutcome | BaseException]]:
    """Each point in this process, one after the other."""
    for point in todo:
        try:
            yield point, run_point(task_of(point, grid, versions))
        except Exception as exc:  # reported as the point's failure, the sweep goes on
            yield point, exc


def _dask_module() -> Any:
    """dask.distributed, imported when a sweep needs it (it is untyped: used as Any)."""
    import distributed

    return distributed


@contextlib.contextmanager
def dask_client(
    workers: int, scheduler: str | None, client: Any, sweep_id: str = "-"
) -> Iterator[Any]:
    """The client to run on: ``client``, one connected to ``scheduler``, or a new LocalCluster."""
    if client is not None:
        yield client
        return
    dist = _dask_module()
    if scheduler:
        try:
            connected = dist.Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S:.0f}s")
        except (OSError, TimeoutError) as exc:
            raise SweepError(
                sweep_id=sweep_id,
                problem=f"cannot reach the dask scheduler at {scheduler}: {exc}",
            ) from None
        try:
            yield connected
        finally:
            connected.close()
        return
    if workers < 1:
        raise SweepError(sweep_id=sweep_id, problem=f"workers must be >= 1, got {workers}")
    cluster = dist.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )
    local = dist.Client(cluster)
    try:
        yield local
    finally:
        local.close()
        cluster.close()


def _distributed(
    todo: list[SweepPoint],
    grid: SweepGrid,
    workers: int,
    scheduler: str | None,
    client: Any,
    result: SweepResult,
    say: Progress,
    versions: Mapping[str, int | None],
) -> Iterator[tuple[SweepPoint, PointOutcome | BaseException]]:
    """The points as dask tasks, yielded as they finish."""
    as_completed = _dask_module().as_completed
    with dask_client(workers, scheduler, client, grid.sweep_id) as dc:
        result.dashboard_link = dc.dashboard_link
        result.workers = len(dc.scheduler_info(n_workers=-1).get("workers", {}))
        say(f"  dask dashboard: {dc.dashboard_link} ({result.workers} workers)")
        if result.workers == 0:
            raise SweepError(
                sweep_id=grid.sweep_id,
                problem=f"the dask cluster at {dc.scheduler.address} has no workers",
            )
        try:
            dc.run(warm_up)  # import the backtest stack once per worker, not in the first task
        except ImportError as exc:
            raise SweepError(
                sweep_id=grid.sweep_id,
                problem=f"a dask worker cannot import the backtest ({exc}): install this "
                "package, at the same version, where the workers run",
            ) from None
        by_key = {}
        futures = []
        for point in todo:
            future = dc.submit(
                run_point,
                task_of(point, grid, versions),
                key=f"sweep-{point.run_id}",
                pure=False,
                retries=1,
            )
            by_key[future.key] = point
            futures.append(future)
        try:
            for future in as_completed(futures):
                point = by_key[future.key]
                try:
                    outcome: PointOutcome | BaseException = future.result()
                except Exception as exc:  # a failed task (or a worker lost twice): reported
                    outcome = exc
                future.release()
                yield point, outcome
        finally:
            for future in futures:
                future.cancel()
