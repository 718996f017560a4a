"""A lake held in memory: the same tables, schemas and write rules, no files.

A backtest runs the real jobs day after day; written to Delta, every job's
rows would be a commit (tens of milliseconds each, thousands per simulated
year). ``MemoryLake`` is a ``Lake`` whose tables are polars frames in this
process: rows are conformed to the declared schema exactly as on disk, keyed
tables never hold a duplicate key (``append`` is insert-only, ``upsert``
replaces), transaction ids make an append idempotent, and reads return lazy
frames with the table's schema. What a run wants to keep is written to a real
lake once, at the end (``copy_to``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from tradelib.errors import LakeError
from tradelib.lake.conform import TableData, conform
from tradelib.lake.schemas import TableSpec
from tradelib.lake.store import (
    Lake,
    MaintenanceReport,
    MergeStats,
    TableInfo,
    _last_per_key,
    narrowed,
)


class MemoryLake(Lake):
    """Every tradelib table as an in-memory polars frame (one process, one writer)."""

    def __init__(self, name: str = "memory") -> None:
        super().__init__(f"memory://{name}")
        self._frames: dict[str, pl.DataFrame] = {}
        self._versions: dict[str, int] = {}
        self._txns: dict[str, set[str]] = {}

    def __repr__(self) -> str:
        return f"MemoryLake({self.root!r})"

    # --- writes ------------------------------------------------------------------
    def _rows(self, spec: TableSpec, data: TableData) -> pl.DataFrame:
        rows = conform(spec, data)
        # One row holds no duplicate key: nothing to keep the last of.
        if spec.merge_keys and rows.num_rows > 1:
            rows = _last_per_key(rows, spec.merge_keys)
        frame = pl.from_arrow(rows)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def _store(self, spec: TableSpec, frame: pl.DataFrame) -> None:
        held = self._frames.get(spec.name)
        self._frames[spec.name] = frame if held is None else pl.concat([held, frame])
        self._versions[spec.name] = self._versions.get(spec.name, -1) + 1

    def append(self, table: str, data: TableData, *, txn_id: str | None = None) -> int:
        """Append rows (insert-only on keyed tables; idempotent per ``txn_id``); rows written."""
        spec = self.spec(table)
        rows = self._rows(spec, data)
        if rows.height == 0:
            return 0
        done = self._txns.setdefault(spec.name, set())
        if txn_id is not None and txn_id in done:
            return 0
        held = self._frames.get(spec.name)
        if spec.merge_keys and held is not None and held.height:
            keys = list(spec.merge_keys)
            rows = rows.join(held.select(keys), on=keys, how="anti", nulls_equal=True)
        if rows.height == 0:
            return 0
        if txn_id is not None:
            done.add(txn_id)
        self._store(spec, rows)
        return rows.height

    def upsert(self, table: str, data: TableData) -> MergeStats:
        """Merge rows on the merge keys: matches are replaced, the rest inserted."""
        spec = self.spec(table)
        if spec.append_only:
            raise LakeError(
                table=spec.name, problem="append-only table (no merge keys); use append"
            )
        rows = self._rows(spec, data)
        if rows.height == 0:
            return MergeStats(spec.name, 0, 0, 0, self._versions.get(spec.name))
        keys = list(spec.merge_keys)
        held = self._frames.get(spec.name)
        updated = 0
        if held is not None and held.height:
            kept = held.join(rows.select(keys), on=keys, how="anti", nulls_equal=True)
            updated = held.height - kept.height
            self._frames[spec.name] = kept
        self._store(spec, rows)
        return MergeStats(
            spec.name, rows.height, rows.height - updated, updated, self._versions[spec.name]
        )

    # --- reads -------------------------------------------------------------------
    def read(
        self,
        table: str,
        *,
        columns: list[str] | tuple[str, ...] | None = None,
        filter: pl.Expr | None = None,
    ) -> pl.LazyFrame:
        """The table as a lazy frame (empty, with the schema, before its first write)."""
        spec = self.spec(table)
        held = self._frames.get(spec.name)
        return narrowed(spec, (spec.empty() if held is None else held).lazy(), columns, filter)

    def exists(self, table: str) -> bool:
        return self.spec(table).name in self._frames

    @property
    def is_local(self) -> bool:
        return False  # nothing on disk: the demo's run marker does not apply

    def drop_all(self) -> list[str]:
        dropped = sorted(self._frames)
        self._frames.clear()
        self._versions.clear()
        self._txns.clear()
        return dropped

    def version(self, table: str) -> int | None:
        return self._versions.get(self.spec(table).name)

    def info(self, table: str) -> TableInfo:
        spec = self.spec(table)
        held = self._frames.get(spec.name)
        if held is None:
            return TableInfo(spec.name, False, 0, None, 0, 0)
        return TableInfo(
            spec.name, True, held.height, self._versions[spec.name], 1, int(held.estimated_size())
        )

    # --- maintenance: nothing to compact in memory ---------------------------------
    def compact(self, table: str) -> dict[str, Any]:
        self.spec(table)
        return {}

    def checkpoint(self, table: str) -> None:
        self.spec(table)

    def vacuum(self, table: str, retention_hours: int = 0) -> list[str]:
        self.spec(table)
        return []

    def maintain(self, retention_hours: int = 0) -> list[MaintenanceReport]:
        return []

    # --- keeping what a run made ----------------------------------------------------
    def frame(self, table: str) -> pl.DataFrame:
        """The whole table as an eager frame (empty, with the schema, if never written)."""
        return self.read(table).collect()

    def copy_to(self, lake: Lake, tables: Iterable[str]) -> dict[str, int]:
        """Write ``tables`` into ``lake``, one write each (rows whose key it holds are left out)."""
        out: dict[str, int] = {}
        for name in tables:
            spec = self.spec(name)
            held = self._frames.get(spec.name)
            # insert-only: rows whose key the lake already holds (a re-run) are left out
            out[spec.name] = 0 if held is None or not held.height else lake.append(spec.name, held)
        return out
