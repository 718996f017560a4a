"""Historical bars reach back over past sessions, as a real TWS's do (issue 13, item 8)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date

import pytest
from ib_async import IB, BarData, Stock

from tradelib.gateway import GatewayThread, build_gateway

from .conftest import TRADING_DAY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ConnectFn = Callable[..., IB]


def _by_day(bars: list[BarData]) -> dict[date, list[BarData]]:
    out: dict[date, list[BarData]] = defaultdict(list)
    for b in bars:
        out[b.date.date() if hasattr(b.date, "date") else b.date].append(b)
    return dict(out)


def _two_days(ib: IB) -> list[BarData]:
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    return list(ib.reqHistoricalData(spy, "", "2 D", "5 mins", "TRADES", True))


def test_two_days_of_five_minute_bars_cover_yesterdays_whole_session(
    gateway: GatewayThread, connect: ConnectFn
) -> None:
    ib = connect(gateway)
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))

    bars = _two_days(ib)
    daily = {b.date: b for b in ib.reqHistoricalData(spy, "", "5 D", "1 day", "TRADES", True)}

    days = _by_day(bars)
    assert sorted(days)[-1] == TRADING_DAY
    yesterday = sorted(days)[-2]
    session = days[yesterday]
    assert len(session) == 78, "09:30-16:00 in 5-minute bars"
    assert (session[0].date.hour, session[0].date.minute) == (9, 30)
    day_bar = daily[yesterday]
    assert session[0].open == pytest.approx(day_bar.open)
    assert session[-1].close == pytest.approx(day_bar.close)
    assert max(b.high for b in session) == pytest.approx(day_bar.high)
    assert min(b.low for b in session) == pytest.approx(day_bar.low)
    assert sum(b.volume for b in session) == pytest.approx(day_bar.volume)
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)


def test_past_sessions_are_the_same_bars_every_time(connect: ConnectFn) -> None:
    answers = []
    for _ in range(2):
        with GatewayThread(build_gateway(seed=7, day=TRADING_DAY, port=0)) as gw:
            ib = connect(gw)
            answers.append([(b.date, b.open, b.high, b.low, b.close) for b in _two_days(ib)][:78])
            ib.disconnect()
    assert answers[0] == answers[1]


def test_a_bridged_session_matches_its_daily_bar_exactly() -> None:
    from tradelib.gateway.history import DailyBar, session_bars

    bar = DailyBar(
        date(2025, 6, 9), 1_749_475_800, 1_749_499_200, 600.0, 604.5, 597.25, 601.1, 10**7
    )
    bars = session_bars(bar, 300, seed=7, symbol="SPY")

    assert bars.height == 78
    assert bars["open"][0] == 600.0 and bars["close"][-1] == 601.1
    assert bars["high"].max() == 604.5 and bars["low"].min() == 597.25
    assert bars["volume"].sum() == 10**7
    assert bars.equals(session_bars(bar, 300, seed=7, symbol="SPY"))
    assert not bars.equals(session_bars(bar, 300, seed=8, symbol="SPY"))
