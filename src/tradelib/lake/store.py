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

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from tradelib.errors import LakeError, UnknownTableError
from tradelib.lake.commits import DEFAULT_EXPECTED_WRITERS, LakeCommits, _is_remote
from tradelib.lake.conditional_put import ConditionalPutError as ConditionalPutError
from tradelib.lake.conditional_put import StoreVerification
from tradelib.lake.conditional_put import _verified_roots as _verified_roots
from tradelib.lake.conform import TableData, conform
from tradelib.lake.maintenance import (
    DEFAULT_VACUUM_RETENTION_HOURS as DEFAULT_VACUUM_RETENTION_HOURS,
)
from tradelib.lake.maintenance import LakeMaintenance
from tradelib.lake.maintenance import MaintenanceReport as MaintenanceReport
from tradelib.lake.schemas import TABLES, TableSpec
from tradelib.objectstore import env_storage_options

# app transactions (txn_id) are kept this long; a re-run within it writes nothing
TXN_RETENTION = "interval 30 days"
# A checkpoint every 10 commits (Delta's default is 100): a txn-id lookup or a refresh
# replays at most 10 JSON commits. On S3 each is a GET: 80 small appends with txn ids
# on moto took 22 s at the default and 12 s at 10.
CHECKPOINT_INTERVAL = "10"


class UnknownColumnError(LakeError):
    """A read asked for a column the table does not have."""

    template = "table '{table}' has no column(s) {columns} (columns: {known})"


class TableMissingError(LakeError):
    """A maintenance operation was asked for a table that has never been written."""

    template = "table '{table}' does not exist yet in the lake at {root}"


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


class Lake(LakeMaintenance, StoreVerification, LakeCommits):
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
