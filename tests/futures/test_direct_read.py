"""read_bars scans the Delta table's own Parquet files for the pruned partitions: same rows as Delta."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tradelib.lake import Lake
from tradelib.stores import futures as data
from tradelib.stores.futures import BARS_TABLE, CLOSE, TS, bar_rows, read_bars

START = datetime(2026, 11, 23, 23, 59, 0, tzinfo=UTC)  # across a UTC midnight: two date partitions


def _bars(n: int, price: float) -> pl.DataFrame:
    ts = [START + timedelta(seconds=i) for i in range(n)]
    return pl.DataFrame(
        {
            "ts": ts,
            "open": [price + i for i in range(n)],
            "high": [price + i for i in range(n)],
            "low": [price + i for i in range(n)],
            "close": [price + i for i in range(n)],
            "volume": [1.0] * n,
        }
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    lake.append(BARS_TABLE, bar_rows(_bars(120, 6000.0), "ES", "ESZ6"))
    lake.append(BARS_TABLE, bar_rows(_bars(120, 600.0), "SPY", "SPY"))
    lake.upsert(
        BARS_TABLE, bar_rows(_bars(10, 7000.0), "ES", "ESZ6")
    )  # rewrites files: old ones leave the log
    return lake


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        (START + timedelta(seconds=30), None),
        (None, START + timedelta(seconds=61)),
        (START + timedelta(seconds=5), START + timedelta(seconds=90)),
    ],
)
def test_direct_read_returns_what_the_delta_scan_returns(
    lake: Lake, start: datetime | None, end: datetime | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = read_bars(lake, ["ES"], start, end, columns=(TS, CLOSE)).collect().sort(TS)
    assert data._partition_files(lake, [("symbol", "in", ["ES"])])  # the direct path was taken
    monkeypatch.setattr(data, "_partition_files", lambda *_a: None)
    via_delta = read_bars(lake, ["ES"], start, end, columns=(TS, CLOSE)).collect().sort(TS)
    assert direct.equals(via_delta)
    assert direct.height > 0 and direct["symbol"].unique().to_list() == ["ES"]
    if start is None:  # the upsert replaced the first ten bars
        assert direct.filter(pl.col(TS) < START + timedelta(seconds=10))[CLOSE].to_list()[:2] == [
            7000.0,
            7001.0,
        ]


def test_a_missing_table_or_symbol_reads_empty(tmp_path: Path, lake: Lake) -> None:
    assert read_bars(Lake(tmp_path / "nothing"), ["ES"]).collect().height == 0
    assert read_bars(lake, ["NQ"]).collect().height == 0
