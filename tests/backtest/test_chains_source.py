"""RecordedChainSource: one recorded snapshot a day, spot by the stated method, greeks solved."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.backtest.conftest import DATA, chain_rows

from tradelib.backtest.chains.importer import load_chains
from tradelib.backtest.chains.source import RecordedChainSource
from tradelib.backtest.history.files import load_daily_bars
from tradelib.backtest.source import MarketSource
from tradelib.errors import ContractError, DataRangeError
from tradelib.markethours import NEW_YORK

DAYS = [date(2022, 3, 1), date(2022, 3, 2), date(2022, 3, 4)]  # 3 March has no chain


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return chain_rows("SPY", DAYS, max_expiries=5)


def source(tmp_path: Path, df: pl.DataFrame, **kw: object) -> RecordedChainSource:
    path = tmp_path / "c.csv"
    df.write_csv(path)
    return RecordedChainSource(load_chains(path), **kw)  # type: ignore[arg-type]


def test_it_is_a_market_source_of_recorded_daily_snapshots(
    tmp_path: Path, rows: pl.DataFrame
) -> None:
    src = source(tmp_path, rows)
    assert isinstance(src, MarketSource)
    assert not src.modelled and not src.intraday
    assert src.trading_days() == DAYS
    snap = src.quote_time(DAYS[0])
    assert snap.astimezone(NEW_YORK).strftime("%H:%M") == "15:45"
    assert src.now() == snap


def test_the_snapshot_stands_until_the_next_and_keeps_its_stamp(
    tmp_path: Path, rows: pl.DataFrame
) -> None:
    src = source(tmp_path, rows)
    first = rows.filter(pl.col("quote_date") == DAYS[0])["underlying_price"][0]
    second = rows.filter(pl.col("quote_date") == DAYS[1])["underlying_price"][0]
    src.advance_to(src.quote_time(DAYS[1]) - timedelta(hours=3))
    assert src.spot("SPY") == first
    expiry = src.expiries("SPY")[0]
    assert src.option_chain("SPY", expiry).ts == src.quote_time(DAYS[0])
    src.advance_to(src.quote_time(DAYS[1]))
    assert src.spot("SPY") == second
    assert src.quote("SPY").ts == src.quote_time(DAYS[1])


def test_chain_matches_the_file_and_expired_expiries_drop(
    tmp_path: Path, rows: pl.DataFrame
) -> None:
    src = source(tmp_path, rows)
    src.advance_to(src.quote_time(DAYS[1]))
    listed = src.expiries("SPY")
    assert listed[0] == DAYS[1]  # today's own expiry until the close
    expiry = listed[1]
    ch = src.option_chain("SPY", expiry)
    want = rows.filter(
        (pl.col("quote_date") == DAYS[1]) & (pl.col("expiry") == expiry) & (pl.col("right") == "P")
    )
    k = float(want["strike"][3])
    q = src.option_quote("SPY", expiry, k, "P")
    assert (q.bid, q.ask) == (want["bid"][3], want["ask"][3])
    assert q.iv == pytest.approx(want["iv"][3], rel=1e-6)  # stored as float32
    assert (
        len(ch)
        == rows.filter((pl.col("quote_date") == DAYS[1]) & (pl.col("expiry") == expiry)).height
    )
    with pytest.raises(ContractError, match="not in the recorded chain"):
        src.option_quote("SPY", expiry, k + 0.25, "P")
    src.advance_to(src.hours.session_bounds(DAYS[1])[1])
    assert DAYS[1] not in src.expiries("SPY")


def test_spot_by_parity_when_the_file_has_none(tmp_path: Path, rows: pl.DataFrame) -> None:
    src = source(tmp_path, rows.drop("underlying_price"), dividend_yields={"SPY": 0.012})
    assert src.spot_method("SPY") == "parity"
    true_spot = rows.filter(pl.col("quote_date") == DAYS[0])["underlying_price"][0]
    assert src.spot("SPY") == pytest.approx(true_spot, rel=5e-4)


def test_spot_from_the_underlyings_bars_when_given(tmp_path: Path, rows: pl.DataFrame) -> None:
    bars = load_daily_bars(DATA / "SPY.csv")
    src = source(tmp_path, rows, underlying_bars={"SPY": bars})
    assert src.spot_method("SPY") == "bars"
    assert src.spot("SPY") == round(float(bars.close[bars.index_of(DAYS[0])]), 2)


def test_missing_iv_and_greeks_are_solved_from_the_mid(tmp_path: Path, rows: pl.DataFrame) -> None:
    full = source(tmp_path, rows)
    bare = source(tmp_path, rows.drop("iv", "delta", "gamma", "vega", "theta"))
    expiry = full.expiries("SPY")[3]
    a, b = full.option_chain("SPY", expiry), bare.option_chain("SPY", expiry)
    near = (np.abs(a.delta) > 0.1) & (np.abs(a.delta) < 0.9)
    assert near.sum() > 10
    np.testing.assert_allclose(b.iv[near], a.iv[near], atol=0.02)
    np.testing.assert_allclose(b.delta[near], a.delta[near], atol=0.03)


def test_days_outside_the_data_are_refused_with_the_range(
    tmp_path: Path, rows: pl.DataFrame
) -> None:
    src = source(tmp_path, rows)
    with pytest.raises(DataRangeError, match=r"available 2022-03-01\.\.2022-03-04"):
        src.trading_days(date(2022, 2, 1), date(2022, 3, 2))
    src.advance_to(src.hours.session_bounds(date(2022, 3, 3))[0] + timedelta(hours=1))
    assert not src.is_open("SPY")  # no chain that day
