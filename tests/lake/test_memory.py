"""The in-memory lake keeps the disk lake's rules: same rows in, same table out."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tradelib.errors import LakeError, SchemaMismatchError
from tradelib.lake import Lake
from tradelib.lake.memory import MemoryLake
from tradelib.lake.store import UnknownColumnError

from .rows import execution_row, option_row, order_row


def _both(tmp_path: Path) -> tuple[Lake, MemoryLake]:
    return Lake(tmp_path / "disk"), MemoryLake("test")


def _same(disk: Lake, memory: MemoryLake, table: str, key: str) -> pl.DataFrame:
    a = disk.read(table).collect().sort(key)
    b = memory.read(table).collect().sort(key)
    assert a.schema == b.schema
    assert a.to_dicts() == b.to_dicts()
    return b


def test_keyed_appends_and_upserts_leave_the_same_table(tmp_path: Path) -> None:
    disk, memory = _both(tmp_path)
    for lake in (disk, memory):
        assert lake.append("orders", [order_row("r1"), order_row("r2")]) == 2
        # a batch repeating a key keeps its last row; a held key is left out (insert-only)
        assert (
            lake.append(
                "orders", [order_row("r3"), order_row("r3", "filled"), order_row("r1", "filled")]
            )
            == 1
        )
        stats = lake.upsert("orders", [order_row("r2", "cancelled"), order_row("r4")])
        assert (stats.inserted, stats.updated) == (1, 1)
    table = _same(disk, memory, "orders", "order_ref")
    assert dict(zip(table["order_ref"], table["status"], strict=True)) == {
        "r1": "submitted",
        "r2": "cancelled",
        "r3": "filled",
        "r4": "submitted",
    }


def test_a_transaction_id_makes_an_append_happen_once(tmp_path: Path) -> None:
    disk, memory = _both(tmp_path)
    for lake in (disk, memory):
        rows = [option_row(m) for m in range(3)]
        assert lake.append("option_snapshots", rows, txn_id="batch-1") == 3
        assert lake.append("option_snapshots", rows, txn_id="batch-1") == 0
    _same(disk, memory, "option_snapshots", "ts")


def test_reads_filter_and_select_like_the_disk_lake(tmp_path: Path) -> None:
    disk, memory = _both(tmp_path)
    for lake in (disk, memory):
        lake.append("executions", [execution_row(f"e{i}", "r1", 1.0 + i) for i in range(4)])
    flt = pl.col("price") > 2.5
    got = [
        lake.read("executions", columns=["exec_id", "price"], filter=flt).collect().sort("exec_id")
        for lake in (disk, memory)
    ]
    assert (
        got[0].to_dicts()
        == got[1].to_dicts()
        == [
            {"exec_id": "e2", "price": 3.0},
            {"exec_id": "e3", "price": 4.0},
        ]
    )
    assert memory.sql("select count(*) as n from executions")["n"][0] == 4


def test_bad_rows_and_unknown_columns_are_refused_with_nothing_written() -> None:
    memory = MemoryLake()
    with pytest.raises(SchemaMismatchError, match="naive"):
        memory.append(
            "orders",
            [order_row("r1", created_at=order_row("x")["created_at"].replace(tzinfo=None))],
        )
    assert not memory.exists("orders")
    with pytest.raises(UnknownColumnError):
        memory.read("orders", columns=["nope"])
    with pytest.raises(LakeError, match="unknown lake table"):
        memory.append("no_such_table", [])


def test_copy_to_writes_a_run_into_a_real_lake_once(tmp_path: Path) -> None:
    memory = MemoryLake()
    memory.append("orders", [order_row("r1"), order_row("r2")])
    disk = Lake(tmp_path / "out")
    assert memory.copy_to(disk, ["orders", "executions"]) == {"orders": 2, "executions": 0}
    assert memory.copy_to(disk, ["orders"]) == {"orders": 0}  # same rows again: nothing new
    assert disk.read("orders").collect().height == 2
