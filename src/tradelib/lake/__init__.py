"""Delta Lake persistence: one declared schema per table, idempotent batched writes."""

from tradelib.lake.schemas import TABLES, TableName, TableSpec
from tradelib.lake.store import (
    Lake,
    MaintenanceReport,
    MergeStats,
    TableInfo,
    TableMissingError,
    UnknownColumnError,
)

__all__ = [
    "TABLES",
    "Lake",
    "MaintenanceReport",
    "MergeStats",
    "TableInfo",
    "TableMissingError",
    "TableName",
    "TableSpec",
    "UnknownColumnError",
]
