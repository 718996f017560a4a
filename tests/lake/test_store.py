"""Scenarios for writing and reading the lake through real Delta tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from deltalake.exceptions import CommitFailedError

from tradelib.errors import CommitConflictError, LakeError, SchemaMismatchError, UnknownTableError
from tradelib.lake import Lake, TableMissingError, UnknownColumnError

from .rows import T0, execution_row, option_row, order_row


def test_append_then_read_round_trips_values_and_types(lake: Lake) -> None:
    written = lake.append("orders", [order_row("o-1"), order_row("o-2", limit_price=None)])

    frame = lake.read("orders").sort("order_ref").collect()
    assert written == 2
    assert frame["order_ref"].to_list() == ["o-1", "o-2"]
    assert frame["limit_price"].to_list() == [1.25, None]
    assert frame["quantity"].dtype == pl.Float64  # the int given was cast
    assert frame["created_at"].to_list() == [T0, T0]
    assert frame["error_code"].null_count() == 2  # missing nullable column filled


def test_reading_a_table_never_written_gives_an_empty_frame_with_its_schema(lake: Lake) -> None:
    frame = lake.read("positions").collect()
    assert frame.height == 0
    assert frame.schema["snapshot_ts"] == pl.Datetime("us", "UTC")
    assert not lake.exists("positions")
    assert lake.version("positions") is None


def test_read_applies_filter_and_column_selection(lake: Lake) -> None:
    lake.append("orders", [order_row("o-1"), order_row("o-2", status="filled")])

    frame = lake.read(
        "orders", columns=["order_ref"], filter=pl.col("status") == "filled"
    ).collect()
    assert frame.to_dicts() == [{"order_ref": "o-2"}]
    with pytest.raises(UnknownColumnError, match="nope"):
        lake.read("orders", columns=["nope"])


def test_polars_and_arrow_input_are_accepted(lake: Lake) -> None:
    frame = pl.DataFrame([order_row("o-1")]).with_columns(pl.col("status").cast(pl.Categorical))
    lake.append("orders", frame)
    lake.append("orders", pa.Table.from_pylist([order_row("o-2")]))
    assert lake.read("orders").collect().height == 2


def test_date_partition_is_derived_from_the_time_column_in_utc(lake: Lake) -> None:
    late_evening = datetime(2024, 3, 1, 23, 59, tzinfo=UTC)
    lake.append("option_snapshots", [option_row(0) | {"ts": late_evening}])
    assert lake.read("option_snapshots").collect()["date"].to_list() == [date(2024, 3, 1)]


def test_repeating_a_txn_id_writes_nothing(lake: Lake) -> None:
    rows = [execution_row("e-1", "o-1"), execution_row("e-2", "o-1")]
    assert lake.append("executions", rows, txn_id="sync-2024-03-01T14:30") == 2
    version = lake.version("executions")

    assert lake.append("executions", rows, txn_id="sync-2024-03-01T14:30") == 0
    assert lake.version("executions") == version
    more = [execution_row("e-3", "o-2")]
    assert lake.append("executions", more, txn_id="sync-2024-03-01T14:31") == 1
    assert lake.read("executions").collect().height == 3


def test_a_second_lake_instance_also_sees_the_txn_id(lake: Lake) -> None:
    lake.append("executions", [execution_row("e-1", "o-1")], txn_id="job-run-7")
    rerun = Lake(lake.root)
    assert rerun.append("executions", [execution_row("e-1", "o-1")], txn_id="job-run-7") == 0


def test_upsert_twice_updates_in_place_without_duplicates(lake: Lake) -> None:
    first = lake.upsert("orders", [order_row("o-1"), order_row("o-2")])
    second = lake.upsert(
        "orders", [order_row("o-2", status="filled", filled_quantity=1), order_row("o-3")]
    )

    frame = lake.read("orders").sort("order_ref").collect()
    assert (first.inserted, first.updated) == (2, 0)
    assert (second.inserted, second.updated) == (1, 1)
    assert frame["order_ref"].to_list() == ["o-1", "o-2", "o-3"]
    assert frame["status"].to_list() == ["submitted", "filled", "submitted"]
    assert frame["filled_quantity"].to_list() == [0.0, 1.0, 0.0]


def test_upsert_keeps_the_last_row_of_duplicate_keys_in_one_batch(lake: Lake) -> None:
    stats = lake.upsert(
        "option_snapshots", [option_row(0, bid=1.0), option_row(0, bid=2.0), option_row(1)]
    )
    frame = lake.read("option_snapshots").sort("ts").collect()
    assert stats.source_rows == 2
    assert frame["bid"].to_list() == [2.0, 1.0]


def test_upsert_on_a_partitioned_table_updates_the_matching_row(lake: Lake) -> None:
    lake.upsert("option_snapshots", [option_row(0, bid=1.0), option_row(0, strike=495.0)])
    lake.upsert("option_snapshots", [option_row(0, bid=1.5)])
    frame = lake.read("option_snapshots", filter=pl.col("strike") == 500.0).collect()
    assert frame["bid"].to_list() == [1.5]
    assert lake.read("option_snapshots").collect().height == 2


def test_upsert_refuses_a_table_without_merge_keys(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradelib.lake import schemas

    spec = schemas.TABLES["job_runs"]
    append_only = schemas.TableSpec(
        spec.name, spec.schema, spec.partition_by, (), spec.time_column, spec.description
    )
    monkeypatch.setitem(schemas.TABLES, "job_runs", append_only)
    with pytest.raises(LakeError, match="append-only"):
        lake.upsert("job_runs", [{"run_id": "r", "job": "sync", "started_at": T0, "status": "ok"}])


def test_unknown_table_is_refused_with_the_known_names(lake: Lake) -> None:
    with pytest.raises(UnknownTableError, match=r"unknown lake table 'order'.*orders"):
        lake.append("order", [order_row("o-1")])
    with pytest.raises(UnknownTableError):
        lake.read("order")


@pytest.mark.parametrize(
    ("bad_row", "column", "problem"),
    [
        ({"status": None}, "status", "null value"),
        ({"created_at": datetime(2024, 3, 1, 9, 30)}, "created_at", "naive timestamp"),
        ({"quantity": "one"}, "quantity", "mixed or unsupported values"),
        ({"legs_json": 3}, "legs_json", "mixed or unsupported values"),
        ({"broker_order_id": 1.5}, "broker_order_id", "double cannot be stored as int64"),
        ({"venue": "SMART"}, None, "unknown column"),
    ],
    ids=[
        "null-in-required",
        "naive-timestamp",
        "text-for-number",
        "number-for-text",
        "float-for-int",
        "extra-column",
    ],
)
def test_schema_mismatch_is_refused_and_nothing_is_written(
    lake: Lake, bad_row: dict[str, object], column: str | None, problem: str
) -> None:
    lake.append("orders", [order_row("o-1")])
    version = lake.version("orders")

    with pytest.raises(SchemaMismatchError, match=problem) as caught:
        lake.append("orders", [order_row("o-2"), order_row("o-3") | bad_row])
    with pytest.raises(SchemaMismatchError):
        lake.upsert("orders", [order_row("o-3") | bad_row])

    assert "'orders'" in str(caught.value)
    if column is not None:
        assert f"column '{column}'" in str(caught.value)
    assert lake.version("orders") == version
    assert lake.read("orders").collect()["order_ref"].to_list() == ["o-1"]


def test_a_frame_with_a_wrong_column_type_is_refused(lake: Lake) -> None:
    frame = pl.DataFrame([order_row("o-1")]).with_columns(pl.col("quantity").cast(pl.String))
    with pytest.raises(SchemaMismatchError, match="'quantity': type large_string cannot be stored"):
        lake.append("orders", frame)
    assert not lake.exists("orders")


def test_a_naive_timestamp_column_in_a_frame_is_refused(lake: Lake) -> None:
    frame = pl.DataFrame([order_row("o-1")]).with_columns(
        pl.col("updated_at").dt.replace_time_zone(None)
    )
    with pytest.raises(SchemaMismatchError, match="'updated_at': naive timestamp"):
        lake.upsert("orders", frame)


def test_missing_required_column_is_named(lake: Lake) -> None:
    row = order_row("o-1")
    del row["intent"]
    with pytest.raises(SchemaMismatchError, match="column 'intent': required column is missing"):
        lake.append("orders", [row])
    assert not lake.exists("orders")


def test_timestamps_in_other_zones_are_stored_as_the_same_instant_in_utc(lake: Lake) -> None:
    frame = pl.DataFrame([execution_row("e-1", "o-1")]).with_columns(
        pl.col("ts").dt.convert_time_zone("America/New_York").dt.cast_time_unit("ns")
    )
    lake.append("executions", frame)
    assert lake.read("executions").collect()["ts"].to_list() == [T0]


def test_duckdb_sql_joins_two_tables(lake: Lake) -> None:
    lake.upsert("orders", [order_row("o-1"), order_row("o-2")])
    lake.append("executions", [execution_row("e-1", "o-1", 1.2), execution_row("e-2", "o-1", 1.3)])

    result = lake.sql(
        """
        select o.order_ref, count(e.exec_id) as fills, round(sum(e.price), 2) as paid
        from orders o left join executions e using (order_ref)
        group by o.order_ref order by o.order_ref
        """
    )
    assert result.to_dicts() == [
        {"order_ref": "o-1", "fills": 2, "paid": 2.5},
        {"order_ref": "o-2", "fills": 0, "paid": None},
    ]


def test_sql_accepts_aliases_for_tables_and_frames(lake: Lake) -> None:
    lake.upsert("orders", [order_row("o-1")])
    extra = pl.DataFrame({"order_ref": ["o-1"], "note": ["hello"]})
    result = lake.sql(
        "select x.order_ref, n.note from x join n using (order_ref)", x="orders", n=extra
    )
    assert result.to_dicts() == [{"order_ref": "o-1", "note": "hello"}]


def test_maintenance_reduces_files_and_keeps_rows(lake: Lake) -> None:
    for minute in range(12):
        lake.append("option_snapshots", [option_row(minute)])
    before = lake.info("option_snapshots")

    reports = lake.maintain(retention_hours=0)

    after = lake.info("option_snapshots")
    assert before.files == 12
    assert after.files == 1
    assert after.rows == before.rows == 12
    assert [r.table for r in reports] == ["option_snapshots"]
    assert reports[0].vacuumed_files == 12
    assert lake.read("option_snapshots").collect().height == 12


def test_maintenance_on_a_missing_table_says_so(lake: Lake) -> None:
    with pytest.raises(TableMissingError, match="does not exist yet"):
        lake.compact("orders")
    assert lake.maintain() == []


def test_tables_lists_every_declared_table(lake: Lake) -> None:
    lake.append("orders", [order_row("o-1"), order_row("o-2")])
    infos = {info.name: info for info in lake.tables()}
    assert infos["orders"].exists and infos["orders"].rows == 2 and infos["orders"].files == 1
    assert infos["orders"].size_bytes > 0
    assert not infos["positions"].exists and infos["positions"].version is None


def test_from_config_resolves_a_relative_lake_against_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = SimpleNamespace(lake_uri="data/lake", commit_retries=3, storage_options=lambda: {})
    monkeypatch.chdir(tmp_path)
    lake = Lake.from_config(SimpleNamespace(storage=storage))
    assert lake.root == str(tmp_path / "data" / "lake")
    assert lake.commit_retries == 3
    assert lake.storage_options is None


def test_from_config_accepts_the_real_trading_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradelib.config import TradingConfig

    monkeypatch.chdir(tmp_path)
    lake = Lake.from_config(TradingConfig())
    assert lake.root == str(tmp_path / "data" / "lake")


def test_a_transient_commit_conflict_is_retried(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake import write_deltalake as real_write

    failures = iter([CommitFailedError("conflict"), CommitFailedError("conflict")])

    def flaky_write(*args: Any, **kwargs: Any) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real_write(*args, **kwargs)

    monkeypatch.setattr("tradelib.lake.store.write_deltalake", flaky_write)
    assert lake.append("orders", [order_row("o-1")], txn_id="t-1") == 1
    assert lake.read("orders").collect().height == 1


def test_a_persistent_commit_conflict_gives_up_after_the_configured_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    def always_conflicting(*args: Any, **kwargs: Any) -> None:
        attempts.append(1)
        raise CommitFailedError("Failed to commit transaction: 15")

    monkeypatch.setattr("tradelib.lake.store.write_deltalake", always_conflicting)
    lake = Lake(tmp_path / "lake", commit_retries=2)
    with pytest.raises(CommitConflictError, match="after 3 attempts"):
        lake.append("orders", [order_row("o-1")])
    assert len(attempts) == 3
    assert lake.read("orders").collect().height == 0
