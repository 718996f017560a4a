"""Simulated options and futures contracts: chains, surface, quotes, listings and con_ids."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from tradelib.errors import ContractError
from tradelib.markethours import NEW_YORK
from tradelib.pricing import implied_vol
from tradelib.sim import SimChain, SimMarketConfig, SimRegime, SimulatedMarket

START = datetime(2026, 11, 20, 9, 45, tzinfo=NEW_YORK).astimezone(UTC)


def market(start: datetime = START, **overrides: object) -> SimulatedMarket:
    return SimulatedMarket(SimMarketConfig(start=start, **overrides))  # type: ignore[arg-type]


def years_to(chain: SimChain, m: SimulatedMarket) -> float:
    close = m.hours.session_bounds(chain.expiry)[1]
    return (close - chain.ts).total_seconds() / (365 * 86_400)


def near_30_dte(m: SimulatedMarket, symbol: str = "SPY") -> date:
    today = m.now().date()
    return min(m.expiries(symbol), key=lambda d: abs((d - today).days - 30))


@pytest.fixture(scope="module")
def calm() -> SimulatedMarket:
    return market(forced_regime=SimRegime.CALM)


@pytest.fixture(scope="module")
def crash() -> SimulatedMarket:
    m = market(forced_regime=SimRegime.CRASH)
    m.advance(86_400)
    return m


def test_quotes_are_never_crossed_and_never_negative(
    calm: SimulatedMarket, crash: SimulatedMarket
) -> None:
    for m in (calm, crash):
        for symbol in m.config.underlyings:
            for expiry in m.expiries(symbol)[::3]:
                c = m.option_chain(symbol, expiry)
                assert len(c) > 40
                assert np.isfinite(
                    np.c_[c.bid, c.ask, c.mid, c.iv, c.delta, c.gamma, c.theta, c.vega]
                ).all()
                assert (c.bid >= 0).all() and (c.bid < c.ask).all()
                assert (c.bid <= c.mid).all() and (c.mid <= c.ask).all()
                assert ((c.bid <= c.last) & (c.last <= c.ask)).all()
                # Prices sit on $0.01 ticks.
                assert np.allclose(np.round(c.bid * 100), c.bid * 100)
                assert np.allclose(np.round(c.ask * 100), c.ask * 100)
                assert (
                    (c.bid_size >= 0).all()
                    and (c.ask_size > 0).all()
                    and (c.open_interest > 0).all()
                )
        for symbol in ("SPY", "QQQ", "IWM", "ES", "NQ", "RTY"):
            q = m.quote(symbol)
            assert 0 < q.bid < q.ask and q.bid <= q.last <= q.ask


def test_deep_out_of_the_money_options_can_bid_zero_and_wings_are_wider(
    calm: SimulatedMarket,
) -> None:
    c = calm.option_chain("SPY", calm.expiries("SPY")[1])
    assert (c.bid == 0).any()
    spot = c.underlying_price
    atm = np.argmin(np.abs(c.strike - spot) + ~c.is_call * 1e9)
    wing = np.flatnonzero(c.is_call & (c.mid > 0.5) & (c.strike > spot))[-1]
    relative = (c.ask - c.bid) / c.mid
    assert relative[wing] > relative[atm]


def test_put_call_parity_holds_on_mids(calm: SimulatedMarket) -> None:
    m = calm
    c = m.option_chain("SPY", near_30_dte(m))
    t = years_to(c, m)
    r, q = m.config.rate, m.config.dividend_yield("SPY")
    calls, puts = c.is_call, ~c.is_call
    assert np.array_equal(c.strike[calls], c.strike[puts])
    lhs = c.mid[calls] - c.mid[puts]
    rhs = c.underlying_price * np.exp(-q * t) - c.strike[calls] * np.exp(-r * t)
    tolerance = (c.ask - c.bid)[calls] / 2 + (c.ask - c.bid)[puts] / 2 + 0.01
    assert (np.abs(lhs - rhs) <= tolerance).all()


def test_implied_vol_of_the_mid_recovers_the_surface_near_the_money(calm: SimulatedMarket) -> None:
    m = calm
    for symbol in ("SPY", "QQQ", "IWM"):
        c = m.option_chain(symbol, near_30_dte(m, symbol))
        near = np.abs(np.log(c.strike / c.underlying_price)) < 0.03
        t = years_to(c, m)
        iv = implied_vol(
            c.mid[near],
            c.underlying_price,
            c.strike[near],
            t,
            m.config.rate,
            m.config.dividend_yield(symbol),
            c.is_call[near],
        ).iv
        assert np.abs(iv - c.iv[near]).max() < 0.003  # 0.3 vol points, from tick rounding


def test_single_option_quote_matches_its_chain_row(calm: SimulatedMarket) -> None:
    expiry = near_30_dte(calm)
    chain = calm.option_chain("SPY", expiry)
    row = chain.row(600.0, "P")
    q = calm.option_quote("SPY", expiry, 600.0, "P")
    assert (q.bid, q.ask, q.iv, q.delta, q.con_id) == (
        chain.bid[row],
        chain.ask[row],
        chain.iv[row],
        chain.delta[row],
        chain.con_id[row],
    )
    assert q.delta < 0 < q.gamma and q.theta < 0 < q.vega and q.multiplier == 100


def _skew(m: SimulatedMarket) -> tuple[float, float, float]:
    c = m.option_chain("SPY", near_30_dte(m))
    spot = c.underlying_price
    puts = ~c.is_call
    ivs = np.interp([spot * 0.95, spot, spot * 1.03], c.strike[puts], c.iv[puts])
    return float(ivs[0]), float(ivs[1]), float(ivs[2])


def test_put_skew_exists_and_is_steeper_in_crash_than_calm(
    calm: SimulatedMarket, crash: SimulatedMarket
) -> None:
    calm_down, calm_atm, calm_up = _skew(calm)
    crash_down, crash_atm, _ = _skew(crash)
    assert calm_down > calm_atm > calm_up  # puts rich, calls cheap
    # Steeper per unit of log-moneyness / sqrt(T): more vol points for the same strike distance.
    assert (crash_down - crash_atm) > 1.5 * (calm_down - calm_atm)


def test_term_structure_slopes_up_in_calm_and_inverts_in_crash(
    calm: SimulatedMarket, crash: SimulatedMarket
) -> None:
    def atm_ivs(m: SimulatedMarket) -> tuple[float, float]:
        near, far = m.expiries("SPY")[2], m.expiries("SPY")[-1]
        out = []
        for e in (near, far):
            c = m.option_chain("SPY", e)
            out.append(float(np.interp(c.underlying_price, c.strike[c.is_call], c.iv[c.is_call])))
        return out[0], out[1]

    short, long_ = atm_ivs(calm)
    assert short < long_
    short, long_ = atm_ivs(crash)
    assert short > long_


def test_strike_grid_is_fine_near_the_money_and_widens_with_dte(calm: SimulatedMarket) -> None:
    expiries = calm.expiries("SPY")
    near, far = calm.strikes("SPY", expiries[1]), calm.strikes("SPY", expiries[-1])
    spot = calm.spot("SPY")
    close = near[np.abs(near - spot) < 5]
    assert np.allclose(np.diff(close), 1.0)
    assert np.diff(far).max() == 5.0
    assert far.min() < near.min() and far.max() > near.max()
    iwm = calm.strikes("IWM", near_30_dte(calm, "IWM"))
    assert 0.5 in np.diff(iwm)


def test_expiries_are_weeklies_and_monthlies_moved_off_holidays() -> None:
    m = market(start=datetime(2026, 12, 1, 15, tzinfo=UTC))
    spy = m.expiries("SPY")
    assert date(2026, 12, 25) not in spy and date(2026, 12, 24) in spy  # Christmas Friday
    assert all(m.hours.is_trading_day(d) for d in spy)
    assert {d.weekday() for d in spy if d < date(2027, 1, 20)} <= {0, 2, 3, 4}
    assert date(2027, 3, 19) in spy and date(2027, 5, 21) in spy  # monthlies months out
    assert max(spy) <= date(2027, 6, 30)
    iwm = m.expiries("IWM")
    assert all(d.weekday() in (3, 4) for d in iwm)
    spring = market(start=datetime(2027, 3, 1, 15, tzinfo=UTC))
    assert date(2027, 3, 26) not in spring.expiries("SPY")  # Good Friday
    assert date(2027, 3, 25) in spring.expiries("SPY")
    assert date(2027, 3, 25) in spring.expiries("IWM")


def test_todays_expiry_disappears_at_the_close() -> None:
    m = market()
    assert m.expiries("SPY")[0] == date(2026, 11, 20)
    m.advance_to(datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK))
    assert m.expiries("SPY")[0] == date(2026, 11, 23)
    with pytest.raises(ContractError, match="has expired"):
        m.option_quote("SPY", date(2026, 11, 20), 600, "C")


def test_front_month_future_rolls_eight_days_before_expiry() -> None:
    m = market(start=datetime(2026, 12, 9, 15, tzinfo=UTC))
    before = m.futures_contract("ES")
    assert (before.local_symbol, before.expiry, before.multiplier) == (
        "ESZ6",
        date(2026, 12, 18),
        50,
    )
    es_z6 = m.spot("ES")
    m.advance_to(datetime(2026, 12, 10, 15, tzinfo=UTC))
    after = m.futures_contract("ES")
    assert (after.local_symbol, after.expiry) == ("ESH7", date(2027, 3, 19))
    assert m.futures_contract("NQ").local_symbol == "NQH7"
    assert m.futures_contract("RTY").multiplier == 50 and m.futures_contract("NQ").multiplier == 20
    assert m.futures_contract("ES", datetime(2026, 12, 9, 15, tzinfo=UTC)) == before
    # The new front carries three more months of basis.
    assert m.spot("ES") / m.spot("SPY") > es_z6 / m.spot(
        "SPY", datetime(2026, 12, 9, 15, tzinfo=UTC)
    )
    assert m.quote("ES").con_id == after.con_id


def test_con_ids_are_stable_and_reversible() -> None:
    a, b = market(seed=1), market(seed=2)
    expiry = near_30_dte(a)
    opt = a.con_id("SPY", expiry=expiry, strike=600, right="P")
    assert opt == b.con_id("SPY", expiry=expiry, strike=600.0, right="p")
    assert 0 < opt < 2**31
    inst = a.instrument(opt)
    assert (inst.sec_type, inst.symbol, inst.expiry, inst.strike, inst.right) == (
        "OPT",
        "SPY",
        expiry,
        600.0,
        "P",
    )
    assert inst.multiplier == 100 and inst.local_symbol.startswith("SPY   ")
    iwm = a.con_id("IWM", expiry=near_30_dte(a, "IWM"), strike=222.5, right="C")
    assert a.instrument(iwm).strike == 222.5
    assert a.instrument(a.con_id("SPY")).sec_type == "STK"
    assert a.instrument(a.con_id("VIX")).sec_type == "IND"
    fut = a.con_id("ESZ6")
    assert fut == a.con_id("ES") == a.futures_contract("ES").con_id
    assert a.instrument(fut).local_symbol == "ESZ6" and a.instrument(fut).multiplier == 50
    assert a.con_id("ES", expiry=date(2027, 3, 19)) == a.con_id("ESH7")
    assert len({opt, iwm, fut, a.con_id("QQQ"), a.con_id("NQ")}) == 5


def test_bad_contracts_raise_contract_errors_naming_the_problem(calm: SimulatedMarket) -> None:
    expiry = near_30_dte(calm)
    with pytest.raises(ContractError, match="VIX' has no options"):
        calm.option_chain("VIX", expiry)
    with pytest.raises(ContractError, match="expiry 2026-12-26 is not listed"):
        calm.option_chain("SPY", date(2026, 12, 26))
    with pytest.raises(ContractError, match=r"not a multiple of 1\.0"):
        calm.option_quote("SPY", expiry, 600.5, "C")
    with pytest.raises(ContractError, match="not listed"):
        calm.option_quote("SPY", expiry, 5000, "C")
    with pytest.raises(ContractError, match="right must be 'C' or 'P'"):
        calm.option_quote("SPY", expiry, 600, "X")
    with pytest.raises(ContractError, match="unknown con_id 42"):
        calm.instrument(42)
    with pytest.raises(ContractError, match="needs an optionable symbol"):
        calm.con_id("SPY", expiry=expiry)


def test_option_quotes_freeze_at_the_close_outside_hours(calm: SimulatedMarket) -> None:
    m = market()
    close = datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK).astimezone(UTC)
    m.advance_to(close + timedelta(hours=30))
    assert not m.is_open("SPY") and m.is_open("ES") is False  # Saturday
    expiry = m.expiries("SPY")[3]
    q = m.option_quote("SPY", expiry, 600, "C")
    assert q.ts == close - timedelta(seconds=1)
    assert q == m.option_quote("SPY", expiry, 600, "C", close - timedelta(seconds=1))
