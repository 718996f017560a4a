"""HistoricalSource: prices follow the files, quotes are modelled off the vol index, no look-ahead."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tradelib.backtest.history.files import load_daily_bars
from tradelib.backtest.history.source import HistoricalSource, HistoryModel
from tradelib.backtest.source import MarketSource
from tradelib.errors import ContractError, DataRangeError
from tradelib.markethours import NEW_YORK

DATA = Path(__file__).parent / "data"
DAY = date(2022, 3, 1)


def fresh(start: date = DAY, seed: int = 7) -> HistoricalSource:
    return HistoricalSource.from_dir(DATA, model=HistoryModel(seed=seed), start=start)


def test_it_is_a_market_source_that_says_quotes_are_modelled() -> None:
    src = fresh()
    assert isinstance(src, MarketSource)
    assert src.modelled and src.intraday
    assert "modelled" in src.name
    assert src.underlyings == ("IWM", "QQQ", "SPY") and src.vol_index == "VIX"


def test_spot_is_the_files_open_at_the_open_and_close_after_the_close() -> None:
    src = fresh()
    bars = load_daily_bars(DATA / "SPY.csv")
    i = bars.index_of(DAY)
    opened, closed = src.hours.session_bounds(DAY)
    assert src.now() == opened
    assert src.spot("SPY") == round(bars.open[i], 2)
    src.advance_to(closed + timedelta(hours=1))
    assert src.spot("SPY") == round(bars.close[i], 2)
    assert src.quote("SPY").ts == closed - timedelta(seconds=1)


def test_the_days_path_stays_in_its_range_and_touches_high_and_low() -> None:
    src = fresh()
    bars = load_daily_bars(DATA / "QQQ.csv")
    i = bars.index_of(DAY)
    opened, closed = src.hours.session_bounds(DAY)
    src.advance_to(closed)
    seen = [src.spot("QQQ", opened + timedelta(seconds=s)) for s in range(0, 23_400, 30)]
    assert min(seen) == pytest.approx(bars.low[i], abs=0.006)
    assert max(seen) == pytest.approx(bars.high[i], abs=0.006)
    assert np.count_nonzero(np.diff(seen)) > 0.5 * len(seen)  # it moves through the day


def test_paths_are_seeded() -> None:
    a, b, c = fresh(seed=1), fresh(seed=1), fresh(seed=2)
    ts = a.now() + timedelta(hours=2)
    for s in (a, b, c):
        s.advance_to(ts)
    assert a.spot("SPY") == b.spot("SPY")
    assert a.spot("SPY") != c.spot("SPY")


def test_no_look_ahead_and_no_going_back() -> None:
    src = fresh()
    with pytest.raises(ValueError, match="no look-ahead"):
        src.spot("SPY", src.now() + timedelta(seconds=1))
    with pytest.raises(ValueError, match="never goes backwards"):
        src.advance_to(src.now() - timedelta(seconds=1))


def test_todays_daily_bar_shows_only_what_has_traded() -> None:
    src = fresh()
    bars = load_daily_bars(DATA / "SPY.csv")
    i = bars.index_of(DAY)
    src.advance_to(src.now() + timedelta(minutes=30))
    today = src.bars("SPY", src.hours.session_bounds(DAY)[0], src.now() + timedelta(days=1), 86_400)
    assert today.height == 1
    assert today["high"][0] <= bars.high[i] + 0.005 and today["low"][0] >= bars.low[i] - 0.005
    assert today["close"][0] == pytest.approx(src.spot("SPY"), abs=0.02)


def test_a_range_outside_the_data_says_what_is_available() -> None:
    src = fresh()
    with pytest.raises(
        DataRangeError, match=r"2020-06-01\.\.2022-01-01.*available 2021-01-04\.\.2023-12-29"
    ):
        src.trading_days(date(2020, 6, 1), date(2022, 1, 1))
    with pytest.raises(DataRangeError, match=r"available 2021-01-04\.\.2023-12-29"):
        fresh(start=date(2024, 2, 1))
    assert len(src.trading_days(date(2022, 1, 1), date(2022, 12, 31))) == 251


def atm_and_skew(src: HistoricalSource, day: date) -> tuple[float, float, float]:
    src.advance_to(src.hours.session_bounds(day)[0] + timedelta(hours=1))
    expiry = min(src.expiries("SPY"), key=lambda e: abs((e - day).days - 30))
    ch = src.option_chain("SPY", expiry)
    puts = ~ch.is_call
    atm = float(ch.iv[puts][np.argmin(np.abs(ch.delta[puts] + 0.5))])
    wing = float(ch.iv[puts][np.argmin(np.abs(ch.delta[puts] + 0.10))])
    return src.spot("VIX"), atm, wing - atm


def test_iv_level_follows_the_vol_index_and_put_skew_steepens_with_it() -> None:
    vix = load_daily_bars(DATA / "VIX.csv")
    days = [d.astype(date) for d in vix.day[20:-40]]
    lo_day = days[int(np.argmin(vix.open[20:-40]))]
    hi_day = days[int(np.argmax(vix.open[20:-40]))]
    src = fresh(start=min(lo_day, hi_day))
    first, second = sorted([lo_day, hi_day])
    a, b = atm_and_skew(src, first), atm_and_skew(src, second)
    calm, stressed = (a, b) if first == lo_day else (b, a)
    assert stressed[0] > calm[0] + 10
    assert stressed[1] > calm[1] * 1.5
    assert stressed[2] > calm[2]


def test_chain_is_sane_and_option_quote_agrees_with_it() -> None:
    src = fresh()
    src.advance_to(src.now() + timedelta(hours=1))
    expiry = src.expiries("SPY")[4]
    ch = src.option_chain("SPY", expiry)
    assert np.all(ch.bid <= ch.ask) and np.all(ch.bid >= 0)
    assert np.all(np.diff(ch.strike) >= 0)
    assert np.all(ch.delta[ch.is_call] > 0) and np.all(ch.delta[~ch.is_call] < 0)
    j = int(np.argmin(np.abs(ch.delta + 0.16)))
    q = src.option_quote("SPY", expiry, float(ch.strike[j]), "P")
    assert (q.bid, q.ask, q.iv, q.con_id) == (ch.bid[j], ch.ask[j], ch.iv[j], ch.con_id[j])
    inst = src.instrument(q.con_id)
    assert (inst.symbol, inst.expiry, inst.strike, inst.right) == ("SPY", expiry, q.strike, "P")
    assert src.con_id("SPY", expiry=expiry, strike=q.strike, right="P") == q.con_id


def test_expiries_are_listed_on_the_exchange_calendar() -> None:
    src = fresh(start=date(2022, 4, 1))
    listed = src.expiries("SPY")
    assert all(src.hours.is_trading_day(e) for e in listed)
    assert date(2022, 4, 14) in listed  # the monthly moved off Good Friday
    assert date(2022, 4, 15) not in listed
    assert date(2022, 5, 20) in listed  # May monthly
    assert {e.weekday() for e in src.expiries("IWM") if e.day not in (14, 20)} <= {3, 4}


def test_todays_expiry_is_gone_after_the_close() -> None:
    src = fresh(start=date(2022, 3, 4))  # a Friday
    assert src.expiries("SPY")[0] == date(2022, 3, 4)
    src.advance_to(src.hours.session_bounds(date(2022, 3, 4))[1])
    assert src.expiries("SPY")[0] > date(2022, 3, 4)
    with pytest.raises(ContractError, match="not listed"):
        src.option_chain("SPY", date(2022, 3, 4))


def test_futures_and_unknown_symbols_are_refused() -> None:
    src = fresh()
    with pytest.raises(ContractError):
        src.futures_contract("ES")
    with pytest.raises(ContractError, match="unknown symbol"):
        src.spot("DIA")
    with pytest.raises(ContractError, match="no options"):
        src.expiries("VIX")


def test_it_is_open_in_regular_hours_of_days_with_data() -> None:
    src = fresh()
    assert src.is_open("SPY")
    assert not src.is_open("SPY", src.now() - timedelta(minutes=1))
    assert src.now().astimezone(NEW_YORK).hour == 9


def test_a_chain_asked_twice_in_one_second_is_computed_once_and_frozen() -> None:
    src = fresh()
    src.advance_to(src.now() + timedelta(minutes=10))
    expiry = src.expiries("SPY")[1]
    first = src.option_chain("SPY", expiry)
    assert src.option_chain("SPY", expiry) is first
    assert not first.bid.flags.writeable
    src.advance(1)
    later = src.option_chain("SPY", expiry)
    assert later is not first and later.ts > first.ts
