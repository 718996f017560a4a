"""SimBroker.snapshot_chain: a whole chain in one call, the numbers a per-contract snapshot gives."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from tradelib.broker import Broker
from tradelib.broker.port import OptionChainInfo
from tradelib.broker.sim import SimBroker
from tradelib.domain import Contract, JoinedQuotes, Quote, Right
from tradelib.entry import OptionChain
from tradelib.jobs.entry_rows import InvalidQuotes, invalid_quotes

from .conftest import sim_market

RATE = 0.04
ARRAYS = ("strike", "is_call", "bid", "ask", "mid", "iv", "delta", "gamma", "theta", "vega")


@pytest.fixture
def broker() -> Iterator[SimBroker]:
    b = SimBroker(sim_market())
    b.connect()
    yield b
    b.disconnect()


def _per_contract(broker: Broker, info: OptionChainInfo, expiries: list) -> list[Quote]:
    contracts = [
        Contract.option(
            info.underlying,
            e,
            k,
            right,
            multiplier=info.multiplier,
            trading_class=info.trading_class,
        )
        for e in expiries
        for k in info.strikes_for(e)
        for right in (Right.PUT, Right.CALL)
    ]
    return broker.snapshot(contracts)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_whole_chain_equals_the_chain_of_per_contract_quotes(broker: SimBroker) -> None:
    info = broker.option_chain("SPY")
    expiries = list(info.expiries[1:4])
    whole = broker.snapshot_chain("SPY", info, expiries)
    assert whole is not None
    snap = _per_contract(broker, info, expiries)
    fast = OptionChain.from_chain_snapshot(whole, RATE)
    slow = OptionChain.from_quotes(snap, RATE)
    assert (fast.underlying, fast.spot, fast.ts) == (slow.underlying, slow.spot, slow.ts)
    for a, b in zip(fast.expiries, slow.expiries, strict=True):
        assert (a.expiry, a.years, a.forward, a.multiplier, a.n_puts) == (
            b.expiry,
            b.years,
            b.forward,
            b.multiplier,
            b.n_puts,
        )
        for name in ARRAYS:
            assert _same_bits(getattr(a, name), getattr(b, name)), name


def test_quotes_are_built_on_demand_and_match_the_snapshot(broker: SimBroker) -> None:
    info = broker.option_chain("QQQ")
    expiries = list(info.expiries[:2])
    whole = broker.snapshot_chain("QQQ", info, expiries)
    assert whole is not None
    snap = _per_contract(broker, info, expiries)
    by_key = {q.contract.key: q for q in snap}
    assert list(whole.quotes) == list(by_key)
    # reprs: NaN fields compare unequal, their reprs do not
    assert all(repr(whole.quotes[k]) == repr(q) for k, q in by_key.items())
    assert whole.quotes[snap[0].contract.key] is whole.quotes[snap[0].contract.key]
    assert "QQQ 19990101 100 C" not in whole.quotes
    first = snap[0].contract.key
    assert first[:-1] + "X" not in whole.quotes  # no such right
    assert first.rsplit(" ", 2)[0] + " 0.001 P" not in whole.quotes  # no such strike
    with pytest.raises(KeyError):
        whole.quotes[first[:-1] + "X"]
    assert len(whole.quotes) == len(by_key)
    joined = JoinedQuotes((whole.quotes, {}))
    now = broker.now()
    assert dict(InvalidQuotes(joined, now, 5.0)) == invalid_quotes(snap, now, _cfg())


def test_a_listing_the_chain_does_not_price_falls_back_to_per_contract(
    broker: SimBroker,
) -> None:
    info = broker.option_chain("IWM")
    expiry = info.expiries[1]
    odd = replace(info, strikes={**info.strikes, expiry: (*info.strikes_for(expiry), 9999.0)})
    assert broker.snapshot_chain("IWM", odd, [expiry]) is None
    tiny = replace(info, strikes={**info.strikes, expiry: info.strikes_for(expiry)[:2]})
    assert broker.snapshot_chain("IWM", tiny, [expiry]) is None


def test_a_broker_without_a_chain_call_says_so() -> None:
    # The port's default: callers snapshot contract by contract (IBBroker does not override it).
    from tradelib.broker.ib import IBBroker

    assert IBBroker.snapshot_chain is Broker.snapshot_chain


def _cfg():  # type: ignore[no-untyped-def]
    from tradelib.config import TradingConfig

    cfg = TradingConfig()
    return cfg.model_copy(
        update={"market_data": cfg.market_data.model_copy(update={"max_quote_age_s": 5.0})}
    )


def test_a_subclass_that_quotes_differently_is_snapshotted_contract_by_contract() -> None:
    class Tampering(SimBroker):
        def snapshot(self, contracts):  # type: ignore[no-untyped-def]
            return super().snapshot(contracts)

    b = Tampering(sim_market())
    b.connect()
    info = b.option_chain("SPY")
    assert b.snapshot_chain("SPY", info, list(info.expiries[:1])) is None
