"""The lake: one Delta table per ``TableSpec``, local folder or any deltalake URI.

Every write is checked against the declared schema first (nothing half-written),
commit conflicts are retried with backoff, and an append given a ``txn_id`` is
idempotent through Delta app transactions, so a re-run job duplicates nothing.
Reads go through polars (``pl.scan_delta``), never ``to_pyarrow_table()``, which
makes processes abort at exit (see TOOLCHAIN).

One ``Lake`` per process (or thread): it keeps one ``DeltaTable`` handle per
table and refreshes it before each use.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from tradelib.errors import CommitConflictError, LakeError, UnknownTableError
from tradelib.lake.conform import TableData, conform
from tradelib.lake.schemas import TABLES, TableSpec
from tradelib.objectstore import env_storage_options

T = TypeVar("T")
log = logging.getLogger(__name__)

# Commit-conflict backoff. A losing writer waits a random time in [0, ceiling) ("full
# jitter"). The ceiling is one commit slot per expected writer, doubled each retry, so
# the writers that collided spread out over about as many slots as there are of them.
# A slot is how long the failed attempt took (a merge on a loaded 2-core box or on S3
# takes far longer than an idle local one), never less than MIN_COMMIT_SLOT_S.
MIN_COMMIT_SLOT_S = 0.05
MAX_BACKOFF_S = 30.0
# Local lakes: writers of a table take turns through an flock in <root>/_tradelib_locks.
LOCKS_DIR = "_tradelib_locks"
COMMIT_TURN_WAIT_S = 60.0
DEFAULT_EXPECTED_WRITERS = 4

DEFAULT_VACUUM_RETENTION_HOURS = 168
# app transactions (txn_id) are kept this long; a re-run within it writes nothing
TXN_RETENTION = "interval 30 days"
# A checkpoint every 10 commits (Delta's default is 100): a txn-id lookup or a refresh
# replays at most 10 JSON commits. On S3 each is a GET: 80 small appends with txn ids
# on moto took 22 s at the default and 12 s at 10.
CHECKPOINT_INTERVAL = "10"

# Object stores: before its first write a process proves the store refuses to overwrite
# an object it was asked to create only if absent (``If-None-Match: *``), as Delta's
# commits on S3 need. The probe object lives under this prefix and is deleted after.
PROBE_PREFIX = "_tradelib_store_probe"
_verified_roots: set[str] = set()
_verified_lock = threading.Lock()


class UnknownColumnError(LakeError):
    """A read asked for a column the table does not have."""

    template = "table '{table}' has no column(s) {columns} (columns: {known})"


class TableMissingError(LakeError):
    """A maintenance operation was asked for a table that has never been written."""

    template = "table '{table}' does not exist yet in the lake at {root}"


class ConditionalPutError(LakeError):
    """The object store overwrote a Delta commit it was asked to create only if absent."""

    template = (
        "the object store behind {root} ignores conditional PUT (If-None-Match): {problem}. "
        "Concurrent writers would silently lose rows there. Use a store that honours it "
        "(AWS S3, MinIO, Cloudflare R2, moto), or, if exactly one process ever writes this "
        "lake, set storage.verify_conditional_put: false"
    )


class _StorageSettings(Protocol):
    @property
    def lake_uri(self) -> str: ...

    @property
    def commit_retries(self) -> int: ...

    def storage_options(self) -> Mapping[str, str] | None: ...


class _ConfigWithStorage(Protocol):
    @property
    def storage(self) -> _StorageSettings: ...


@dataclass(frozen=True, slots=True)
class MergeStats:
    """What an upsert did."""

    table: str
    source_rows: int  # after de-duplicating the batch on the merge keys
    inserted: int
    updated: int
    version: int | None  # table version after the merge; None when nothing was merged


@dataclass(frozen=True, slots=True)
class TableInfo:
    """Size and version of one table; ``exists`` is False before its first write."""

    name: str
    exists: bool
    rows: int
    version: int | None
    files: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """Result of compact + checkpoint + vacuum on one table."""

    table: str
    files_before: int
    files_after: int
    rows: int
    version: int
    vacuumed_files: int


def _is_conflict(exc: BaseException) -> bool:
    if isinstance(exc, CommitFailedError):
        return True
    # the writer's own retries running out surfaces as a generic DeltaError
    text = str(exc).lower()
    return isinstance(exc, DeltaError) and "commit" in text and ("conflict" in text or "15" in text)


def _is_remote(uri: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri) is not None and not uri.startswith(
        "file://"
    )


def _scheme(uri: str) -> str:
    """``s3`` for ``s3://...``; ``""`` for a local path (``file://`` included)."""
    head, sep, _ = uri.partition("://")
    return head.lower() if sep and head.lower() != "file" else ""


def _last_per_key(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """Keep the last row for each key, in the batch's order."""
    index = "__tradelib_row__"
    numbered = table.append_column(index, pa.array(range(table.num_rows), type=pa.int64()))
    last = numbered.group_by(list(keys), use_threads=False).aggregate([(index, "max")])
    keep = pc.sort_indices(last.column(f"{index}_max"))
    return table.take(pc.take(last.column(f"{index}_max"), keep))


def narrowed(
    spec: TableSpec,
    frame: pl.LazyFrame,
    columns: list[str] | tuple[str, ...] | None,
    filter: pl.Expr | None,
) -> pl.LazyFrame:
    """``frame`` filtered and cut to ``columns`` (each checked against the table's schema)."""
    if columns is not None:
        unknown = [c for c in columns if c not in spec.columns]
        if unknown:
            raise UnknownColumnError(
                table=spec.name, columns=unknown, known=", ".join(spec.columns)
            )
    if filter is not None:
        frame = frame.filter(filter)
    if columns is not None:
        frame = frame.select(list(columns))
    return frame


class Lake:
    """Read and write the tradelib Delta tables under one root.

    ``root`` is a local folder (relative paths resolve against the cwd) or any
    deltalake URI; ``commit_retries`` is how many times a conflicting commit is
    retried (with backoff) before ``CommitConflictError``.
    """

    def __init__(
        self,
        root: str | Path,
        storage_options: Mapping[str, str] | None = None,
        commit_retries: int = 5,
        expected_writers: int = DEFAULT_EXPECTED_WRITERS,
        *,
        verify_conditional_put: bool = True,
    ) -> None:
        if commit_retries < 0:
            raise ValueError(f"commit_retries must be >= 0, got {commit_retries}")
        if expected_writers < 1:
            raise ValueError(f"expected_writers must be >= 1, got {expected_writers}")
        text = str(root)
        if _is_remote(text):
            self.root = text.rstrip("/")
        else:
            local = Path(text.removeprefix("file://")).expanduser().resolve()
            self.root = str(local)
        if storage_options is None and _is_remote(self.root):
            # no options given: the store's standard environment variables (AWS_* for s3)
            storage_options = env_storage_options(self.root)
        self.storage_options: dict[str, str] | None = (
            dict(storage_options) if storage_options else None
        )
        self.verify_conditional_put = verify_conditional_put
        self.commit_retries = commit_retries
        self.expected_writers = expected_writers
        self._handles: dict[str, DeltaTable] = {}

    @classmethod
    def from_config(cls, cfg: _ConfigWithStorage) -> Lake:
        """Build the lake from ``cfg.storage`` (a relative local URI resolves against the cwd)."""
        return cls.open(None, cfg.storage)

    @classmethod
    def open(cls, uri: str | Path | None, storage: _StorageSettings | None = None) -> Lake:
        """Open ``uri`` (None: ``storage.lake_uri``) with ``storage``'s settings.

        An object-store ``uri`` gets ``storage``'s endpoint, region and path style when
        it is on the same kind of store, else only the environment's variables.
        """
        if storage is None:
            if uri is None:
                raise ValueError("Lake.open needs a uri or storage settings")
            return cls(uri)
        target = str(uri) if uri is not None else storage.lake_uri
        same_store = _scheme(target) == _scheme(storage.lake_uri)
        return cls(
            target,
            storage_options=storage.storage_options() if same_store else None,
            commit_retries=storage.commit_retries,
            expected_writers=getattr(storage, "expected_writers", DEFAULT_EXPECTED_WRITERS),
            verify_conditional_put=getattr(storage, "verify_conditional_put", True),
        )

    def __repr__(self) -> str:
        # storage options can hold credentials: never show them
        return f"Lake({self.root!r})"

    # --- tables and handles ------------------------------------------------------
    def spec(self, table: str) -> TableSpec:
        """Return the spec of ``table``, or raise ``UnknownTableError``."""
        try:
            return TABLES[table]
        except KeyError:
            raise UnknownTableError(table=table, known=", ".join(sorted(TABLES))) from None

    def uri(self, table: str) -> str:
        """Return the location of ``table``."""
        return f"{self.root}/{self.spec(table).name}"

    def _handle(self, table: str) -> DeltaTable | None:
        """Return a fresh handle on ``table``, or None if it does not exist yet."""
        spec = self.spec(table)
        handle = self._handles.get(spec.name)
        if handle is not None:
            handle.update_incremental()
            return handle
        uri = self.uri(spec.name)
        if not DeltaTable.is_deltatable(uri, storage_options=self.storage_options):
            return None
        handle = DeltaTable(uri, storage_options=self.storage_options)
        self._handles[spec.name] = handle
        return handle

    def _ensure(self, spec: TableSpec) -> DeltaTable:
        self.verify_store()
        handle = self._handle(spec.name)
        if handle is not None:
            return handle
        # "ignore" lets several first writers race to create the table; no commit retry,
        # so a writer that loses the race to version 0 fails here (and then opens the
        # winner's table) instead of committing a second CREATE on top of it. A local
        # lake never races: writers take turns through the commit flock.
        try:
            handle = self._create(spec)
        except (CommitFailedError, DeltaError):
            handle = self._handle(spec.name)
            if handle is None:
                raise
        self._handles[spec.name] = handle
        return handle

    def _create(self, spec: TableSpec) -> DeltaTable:
        return DeltaTable.create(
            self.uri(spec.name),
            spec.schema,
            mode="ignore",
            partition_by=list(spec.partition_by) or None,
            name=spec.name,
            description=spec.description,
            configuration={
                "delta.setTransactionRetentionDuration": TXN_RETENTION,
                "delta.checkpointInterval": CHECKPOINT_INTERVAL,
            },
            storage_options=self.storage_options,
            commit_properties=CommitProperties(max_commit_retries=0),
        )

    def _require(self, table: str) -> DeltaTable:
        handle = self._handle(table)
        if handle is None:
            raise TableMissingError(table=table, root=self.root)
        return handle

    # --- the object store's conditional PUT --------------------------------------------
    def verify_store(self, *, force: bool = False) -> bool:
        """Prove an S3 store honours conditional PUT; return True when a probe ran.

        Delta's multi-writer safety on S3 rests on the store refusing a commit file
        that already exists (``If-None-Match: *``; no lock files, no DynamoDB). The
        probe PUTs one small object twice with that header: the second must be refused
        (412), else ``ConditionalPutError``. Run once per process and lake, before the
        first write; local lakes, non-S3 stores and ``verify_conditional_put=False``
        are not probed, nor is a store when botocore (``tradelib[s3]``) is missing.
        """
        if self.is_local or not self.verify_conditional_put:
            return False
        if not self.root.startswith(("s3://", "s3a://")):
            return False
        with _verified_lock:
            if self.root in _verified_roots and not force:
                return False
            try:
                from tradelib.lake.s3probe import ProbeWriteError, probe_conditional_put
            except ImportError:  # botocore is an optional extra
                log.warning(
                    "lake %s: conditional PUT not verified (install tradelib[s3] for botocore)",
                    self.root,
                )
                _verified_roots.add(self.root)
                return False
            try:
                problem = probe_conditional_put(self.root, self.storage_options or {}, PROBE_PREFIX)
            except ProbeWriteError as exc:
                raise LakeError(table="*", problem=str(exc)) from exc
            if problem is not None:
                raise ConditionalPutError(root=self.root, problem=problem)
            _verified_roots.add(self.root)
            return True

    def backoff_s(self, retry: int, slot_s: float = MIN_COMMIT_SLOT_S) -> float:
        """Return a wait before conflict retry ``retry`` (1-based), ``slot_s`` a commit's time.

        Full jitter in [0, slot x expected_writers x 2**(retry-1)), capped at MAX_BACKOFF_S.
        """
        slot = max(MIN_COMMIT_SLOT_S, slot_s)
        ceiling = slot * self.expected_writers * 2 ** min(max(retry, 1) - 1, 16)
        return random.uniform(0.0, min(MAX_BACKOFF_S, ceiling))

    @contextlib.contextmanager
    def _commit_turn(self, table: str) -> Iterator[None]:
        """On a local lake, let one writer of ``table`` at a time commit (an ``flock``).

        Writers of one process or many then queue instead of conflicting; the backoff
        is for object stores (no shared lock) and for a holder that takes longer than
        COMMIT_TURN_WAIT_S, after which we go ahead optimistically.
        """
        if _is_remote(self.root):
            yield
            return
        folder = Path(self.root) / LOCKS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{table}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + COMMIT_TURN_WAIT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(random.uniform(0.005, 0.02))
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _with_retries(self, table: str, action: Callable[[], T]) -> T:
        last_attempt_s = MIN_COMMIT_SLOT_S

        def wait(state: RetryCallState) -> float:
            return self.backoff_s(state.attempt_number, last_attempt_s)

        retrying = Retrying(
            stop=stop_after_attempt(self.commit_retries + 1),
            wait=wait,
            retry=retry_if_exception(_is_conflict),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt, self._commit_turn(table):
                    started = time.monotonic()
                    try:
                        return action()
                    finally:
                        last_attempt_s = time.monotonic() - started
        except (CommitFailedError, DeltaError) as exc:
            if _is_conflict(exc):
                raise CommitConflictError(
                    table=table, attempts=self.commit_retries + 1, problem=str(exc)
                ) from exc
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")

    # --- writes ------------------------------------------------------------------
    def append(self, table: str, data: TableData, *, txn_id: str | None = None) -> int:
        """Append rows; return how many were written.

        With ``txn_id`` the write is idempotent: a second append with the same id
        writes nothing and returns 0. On a table with merge keys an append never
        creates a duplicate key: rows whose key the batch repeats collapse to the last,
        rows whose key the table already holds are left out (insert-only; ``upsert``
        replaces them instead).
        """
        spec = self.spec(table)
        rows = conform(spec, data)
        if rows.num_rows == 0:
            return 0
        if spec.merge_keys:
            rows = _last_per_key(rows, spec.merge_keys)

        def write() -> int:
            handle = self._ensure(spec)
            properties = None
            if txn_id is not None:
                if handle.transaction_version(txn_id) is not None:
                    return 0
                properties = CommitProperties(app_transactions=[Transaction(txn_id, 1)])
            fresh = self._new_keys_only(spec, handle, rows)
            if fresh.num_rows == 0:
                return 0
            write_deltalake(handle, fresh, mode="append", commit_properties=properties)
            return int(fresh.num_rows)

        return self._with_retries(spec.name, write)

    @staticmethod
    def _new_keys_only(spec: TableSpec, handle: DeltaTable, rows: pa.Table) -> pa.Table:
        """``rows`` without those whose merge key ``handle`` already holds."""
        keys = list(spec.merge_keys)
        if not keys:
            return rows
        batch = pl.from_arrow(rows.select(keys))
        assert isinstance(batch, pl.DataFrame)
        # Only the key range of the batch is read (file statistics prune the rest).
        in_range = pl.all_horizontal(
            [pl.col(k).is_between(pl.lit(batch[k].min()), pl.lit(batch[k].max())) for k in keys]
        )
        held = pl.scan_delta(handle).select(keys).filter(in_range).unique().collect()
        if held.height == 0:
            return rows
        index, marker = "__tradelib_row__", "__tradelib_held__"
        fresh = (
            batch.with_row_index(index)
            .join(
                held.with_columns(pl.lit(True).alias(marker)),
                on=keys,
                how="left",
                nulls_equal=True,
            )
            .sort(index)
            .select(pl.col(marker).is_null())
            .to_series()
        )
        return rows.filter(pa.array(fresh.to_list(), type=pa.bool_()))

    def upsert(self, table: str, data: TableData) -> MergeStats:
        """Merge rows on the table's merge keys: update matches, insert the rest.

        Duplicate keys within ``data`` are collapsed first; the last row wins.
        """
        spec = self.spec(table)
        if spec.append_only:
            raise LakeError(
                table=spec.name, problem="append-only table (no merge keys); use append"
            )
        rows = conform(spec, data)
        if rows.num_rows == 0:
            return MergeStats(spec.name, 0, 0, 0, None)
        rows = _last_per_key(rows, spec.merge_keys)
        predicate = " AND ".join(f't."{c}" = s."{c}"' for c in _merge_columns(spec))

        def merge() -> MergeStats:
            handle = self._ensure(spec)
            metrics = (
                handle.merge(rows, predicate, source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
            return MergeStats(
                table=spec.name,
                source_rows=rows.num_rows,
                inserted=int(metrics.get("num_target_rows_inserted", 0)),
                updated=int(metrics.get("num_target_rows_updated", 0)),
                version=handle.version(),
            )

        return self._with_retries(spec.name, merge)

    # --- reads -------------------------------------------------------------------
    def read(
        self,
        table: str,
        *,
        columns: list[str] | tuple[str, ...] | None = None,
        filter: pl.Expr | None = None,
    ) -> pl.LazyFrame:
        """Return the table as a lazy frame (empty, with the schema, before its first write)."""
        spec = self.spec(table)
        handle = self._handle(spec.name)
        frame = spec.empty().lazy() if handle is None else pl.scan_delta(handle)
        return narrowed(spec, frame, columns, filter)

    def read_version(self, table: str, version: int) -> pl.LazyFrame:
        """Return ``table`` as it was at Delta ``version`` (time travel, e.g. for a replay).

        Raise ``LakeError`` naming the table when the table or that version is gone
        (never written, or its files vacuumed away).
        """
        spec = self.spec(table)
        if self._handle(spec.name) is None:
            raise LakeError(table=spec.name, problem="does not exist")
        try:
            handle = DeltaTable(
                self.uri(spec.name), version=version, storage_options=self.storage_options
            )
            return pl.scan_delta(handle)
        except (DeltaError, OSError) as exc:
            raise LakeError(
                table=spec.name, problem=f"version {version} cannot be read ({exc})"
            ) from None

    def sql(
        self, query: str, **tables: str | pl.DataFrame | pl.LazyFrame | pa.Table
    ) -> pl.DataFrame:
        """Run a duckdb SQL query over lake tables and frames; return a polars frame.

        Every lake table named in the query is available under its own name;
        keyword arguments add aliases: ``alias="orders"`` or ``alias=frame``.
        """
        relations: dict[str, str | pl.DataFrame | pl.LazyFrame | pa.Table] = {
            name: name for name in TABLES if re.search(rf"\b{name}\b", query)
        }
        relations.update(tables)
        connection = duckdb.connect()
        try:
            for alias, source in relations.items():
                if isinstance(source, str):
                    source = self.read(source)
                if isinstance(source, pl.LazyFrame):
                    source = source.collect()
                arrow = source.to_arrow() if isinstance(source, pl.DataFrame) else source
                connection.register(alias, arrow)
            relation = connection.sql(query)
            result = pl.DataFrame() if relation is None else relation.pl()
        finally:
            connection.close()
        if not isinstance(result, pl.DataFrame):
            raise TypeError(f"duckdb returned {type(result).__name__}, expected a polars frame")
        return result

    def exists(self, table: str) -> bool:
        """Return True once ``table`` has been created."""
        return self._handle(table) is not None

    @property
    def is_local(self) -> bool:
        """True for a folder on this machine (not an object store)."""
        return not _is_remote(self.root)

    def drop_all(self) -> list[str]:
        """Delete every tradelib table of a local lake; return the names dropped.

        For the simulated demo's own lake only (it starts over after a crash); an
        object-store lake is refused.
        """
        if not self.is_local:
            raise LakeError(
                table="*", problem=f"refusing to drop tables of a remote lake {self.root}"
            )
        dropped = []
        for spec in TABLES.values():
            path = Path(self.uri(spec.name))
            if path.exists():
                shutil.rmtree(path)
                dropped.append(spec.name)
        self._handles.clear()
        return dropped

    def version(self, table: str) -> int | None:
        """Return the table's current version, or None if it does not exist yet."""
        handle = self._handle(table)
        return None if handle is None else handle.version()

    def _files(self, handle: DeltaTable) -> tuple[int, int, int]:
        """Return (files, rows, size_bytes) from the table's add actions."""
        actions = pa.table(handle.get_add_actions(flatten=True))
        if actions.num_rows == 0:
            return 0, 0, 0
        records = actions.column("num_records")
        rows = pc.sum(records).as_py() if records.null_count == 0 else handle.count()
        size = pc.sum(actions.column("size_bytes")).as_py()
        return int(actions.num_rows), int(rows or 0), int(size or 0)

    def info(self, table: str) -> TableInfo:
        """Return rows, version, files and size of one table."""
        spec = self.spec(table)
        handle = self._handle(spec.name)
        if handle is None:
            return TableInfo(spec.name, False, 0, None, 0, 0)
        files, rows, size = self._files(handle)
        return TableInfo(spec.name, True, rows, handle.version(), files, size)

    def tables(self) -> list[TableInfo]:
        """Return one ``TableInfo`` per declared table, existing or not."""
        return [self.info(name) for name in TABLES]

    # --- maintenance -------------------------------------------------------------
    def compact(self, table: str) -> dict[str, Any]:
        """Merge small files into larger ones; return deltalake's metrics."""
        handle = self._require(table)
        return self._with_retries(table, lambda: dict(handle.optimize.compact()))

    def checkpoint(self, table: str) -> None:
        """Write a checkpoint so readers need not replay the whole log."""
        handle = self._require(table)
        handle.create_checkpoint()
        # log entries older than the log retention are now covered by the checkpoint
        handle.cleanup_metadata()

    def vacuum(
        self, table: str, retention_hours: int = DEFAULT_VACUUM_RETENTION_HOURS
    ) -> list[str]:
        """Delete unreferenced files older than ``retention_hours``; return them.

        Unreferenced means removed by a compaction or merge, and also never committed:
        the data files of a writer killed before its commit (a "full" vacuum). Files
        younger than the retention are kept, so a live writer's are safe at the default.
        """
        if retention_hours < 0:
            raise ValueError(f"retention_hours must be >= 0, got {retention_hours}")
        handle = self._require(table)
        # retention is the caller's explicit choice; deltalake's own minimum would refuse < 168
        return self._with_retries(
            table,
            lambda: list(
                handle.vacuum(
                    retention_hours=retention_hours,
                    dry_run=False,
                    enforce_retention_duration=False,
                    full=True,
                )
            ),
        )

    def maintain(
        self, retention_hours: int = DEFAULT_VACUUM_RETENTION_HOURS
    ) -> list[MaintenanceReport]:
        """Compact, checkpoint and vacuum every existing table."""
        reports = []
        for name in TABLES:
            handle = self._handle(name)
            if handle is None:
                continue
            files_before, _, _ = self._files(handle)
            self.compact(name)
            self.checkpoint(name)
            vacuumed = self.vacuum(name, retention_hours)
            handle = self._require(name)
            files_after, rows, _ = self._files(handle)
            reports.append(
                MaintenanceReport(
                    name, files_before, files_after, rows, handle.version(), len(vacuumed)
                )
            )
        return reports


def _merge_columns(spec: TableSpec) -> tuple[str, ...]:
    """Return the merge keys plus partition columns the keys determine (for pruning)."""
    extra = tuple(
        column
        for column in spec.partition_by
        if column not in spec.merge_keys
        and column == "date"
        and spec.derives_date
        and spec.time_column in spec.merge_keys
    )
    return spec.merge_keys + extra
