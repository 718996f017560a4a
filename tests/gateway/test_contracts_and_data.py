"""Scenarios: contract lookup, option chains, market data and bars through ib_async."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from ib_async import IB, Contract, Future, Index, Option, Stock

from tradelib.gateway import GatewayThread

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ConnectFn = Callable[..., IB]
WaitFn = Callable[..., bool]


def _atm_put(ib: IB) -> Option:
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    chain = next(
        c for c in ib.reqSecDefOptParams("SPY", "", "STK", spy.conId) if c.exchange == "SMART"
    )
    [ticker] = ib.reqTickers(spy)
    strike = min(chain.strikes, key=lambda k: abs(k - ticker.last))
    [put] = ib.qualifyContracts(Option("SPY", sorted(chain.expirations)[8], strike, "P", "SMART"))
    return put


def test_stock_index_future_and_option_qualify(gateway: GatewayThread, connect: ConnectFn) -> None:
    ib = connect(gateway)

    spy, vix, es = ib.qualifyContracts(
        Stock("SPY", "SMART", "USD"), Index("VIX", "CBOE"), Future("ES", exchange="CME")
    )
    put = _atm_put(ib)

    assert spy.conId > 0 and spy.primaryExchange == "ARCA"
    assert vix.conId > 0 and vix.secType == "IND"
    assert es.multiplier == "50" and len(es.lastTradeDateOrContractMonth) == 8
    [by_local] = ib.qualifyContracts(Future(localSymbol=es.localSymbol, exchange="CME"))
    assert by_local.conId == es.conId
    assert put.conId > 0 and put.multiplier == "100" and put.tradingClass == "SPY"
    assert len(put.lastTradeDateOrContractMonth) == 8


def test_a_partial_option_spec_lists_every_match(
    gateway: GatewayThread, connect: ConnectFn
) -> None:
    ib = connect(gateway)
    put = _atm_put(ib)

    both_rights = ib.reqContractDetails(
        Option("SPY", put.lastTradeDateOrContractMonth, put.strike, "", "SMART")
    )
    whole_expiry = ib.reqContractDetails(
        Option("SPY", put.lastTradeDateOrContractMonth, 0.0, "P", "SMART")
    )

    assert {d.contract.right for d in both_rights} == {"C", "P"}
    assert len(whole_expiry) > 20
    assert all(
        d.contract.lastTradeDateOrContractMonth == put.lastTradeDateOrContractMonth
        for d in whole_expiry
    )
    assert all(d.underConId > 0 and d.minTick == 0.01 for d in whole_expiry)


def test_an_unknown_contract_ends_with_error_200(
    gateway: GatewayThread, connect: ConnectFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 200")
    ib = connect(gateway)

    assert ib.reqContractDetails(Stock("NOPE", "SMART", "USD")) == []


def test_option_chain_parameters_have_a_smart_row(
    gateway: GatewayThread, connect: ConnectFn
) -> None:
    ib = connect(gateway)
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))

    chains = ib.reqSecDefOptParams("SPY", "", "STK", spy.conId)

    smart = [c for c in chains if c.exchange == "SMART"]
    assert len(smart) == 1 and len(chains) > 1
    assert smart[0].tradingClass == "SPY" and smart[0].multiplier == "100"
    assert int(smart[0].underlyingConId) == spy.conId  # ib_async keeps it as text
    assert all(len(e) == 8 for e in smart[0].expirations) and len(smart[0].strikes) > 50


def test_an_option_snapshot_carries_quotes_greeks_and_open_interest(
    gateway: GatewayThread, connect: ConnectFn
) -> None:
    ib = connect(gateway)
    put = _atm_put(ib)

    [ticker] = ib.reqTickers(put)
    snap = ib.reqMktData(put, "101", snapshot=True)
    ib.sleep(0.3)

    assert 0 < ticker.bid < ticker.ask and ticker.bidSize > 0 and ticker.askSize > 0
    greeks = ticker.modelGreeks
    assert greeks is not None and greeks.delta is not None and -1 < greeks.delta < 0
    assert greeks.impliedVol and greeks.impliedVol > 0 and greeks.undPrice and greeks.undPrice > 0
    assert greeks.gamma and greeks.vega and greeks.theta is not None
    assert ticker.bidGreeks is not None and ticker.askGreeks is not None
    assert snap.putOpenInterest > 0 and not math.isnan(snap.putOpenInterest)


def test_streaming_quotes_keep_arriving(
    fast_gateway: GatewayThread, connect: ConnectFn, wait_until: WaitFn
) -> None:
    ib = connect(fast_gateway)
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    updates: list[float] = []

    ticker = ib.reqMktData(spy)
    ticker.updateEvent += lambda t: updates.append(t.bid)

    assert wait_until(ib, lambda: len(set(updates)) >= 3)
    assert ticker.bid < ticker.ask and ticker.close > 0
    ib.cancelMktData(spy)


def test_historical_bars_for_an_etf_and_a_future(
    gateway: GatewayThread, connect: ConnectFn
) -> None:
    ib = connect(gateway)
    spy, es = ib.qualifyContracts(Stock("SPY", "SMART", "USD"), Future("ES", exchange="CME"))

    daily = ib.reqHistoricalData(spy, "", "1 M", "1 day", "TRADES", True)
    minutes = ib.reqHistoricalData(es, "", "1 D", "1 min", "TRADES", False, formatDate=2)

    assert len(daily) >= 15 and all(b.low <= b.close <= b.high for b in daily)
    assert len(minutes) > 60 and minutes[0].date < minutes[-1].date
    assert minutes[-1].date.tzinfo is not None


def test_a_bag_contract_is_a_valid_ib_contract_type() -> None:
    # Guard for the order tests: ib_async builds BAG contracts with this spelling.
    assert Contract(secType="BAG").secType == "BAG"
