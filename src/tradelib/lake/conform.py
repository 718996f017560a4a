"""Bring incoming rows to a table's declared schema, or refuse them.

Compatible input is cast (ints to floats, large/view strings to strings,
dictionary-encoded strings to strings, other timestamp units or time zones to
UTC microseconds). Anything that could silently change meaning is refused:
naive timestamps, missing required columns, unknown columns, nulls in
non-nullable columns, incompatible types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from tradelib.errors import SchemaMismatchError
from tradelib.lake.schemas import TableSpec

TableData: TypeAlias = (
    pl.DataFrame | pl.LazyFrame | pa.Table | pa.RecordBatch | Sequence[Mapping[str, Any]]
)


def _mismatch(spec: TableSpec, problem: str, column: str | None = None) -> SchemaMismatchError:
    text = f"column '{column}': {problem}" if column else problem
    return SchemaMismatchError(table=spec.name, problem=text, column=column)


def to_arrow(spec: TableSpec, data: TableData) -> pa.Table:
    """Turn any accepted input into an Arrow table, without checking the schema."""
    if isinstance(data, pl.LazyFrame):
        data = data.collect()
    if isinstance(data, pl.DataFrame):
        return data.to_arrow()
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return _rows_to_arrow(spec, data)
    raise _mismatch(
        spec,
        f"unsupported input {type(data).__name__}; "
        "give a polars DataFrame, a pyarrow Table or a list of dicts",
    )


def _rows_to_arrow(spec: TableSpec, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Build columns from row dicts, looking at every row (not just the first)."""
    if not rows:
        return spec.schema.empty_table()
    if not all(isinstance(row, Mapping) for row in rows):
        raise _mismatch(spec, "rows must be mappings of column name to value")
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    arrays = []
    for name in names:
        values = [row.get(name) for row in rows]
        # pyarrow would read a naive datetime as UTC without a word: refuse it here
        if any(isinstance(v, datetime) and v.tzinfo is None for v in values):
            raise _mismatch(
                spec, "naive timestamp (no time zone); give timezone-aware UTC times", name
            )
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise _mismatch(spec, f"mixed or unsupported values ({exc})", name) from exc
    return pa.Table.from_arrays(arrays, names=list(names))


def _cast_column(spec: TableSpec, field: pa.Field, column: pa.ChunkedArray) -> pa.ChunkedArray:
    source, target = column.type, field.type
    if pa.types.is_dictionary(source):
        column = column.cast(source.value_type)
        source = column.type
    if source.equals(target):
        return column
    safe = True
    if pa.types.is_null(source):
        compatible = True
    elif pa.types.is_timestamp(target):
        if pa.types.is_timestamp(source) and source.tz is None:
            raise _mismatch(
                spec, "naive timestamp (no time zone); give timezone-aware UTC times", field.name
            )
        compatible = pa.types.is_timestamp(source)
        safe = False  # ns -> us truncates sub-microsecond digits, which we do not keep
    elif pa.types.is_date(target):
        compatible = pa.types.is_date(source)
    elif pa.types.is_floating(target):
        compatible = (
            pa.types.is_integer(source)
            or pa.types.is_floating(source)
            or pa.types.is_decimal(source)
        )
    elif pa.types.is_integer(target):
        compatible = pa.types.is_integer(source)
    elif pa.types.is_string(target):
        compatible = (
            pa.types.is_string(source)
            or pa.types.is_large_string(source)
            or pa.types.is_string_view(source)
        )
    elif pa.types.is_binary(target):
        compatible = (
            pa.types.is_binary(source)
            or pa.types.is_large_binary(source)
            or pa.types.is_binary_view(source)
        )
    else:
        compatible = False
    if not compatible:
        raise _mismatch(spec, f"type {source} cannot be stored as {target}", field.name)
    try:
        return column.cast(target, safe=safe)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _mismatch(spec, f"cannot cast {source} to {target} ({exc})", field.name) from exc


def conform(spec: TableSpec, data: TableData) -> pa.Table:
    """Return ``data`` as an Arrow table with exactly ``spec.schema``, or raise.

    Missing nullable columns are filled with nulls; a missing ``date`` partition
    column is derived from the time column (UTC calendar date).

    Raises:
        SchemaMismatchError: naming the table, the column and the problem.
    """
    table = to_arrow(spec, data)
    extra = [name for name in table.column_names if name not in spec.schema.names]
    if extra:
        raise _mismatch(spec, f"unknown column(s) {extra}; the table has {list(spec.columns)}")
    if len(set(table.column_names)) != len(table.column_names):
        raise _mismatch(spec, f"duplicate column names in {table.column_names}")
    rows = table.num_rows
    derive_date = spec.derives_date and "date" not in table.column_names
    columns: dict[str, pa.ChunkedArray] = {}
    for field in spec.schema:
        if field.name in table.column_names:
            columns[field.name] = _cast_column(spec, field, table.column(field.name))
        elif derive_date and field.name == "date":
            continue
        elif field.nullable:
            columns[field.name] = pa.chunked_array([pa.nulls(rows, field.type)])
        else:
            raise _mismatch(spec, "required column is missing", field.name)
    if derive_date:
        if spec.time_column not in columns:
            raise _mismatch(spec, "required column is missing", spec.time_column)
        # the time column is UTC by now, so this is the UTC calendar date
        columns["date"] = pc.cast(columns[spec.time_column], pa.date32())
    for field in spec.schema:
        nulls = columns[field.name].null_count
        if nulls and not field.nullable:
            raise _mismatch(spec, f"{nulls} null value(s) in a non-nullable column", field.name)
    return pa.Table.from_arrays([columns[f.name] for f in spec.schema], schema=spec.schema)
