"""The columnar chain from quotes, from SimChains and from option_snapshots rows."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tradelib.domain import Contract, OptionGreeks, Quote, Right, utc
from tradelib.entry import OptionChain
from tradelib.errors import ChainDataError
from tradelib.lake import Lake
from tradelib.records import option_snapshot_rows
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.stores.snapshots import load_chain

from .chains import RATE, TODAY, TS, columns

EXPIRY = TODAY + timedelta(days=35)


def _quotes(greeks_every: int = 1, spot: float = 100.0) -> list[Quote]:
    """Quotes of one expiry from the synthetic columns; every n-th row carries greeks."""
    cols = columns(EXPIRY, spot=spot)
    out = []
    for i in range(cols["strike"].size):
        right = Right.CALL if cols["is_call"][i] else Right.PUT
        g = None
        if greeks_every and i % greeks_every == 0:
            g = OptionGreeks(
                float(cols["delta"][i]),
                float(cols["gamma"][i]),
                float(cols["theta"][i]),
                float(cols["vega"][i]),
                float(cols["iv"][i]),
            )
        out.append(
            Quote(
                Contract.option("SPY", EXPIRY, float(cols["strike"][i]), right),
                TS,
                bid=float(cols["bid"][i]),
                ask=float(cols["ask"][i]),
                greeks=g,
                underlying_price=spot,
                open_interest=500.0,
            )
        )
    return out[::-1]  # any order in, sorted out


def test_quotes_become_puts_then_calls_sorted_by_strike() -> None:
    chain = OptionChain.from_quotes(_quotes(), RATE)
    exp = chain.expiry(EXPIRY)
    assert chain.underlying == "SPY" and chain.spot == 100.0 and chain.ts == TS
    assert not exp.is_call[exp.puts].any() and exp.is_call[exp.calls].all()
    assert np.all(np.diff(exp.strike[exp.puts]) > 0) and np.all(np.diff(exp.strike[exp.calls]) > 0)
    assert np.allclose(exp.mid, (exp.bid + exp.ask) / 2)
    assert chain.dte(EXPIRY) == 35 and chain.model_greek_count == 0


def test_quotes_without_greeks_get_ours_flagged_as_model_derived() -> None:
    broker = OptionChain.from_quotes(_quotes(1), RATE).expiry(EXPIRY)
    mixed = OptionChain.from_quotes(_quotes(2), RATE).expiry(EXPIRY)
    filled = mixed.model_greeks
    assert filled.any()
    # Ours agree with the broker's where both exist (the synthetic quotes are BS-priced).
    near = filled & (np.abs(broker.delta) > 0.05) & (np.abs(broker.delta) < 0.95)
    assert np.allclose(mixed.delta[near], broker.delta[near], atol=2e-3)
    assert np.allclose(mixed.iv[near], broker.iv[near], atol=2e-3)
    # Rows with broker greeks keep them untouched.
    kept = ~filled & np.isfinite(mixed.delta)
    assert kept.sum() >= len(mixed) // 2
    assert np.array_equal(mixed.delta[kept], broker.delta[kept])


def test_forward_comes_from_put_call_parity() -> None:
    exp = OptionChain.from_quotes(_quotes(), RATE).expiry(EXPIRY)
    assert exp.forward == pytest.approx(100.0 * math.exp(RATE * exp.years), abs=0.02)
    assert exp.dividend_yield(100.0, RATE) == pytest.approx(0.0, abs=0.003)


def test_sim_chains_keep_the_market_greeks_and_imply_its_dividend_yield() -> None:
    market = SimulatedMarket(SimMarketConfig(seed=3, start=utc(2026, 11, 24, 15)))
    expiries = [e for e in market.expiries("SPY") if 30 <= (e - TODAY).days <= 45][:2]
    sims = [market.option_chain("SPY", e) for e in expiries]
    chain = OptionChain.from_sim_chains(sims, RATE)
    assert [e.expiry for e in chain.expiries] == expiries
    exp, sim = chain.expiries[0], sims[0]
    assert len(exp) == len(sim) and chain.model_greek_count == 0
    row = sim.row(float(sim.strike[40]), "P")
    mine = int(np.flatnonzero(~exp.is_call & (exp.strike == sim.strike[row]))[0])
    assert exp.delta[mine] == sim.delta[row] and exp.iv[mine] == sim.iv[row]
    assert exp.dividend_yield(chain.spot, RATE) == pytest.approx(
        market.config.dividend_yield("SPY"), abs=0.002
    )


def test_snapshot_rows_rebuild_the_latest_chain_at_or_before_as_of(tmp_path: Path) -> None:
    old = option_snapshot_rows(_quotes(spot=99.0), TS - timedelta(minutes=30))
    new = option_snapshot_rows(_quotes(spot=100.0), TS)
    frame = pl.DataFrame(old + new, schema_overrides={"ts": pl.Datetime("us", "UTC")})
    latest = OptionChain.from_snapshot_frame(frame, "SPY", RATE)
    earlier = OptionChain.from_snapshot_frame(frame, "SPY", RATE, as_of=TS - timedelta(minutes=1))
    assert (latest.spot, latest.ts) == (100.0, TS)
    assert earlier.spot == 99.0
    direct = OptionChain.from_quotes(_quotes(), RATE).expiry(EXPIRY)
    assert np.allclose(latest.expiry(EXPIRY).delta, direct.delta, equal_nan=True)

    lake = Lake(tmp_path / "lake")
    lake.append("option_snapshots", old + new)
    from_lake = load_chain(lake, "SPY", RATE)
    assert from_lake.ts == TS and len(from_lake.expiry(EXPIRY)) == len(direct)


def test_bad_inputs_fail_loudly() -> None:
    quotes = _quotes()
    with pytest.raises(ChainDataError, match="no option quotes"):
        OptionChain.from_quotes([], RATE)
    other = Quote(Contract.option("QQQ", EXPIRY, 100.0, Right.PUT), TS, 1.0, 1.1)
    with pytest.raises(ChainDataError, match="exactly one underlying"):
        OptionChain.from_quotes([*quotes, other], RATE)
    no_spot = [Quote(q.contract, q.ts, q.bid, q.ask) for q in quotes]
    with pytest.raises(ChainDataError, match="spot"):
        OptionChain.from_quotes(no_spot, RATE)
    stock = Quote(Contract.stock("SPY"), TS, 99.9, 100.1)
    assert OptionChain.from_quotes([stock, *no_spot], RATE).spot == pytest.approx(100.0)
    with pytest.raises(ChainDataError, match="no option snapshot rows"):
        OptionChain.from_snapshot_frame(pl.DataFrame(option_snapshot_rows(quotes, TS)), "IWM", RATE)
