"""How SimBroker names instruments and reads quotes: market objects -> domain contracts and quotes.

Options of one (underlying, expiry) asked together are priced from a single
chain computation (the market prices a whole chain about as fast as a few
single options); anything else is quoted one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

import numpy as np

from tradelib.domain import (
    ChainQuoteBook,
    ChainSnapshot,
    Contract,
    ExpiryQuotes,
    OptionGreeks,
    Quote,
    Right,
    SecType,
)
from tradelib.domain.chains import float_array, same_listing
from tradelib.errors import ContractError

if TYPE_CHECKING:
    from tradelib.backtest.source import MarketSource
    from tradelib.broker.port import OptionChainInfo

# Option groups this large are priced from one chain computation instead of per quote.
CHAIN_BATCH_MIN = 6


def resolve_contract(m: MarketSource, c: Contract) -> Contract:
    """Complete ``c`` from the market (con_id, multiplier, local symbol); ContractError if unknown."""
    symbol = c.symbol.strip().upper()
    try:
        if c.sec_type is SecType.OPTION:
            assert c.expiry is not None and c.strike is not None and c.right is not None
            con_id = m.con_id(symbol, expiry=c.expiry, strike=c.strike, right=c.right.value)
            # What Contract.option(...) then replace(local_symbol=...) gives, built once.
            local_symbol = m.instrument(con_id).local_symbol
            return Contract(
                SecType.OPTION,
                symbol,
                c.exchange or "SMART",
                expiry=c.expiry,
                strike=float(c.strike),
                right=Right(c.right),
                multiplier=100.0,
                local_symbol=local_symbol,
                trading_class=symbol,
                con_id=con_id,
            )
        if c.sec_type is SecType.FUTURE:
            assert c.expiry is not None
            fut = m.futures_contract(symbol)
            if (fut.expiry.year, fut.expiry.month) != (c.expiry.year, c.expiry.month):
                raise ContractError(
                    f"future {c.key}: only the front month {fut.local_symbol} "
                    f"(expiry {fut.expiry}) is listed"
                )
            return Contract.future(
                symbol,
                fut.expiry,
                float(fut.multiplier),
                local_symbol=fut.local_symbol,
                exchange=fut.exchange,
                con_id=int(fut.con_id),
            )
        if c.sec_type in (SecType.STOCK, SecType.INDEX):
            con_id = m.con_id(symbol)
            if symbol == "VIX" or c.sec_type is SecType.INDEX:
                if symbol != "VIX":
                    raise ContractError(f"unknown index {symbol}")
                return replace(Contract.index("VIX"), con_id=con_id)
            stock = Contract.stock(symbol, c.exchange or "SMART")
            return replace(stock, con_id=con_id, local_symbol=symbol, trading_class=symbol)
    except ContractError:
        raise
    except (KeyError, ValueError) as exc:
        raise ContractError(f"unknown contract {c.key}: {exc}") from None
    raise ContractError(f"cannot resolve {c.key}: sec_type {c.sec_type.value} not supported")


def market_quotes(
    m: MarketSource, contracts: Sequence[Contract], at: datetime | None = None
) -> list[Quote]:
    """Domain quotes for resolved ``contracts`` (same order); options of one expiry share a chain."""
    out: list[Quote | None] = [None] * len(contracts)
    groups: dict[tuple[str, date], list[int]] = {}
    for i, c in enumerate(contracts):
        if c.sec_type is SecType.OPTION:
            assert c.expiry is not None
            groups.setdefault((c.symbol, c.expiry), []).append(i)
        else:
            out[i] = _plain_quote(m, c, at)
    for (symbol, expiry), idx in groups.items():
        if len(idx) >= CHAIN_BATCH_MIN:
            _chain_quotes(m, symbol, expiry, [contracts[i] for i in idx], idx, out, at)
        else:
            for i in idx:
                out[i] = _option_quote(m, contracts[i], at)
    assert all(q is not None for q in out)
    return [q for q in out if q is not None]


def _plain_quote(m: MarketSource, c: Contract, at: datetime | None) -> Quote:
    # Futures are quoted by root: the market lists the front month only.
    q = m.quote(c.symbol, at)
    if c.sec_type is SecType.INDEX:
        return Quote(c, q.ts, last=float(q.last))
    return Quote(
        c,
        q.ts,
        bid=float(q.bid),
        ask=float(q.ask),
        last=float(q.last),
        bid_size=float(q.bid_size),
        ask_size=float(q.ask_size),
    )


def _option_quote(m: MarketSource, c: Contract, at: datetime | None) -> Quote:
    assert c.expiry is not None and c.strike is not None and c.right is not None
    q = m.option_quote(c.symbol, c.expiry, c.strike, c.right.value, at)
    greeks = OptionGreeks(
        float(q.delta), float(q.gamma), float(q.theta), float(q.vega), float(q.iv), "broker"
    )
    return Quote(
        c,
        q.ts,
        bid=float(q.bid),
        ask=float(q.ask),
        last=float(q.last),
        bid_size=float(q.bid_size),
        ask_size=float(q.ask_size),
        greeks=greeks,
        underlying_price=float(q.underlying_price),
        open_interest=float(q.open_interest),
    )


def _chain_quotes(
    m: MarketSource,
    symbol: str,
    expiry: date,
    contracts: list[Contract],
    idx: list[int],
    out: list[Quote | None],
    at: datetime | None,
) -> None:
    ch = m.option_chain(symbol, expiry, at)
    # One conversion of each array to Python floats: indexing numpy per quote and
    # field was most of the cost of quoting whole chains.
    strike, is_call = _floats(ch.strike), ch.is_call.tolist()
    lookup = {
        (round(k, 6), bool(call)): j
        for j, (k, call) in enumerate(zip(strike, is_call, strict=True))
    }
    delta, gamma, theta, vega, iv = (
        _floats(a) for a in (ch.delta, ch.gamma, ch.theta, ch.vega, ch.iv)
    )
    bid, ask, last = _floats(ch.bid), _floats(ch.ask), _floats(ch.last)
    bid_size, ask_size = _floats(ch.bid_size), _floats(ch.ask_size)
    open_interest = _floats(ch.open_interest)
    underlying_price = float(ch.underlying_price)
    for c, i in zip(contracts, idx, strict=True):
        assert c.strike is not None
        j = lookup.get((round(c.strike, 6), c.right is Right.CALL))
        if j is None:
            # Held strikes can drift outside today's listed grid: quote them one by one.
            out[i] = _option_quote(m, c, at)
            continue
        greeks = OptionGreeks(delta[j], gamma[j], theta[j], vega[j], iv[j], "broker")
        out[i] = Quote(
            c,
            ch.ts,
            bid=bid[j],
            ask=ask[j],
            last=last[j],
            bid_size=bid_size[j],
            ask_size=ask_size[j],
            greeks=greeks,
            underlying_price=underlying_price,
            open_interest=open_interest[j],
        )


def _floats(values: np.ndarray) -> list[float]:
    """The array as Python floats (what ``float(a[j])`` gives, for every ``j`` at once)."""
    return np.asarray(values, dtype=np.float64).tolist()  # type: ignore[no-any-return]


def chain_snapshot(
    m: MarketSource,
    info: OptionChainInfo,
    expiries: Sequence[date],
    resolve: Callable[[date, float, Right], Contract],
) -> ChainSnapshot | None:
    """The listed options of ``expiries`` from one chain computation each, quotes on demand.

    None when a per-contract snapshot would not take the whole-chain path for every
    contract (an expiry too small to batch, a chain whose rows are not exactly the
    listed strikes x put/call): the caller then snapshots contract by contract.
    """
    listed = tuple(info.strikes_for(e) for e in expiries)
    if (
        not expiries
        or len(set(expiries)) != len(expiries)
        or any(2 * len(strikes) < CHAIN_BATCH_MIN for strikes in listed)
    ):
        return None
    # The contracts resolve alike: the first one gives the multiplier the quotes carry.
    multiplier = resolve(expiries[0], listed[0][0], Right.PUT).multiplier
    out: list[ExpiryQuotes] = []
    for expiry, strikes in zip(expiries, listed, strict=True):
        ch = m.option_chain(info.underlying, expiry)
        strike, is_call = float_array(ch.strike), np.asarray(ch.is_call, dtype=np.bool_)
        if not same_listing(strikes, strike, is_call):
            return None
        out.append(
            ExpiryQuotes(
                info.underlying,
                expiry,
                ch.ts,
                float(ch.underlying_price),
                multiplier,
                strike,
                is_call,
                bid=float_array(ch.bid),
                ask=float_array(ch.ask),
                last=float_array(ch.last),
                bid_size=float_array(ch.bid_size),
                ask_size=float_array(ch.ask_size),
                iv=float_array(ch.iv),
                delta=float_array(ch.delta),
                gamma=float_array(ch.gamma),
                theta=float_array(ch.theta),
                vega=float_array(ch.vega),
                open_interest=float_array(ch.open_interest),
            )
        )
    chains = tuple(out)
    return ChainSnapshot(chains, ChainQuoteBook(info.underlying, chains, listed, resolve))
