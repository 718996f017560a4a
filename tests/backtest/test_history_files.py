"""Loading user-brought daily bars: the common export as is, and every bad file explained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradelib.backtest.history.files import load_daily_bars
from tradelib.errors import BacktestDataError
from tradelib.markethours import MarketHours

DATA = Path(__file__).parent / "data"
HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
GOOD = [
    "2022-03-01,100,102,99,101,100.5,1000",
    "2022-03-02,101,103,100,102,101.5,1100",
    "2022-03-03,102,104,101,103,102.5,1200",
    "2022-03-04,103,105,102,104,103.5,1300",
]


@pytest.fixture(scope="module")
def hours() -> MarketHours:
    return MarketHours()


def write(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "SPY.csv") -> Path:
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def problem(tmp_path: Path, rows: list[str], hours: MarketHours, header: str = HEADER) -> str:
    path = write(tmp_path, rows, header)
    with pytest.raises(BacktestDataError) as err:
        load_daily_bars(path, hours=hours)
    assert str(path) in str(err.value)
    return str(err.value)


def test_the_common_export_loads_as_is(hours: MarketHours) -> None:
    bars = load_daily_bars(DATA / "SPY.csv", hours=hours)
    assert bars.symbol == "SPY"
    assert len(bars) == len(hours.trading_days(bars.first_day, bars.last_day))
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert bars.adj_close is not None and bars.volume.dtype == np.int64


def test_parquet_and_lowercase_columns_load_the_same(tmp_path: Path, hours: MarketHours) -> None:
    import polars as pl

    csv = load_daily_bars(write(tmp_path, GOOD), hours=hours)
    frame = pl.read_csv(write(tmp_path, GOOD)).rename(lambda c: c.lower().replace(" ", "_"))
    frame.write_parquet(tmp_path / "QQQ.parquet")
    pq = load_daily_bars(tmp_path / "QQQ.parquet", hours=hours)
    assert pq.symbol == "QQQ"
    np.testing.assert_array_equal(pq.close, csv.close)
    np.testing.assert_array_equal(pq.day, csv.day)


def test_a_gap_names_the_missing_sessions_and_the_rows_around_them(
    tmp_path: Path, hours: MarketHours
) -> None:
    msg = problem(tmp_path, [GOOD[0], GOOD[3]], hours)
    assert "gap between row 1 (line 2) and row 2 (line 3)" in msg
    assert "2022-03-02..2022-03-03 (2 sessions)" in msg


def test_an_exchange_holiday_is_not_a_gap(tmp_path: Path, hours: MarketHours) -> None:
    rows = [
        "2022-04-14,100,102,99,101,101,1",
        "2022-04-18,101,103,100,102,102,1",
    ]  # Good Friday between
    bars = load_daily_bars(write(tmp_path, rows), hours=hours)
    assert len(bars) == 2


def test_a_row_on_a_holiday_is_refused(tmp_path: Path, hours: MarketHours) -> None:
    rows = [
        "2022-04-14,100,102,99,101,101,1",
        "2022-04-15,101,103,100,102,102,1",
        "2022-04-18,1,2,1,1,1,1",
    ]
    assert "row 2 (line 3): 2022-04-15 is not a trading day on XNYS" in problem(
        tmp_path, rows, hours
    )


def test_duplicate_dates_are_named(tmp_path: Path, hours: MarketHours) -> None:
    msg = problem(tmp_path, [GOOD[0], GOOD[1], GOOD[1], GOOD[2]], hours)
    assert "row 3 (line 4): duplicate date 2022-03-02" in msg


def test_unsorted_rows_are_named(tmp_path: Path, hours: MarketHours) -> None:
    msg = problem(tmp_path, [GOOD[0], GOOD[2], GOOD[1], GOOD[3]], hours)
    assert "row 3 (line 4): date 2022-03-02 comes after 2022-03-03" in msg


def test_non_positive_prices_are_named_per_column(tmp_path: Path, hours: MarketHours) -> None:
    rows = [GOOD[0], "2022-03-02,101,103,0,102,101.5,1100", GOOD[2]]
    msg = problem(tmp_path, rows, hours)
    assert "row 2 (line 3): low 0 is not positive" in msg


def test_high_below_low_and_close_outside_the_range(tmp_path: Path, hours: MarketHours) -> None:
    rows = [GOOD[0], "2022-03-02,101,99,100,100,100,1", "2022-03-03,102,104,101,110,110,1"]
    msg = problem(tmp_path, rows, hours)
    assert "row 2 (line 3): high 99 is below low 100" in msg
    assert "row 3 (line 4): close 110 is outside the day's range [101, 104]" in msg


def test_an_unknown_column_is_named(tmp_path: Path, hours: MarketHours) -> None:
    msg = problem(tmp_path, [r + ",x" for r in GOOD], hours, header=HEADER + ",Dividends")
    assert "unknown column 'Dividends'" in msg


def test_a_missing_column_is_named(tmp_path: Path, hours: MarketHours) -> None:
    rows = [",".join(r.split(",")[:4]) for r in GOOD]
    msg = problem(tmp_path, rows, hours, header="Date,Open,High,Low")
    assert "missing column(s) close" in msg


def test_null_cells_and_bad_dates_are_named(tmp_path: Path, hours: MarketHours) -> None:
    rows = [GOOD[0], "2022-03-02,null,null,null,null,null,null", "03/03/2022,1,2,1,1,1,1"]
    msg = problem(tmp_path, rows, hours)
    assert "row 2 (line 3): open is missing" in msg
    assert "row 3 (line 4): date '03/03/2022' is not YYYY-MM-DD" in msg


def test_a_vol_index_needs_only_date_and_close(tmp_path: Path, hours: MarketHours) -> None:
    path = write(
        tmp_path,
        ["2022-03-01,20", "2022-03-02,25", "2022-03-03,22"],
        header="Date,Close",
        name="^VIX.csv",
    )
    vix = load_daily_bars(path, hours=hours, vol_index=True)
    assert vix.symbol == "VIX"
    np.testing.assert_array_equal(vix.open, [20, 20, 25])
    np.testing.assert_array_equal(vix.high, [20, 25, 25])
    np.testing.assert_array_equal(vix.low, [20, 20, 22])
