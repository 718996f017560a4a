"""Every table is declared once, and its declaration is self-consistent."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tradelib.lake import TABLES, TableName, TableSpec


@pytest.mark.parametrize("spec", TABLES.values(), ids=lambda spec: spec.name)
def test_keys_partitions_and_time_column_are_columns_of_the_schema(spec: TableSpec) -> None:
    for column in (*spec.partition_by, *spec.merge_keys, spec.time_column):
        assert column in spec.columns, f"{spec.name}: {column} is not a column"
    assert len(set(spec.columns)) == len(spec.columns)


@pytest.mark.parametrize("spec", TABLES.values(), ids=lambda spec: spec.name)
def test_keys_and_partitions_can_never_be_null(spec: TableSpec) -> None:
    for column in (*spec.partition_by, *spec.merge_keys):
        assert column in spec.required_columns, f"{spec.name}: {column} is nullable"


@pytest.mark.parametrize("spec", TABLES.values(), ids=lambda spec: spec.name)
def test_timestamps_are_utc_microseconds(spec: TableSpec) -> None:
    for field in spec.schema:
        if pa.types.is_timestamp(field.type):
            assert field.type == pa.timestamp("us", tz="UTC"), f"{spec.name}.{field.name}"


def test_every_table_name_has_exactly_one_spec() -> None:
    assert set(TABLES) == {name.value for name in TableName}
    assert all(spec.name == name for name, spec in TABLES.items())


def test_date_partitioned_tables_derive_date_from_their_time_column() -> None:
    derived = {name for name, spec in TABLES.items() if spec.derives_date}
    assert derived == {
        "account_snapshots",
        "positions",
        "decisions",
        "option_snapshots",
        "futures_bars",
        "limit_breaches",
        "risk_limit_use",
    }


def test_column_lookup_refuses_a_misspelt_name() -> None:
    orders = TABLES[TableName.ORDERS]
    assert orders.column("order_ref") == "order_ref"
    with pytest.raises(KeyError, match="no column 'order_reference'"):
        orders.column("order_reference")


def test_empty_frame_carries_the_declared_types() -> None:
    frame = TABLES[TableName.FUTURES_BARS].empty()
    assert frame.height == 0
    assert frame.columns == list(TABLES[TableName.FUTURES_BARS].columns)
    assert str(frame.schema["ts"]) == "Datetime(time_unit='us', time_zone='UTC')"
