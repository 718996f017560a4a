"""Importing end-of-day chains: the schema round trip, and each bad row named."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.backtest.conftest import chain_rows

from tradelib.backtest.chains.importer import load_chains
from tradelib.errors import BacktestDataError
from tradelib.markethours import MarketHours

DAYS = [date(2022, 3, 1), date(2022, 3, 2)]


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return chain_rows("SPY", DAYS, max_expiries=2)


def csv(tmp_path: Path, df: pl.DataFrame, name: str = "chains.csv") -> Path:
    path = tmp_path / name
    df.write_csv(path)
    return path


def error(path: Path | list[Path], **kw: object) -> str:
    with pytest.raises(BacktestDataError) as err:
        load_chains(path, **kw)  # type: ignore[arg-type]
    return str(err.value)


def test_a_chain_file_round_trips_sorted_with_calls_first(
    tmp_path: Path, rows: pl.DataFrame
) -> None:
    shuffled = rows.sample(fraction=1.0, shuffle=True, seed=3)
    store = load_chains(csv(tmp_path, shuffled))
    assert len(store) == rows.height and store.underlyings == ("SPY",)
    assert store.days("SPY") == DAYS
    expiry = store.expiries("SPY", DAYS[1])[1]
    sel = store.expiry_rows("SPY", DAYS[1], expiry)
    assert np.all(np.diff(store.strike[sel]) >= 0)
    assert store.is_call[sel][0] and not store.is_call[sel][1]
    want = rows.filter((pl.col("quote_date") == DAYS[1]) & (pl.col("expiry") == expiry)).sort(
        ["strike", "right"]
    )
    np.testing.assert_array_equal(store.columns["bid"][sel], want["bid"].to_numpy())
    assert store.has >= {"iv", "delta", "open_interest"}


def test_parquet_loads_like_csv_and_files_combine(tmp_path: Path, rows: pl.DataFrame) -> None:
    first = rows.filter(pl.col("quote_date") == DAYS[0])
    second = rows.filter(pl.col("quote_date") == DAYS[1])
    second.write_parquet(tmp_path / "b.parquet")
    store = load_chains([csv(tmp_path, first, "a.csv"), tmp_path / "b.parquet"])
    assert len(store) == rows.height and store.days("SPY") == DAYS


def test_vendor_column_names_and_right_spellings_are_accepted(
    tmp_path: Path, rows: pl.DataFrame
) -> None:
    vendor = rows.select(
        pl.col("underlying").alias("Symbol"),
        pl.col("quote_date").alias("QuoteDate"),
        pl.col("expiry").alias("Expiration"),
        pl.col("strike").alias("Strike"),
        pl.when(pl.col("right") == "C").then(pl.lit("call")).otherwise(pl.lit("PUT")).alias("Type"),
        pl.col("bid").alias("Bid"),
        pl.col("ask").alias("Ask"),
    )
    store = load_chains(csv(tmp_path, vendor))
    assert int(store.is_call.sum()) == rows.filter(pl.col("right") == "C").height
    assert store.has == {"underlying", "quote_date", "expiry", "strike", "right", "bid", "ask"}


def bad(rows: pl.DataFrame, i: int, **values: object) -> pl.DataFrame:
    df = rows.head(10).cast(
        {"bid": pl.String, "ask": pl.String, "right": pl.String, "expiry": pl.String}
    )
    return df.with_columns(
        [
            pl.when(pl.int_range(pl.len()) == i).then(pl.lit(str(v))).otherwise(pl.col(k)).alias(k)
            for k, v in values.items()
        ]
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"bid": "9.5", "ask": "9.0"},
            "row 4 (line 5), column bid: 9.5 is above the ask (crossed)",
        ),
        ({"bid": "-0.05"}, "row 4 (line 5), column bid: -0.05 is negative"),
        ({"right": "X"}, "row 4 (line 5), column right: 'X' is not C, P, CALL or PUT"),
        (
            {"expiry": "2022-02-28"},
            "row 4 (line 5), column expiry: 2022-02-28 is before the quote date",
        ),
        ({"ask": "abc"}, "row 4 (line 5), column ask: 'abc' is not a number"),
        (
            {"expiry": "03/18/2022"},
            "row 4 (line 5), column expiry: '03/18/2022' is not a date (YYYY-MM-DD)",
        ),
        ({"ask": ""}, "row 4 (line 5), column ask: (empty) is missing"),
    ],
)
def test_each_bad_row_is_named_with_its_column(
    tmp_path: Path, rows: pl.DataFrame, change: dict[str, str], expected: str
) -> None:
    path = csv(tmp_path, bad(rows, 3, **change))
    msg = error(path)
    assert str(path) in msg
    assert expected in msg


def test_problems_are_counted_and_listed_in_row_order(tmp_path: Path, rows: pl.DataFrame) -> None:
    df = rows.head(50).with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 9).then(-1.0).otherwise(pl.col("bid")).alias("bid")
    )
    msg = error(csv(tmp_path, df))
    assert "5 problem(s) (5 x bid is negative)" in msg
    assert msg.index("row 10 ") < msg.index("row 20 ") < msg.index("row 50 ")


def test_unknown_and_missing_columns(tmp_path: Path, rows: pl.DataFrame) -> None:
    extra = rows.head(5).with_columns(pl.lit(1).alias("vendor_flag"))
    assert "unknown column 'vendor_flag'" in error(csv(tmp_path, extra))
    assert len(load_chains(csv(tmp_path, extra), extra_columns="ignore")) == 5
    assert "missing required column(s) ask" in error(csv(tmp_path, rows.head(5).drop("ask")))


def test_out_of_range_greeks_are_refused(tmp_path: Path, rows: pl.DataFrame) -> None:
    df = rows.head(5).with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(1.5).otherwise(pl.col("delta")).alias("delta")
    )
    assert "row 2 (line 3), column delta: 1.5 is out of range" in error(csv(tmp_path, df))


def test_duplicates_across_files_name_both_rows(tmp_path: Path, rows: pl.DataFrame) -> None:
    a = csv(tmp_path, rows.head(5), "a.csv")
    b = csv(tmp_path, rows.slice(4, 3), "b.csv")
    msg = error([a, b])
    assert "1 duplicate quote(s)" in msg
    assert "a.csv row 5" in msg and "b.csv row 1" in msg


def test_a_quote_date_off_the_exchange_calendar_is_refused(
    tmp_path: Path, rows: pl.DataFrame
) -> None:
    df = rows.head(3).with_columns(pl.lit(date(2022, 2, 26)).alias("quote_date"))  # a Saturday
    msg = error(csv(tmp_path, df), hours=MarketHours())
    assert "column quote_date: 2022-02-26 is not a trading day on XNYS" in msg
