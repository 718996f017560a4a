"""Every market source answers the same interface, and the backtest package stays off the edges."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from tests.backtest.conftest import DATA

from tradelib.backtest.history.source import HistoricalSource
from tradelib.backtest.source import MarketSource
from tradelib.sim import SimMarketConfig, SimulatedMarket


def sources() -> list[MarketSource]:
    sim = SimulatedMarket(
        SimMarketConfig(seed=3, start=datetime(2025, 3, 3, 15, 0, tzinfo=UTC), history_days=5)
    )
    return [sim, HistoricalSource.from_dir(DATA)]


@pytest.mark.parametrize("src", sources(), ids=["sim", "history"])
def test_each_source_serves_spot_vol_index_and_chains_the_same_way(src: MarketSource) -> None:
    assert isinstance(src, MarketSource)
    assert src.modelled is True
    day = src.trading_days()[0]
    src.advance_to(max(src.now(), src.quote_time(day)) + timedelta(minutes=30))
    symbol = src.underlyings[0]
    assert src.is_open(symbol)
    assert src.spot(symbol) > 0 and src.vol_index is not None and src.spot(src.vol_index) > 0
    expiry = src.expiries(symbol)[2]
    ch = src.option_chain(symbol, expiry)
    assert len(ch) == 2 * len(src.strikes(symbol, expiry))
    q = src.option_quote(symbol, expiry, float(ch.strike[10]), "C" if ch.is_call[10] else "P")
    assert q.con_id == int(ch.con_id[10]) and q.bid == ch.bid[10]
    assert src.instrument(q.con_id).local_symbol.startswith(symbol)
    with pytest.raises(ValueError):
        src.spot(symbol, src.now() + timedelta(seconds=5))


def test_the_backtest_package_imports_no_lake_jobs_or_broker() -> None:
    code = (
        "import sys, tradelib.backtest, tradelib.backtest.stats, tradelib.backtest.chains.source;"
        "bad = [m for m in sys.modules if m.split('.')[:2] in (['tradelib','lake'],['tradelib','jobs'],"
        "['tradelib','broker'],['tradelib','sync'],['tradelib','entry'])];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
