"""Where alerts are kept: the lake's ``alerts`` table, or memory (tests, one process)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import polars as pl

from tradelib.alerts.model import AlertRecord
from tradelib.lake.schemas import TableName

if TYPE_CHECKING:
    from tradelib.lake import Lake

ALERTS_TABLE = str(TableName.ALERTS)
RECENT_COLUMNS = ("ts", "kind", "key", "status", "reason")


class AlertStore(Protocol):
    """Stores records; answers what was raised recently (for dedup and rate limits)."""

    def add(self, record: AlertRecord) -> None:
        """Store ``record`` (writing the same alert twice stores it once)."""
        ...

    def recent(self, since: datetime) -> pl.DataFrame:
        """Return the ``RECENT_COLUMNS`` of the records at or after ``since``."""
        ...


class MemoryAlertStore:
    """Records kept in this process only."""

    def __init__(self) -> None:
        self.records: dict[str, AlertRecord] = {}

    def add(self, record: AlertRecord) -> None:
        self.records[record.alert.alert_id] = record

    def recent(self, since: datetime) -> pl.DataFrame:
        rows = [r.row() for r in self.records.values() if r.alert.ts >= since]
        schema: dict[str, pl.DataType] = {"ts": pl.Datetime("us", "UTC")}
        schema.update(dict.fromkeys(RECENT_COLUMNS[1:], pl.String()))
        return pl.DataFrame(
            [{c: row[c] for c in RECENT_COLUMNS} for row in rows], schema=schema, orient="row"
        )


class LakeAlertStore:
    """Records in the lake, so every process sees the same dedup and rate-limit state."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def __repr__(self) -> str:
        return f"LakeAlertStore({self.lake!r})"

    def add(self, record: AlertRecord) -> None:
        self.lake.upsert(ALERTS_TABLE, [record.row()])

    def recent(self, since: datetime) -> pl.DataFrame:
        return self.lake.read(
            ALERTS_TABLE, columns=RECENT_COLUMNS, filter=pl.col("ts") >= since
        ).collect()


def read_alerts(lake: Lake, since: datetime | None = None) -> pl.DataFrame:
    """Return the stored alerts (newest first), at or after ``since`` when given."""
    flt = None if since is None else pl.col("ts") >= since
    return lake.read(ALERTS_TABLE, filter=flt).sort("ts", descending=True).collect()
