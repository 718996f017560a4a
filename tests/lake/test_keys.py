"""Declared merge keys mean something: no write to a keyed table ever creates a duplicate key."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pytest

from tradelib.lake import TABLES, Lake, TableSpec

T0 = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
KEYED = [spec for spec in TABLES.values() if spec.merge_keys]


def _value(dtype: pa.DataType, n: int) -> Any:
    if pa.types.is_timestamp(dtype):
        return T0
    if pa.types.is_date(dtype):
        return date(2026, 11, 3)
    if pa.types.is_boolean(dtype):
        return False
    if pa.types.is_integer(dtype):
        return n
    if pa.types.is_floating(dtype):
        return 1.5 + n
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return f"v{n}"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return f"b{n}".encode()
    raise AssertionError(f"no sample for {dtype}")


def sample_row(spec: TableSpec, n: int = 1) -> dict[str, Any]:
    """A row for ``spec`` with every column filled (``n`` varies the non-key values)."""
    return {
        f.name: _value(f.type, 1 if f.name in spec.merge_keys else n)
        for f in spec.schema
        if not (spec.derives_date and f.name == "date")
    }


@pytest.mark.parametrize("spec", KEYED, ids=lambda spec: spec.name)
def test_an_append_under_another_txn_id_never_duplicates_a_key(lake: Lake, spec: TableSpec) -> None:
    assert lake.append(spec.name, [sample_row(spec, 1)], txn_id="writer-a") == 1
    assert lake.append(spec.name, [sample_row(spec, 2)], txn_id="writer-b") == 0
    assert lake.append(spec.name, [sample_row(spec, 3)]) == 0
    assert lake.read(spec.name).collect().height == 1


@pytest.mark.parametrize("spec", KEYED, ids=lambda spec: spec.name)
def test_a_batch_repeating_a_key_keeps_one_row(lake: Lake, spec: TableSpec) -> None:
    assert lake.append(spec.name, [sample_row(spec, 1), sample_row(spec, 2)]) == 1
    assert lake.upsert(spec.name, [sample_row(spec, 3)]).updated == 1
    assert lake.read(spec.name).collect().height == 1
