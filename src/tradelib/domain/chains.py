"""A whole option chain quoted in one call: parallel arrays per expiry, quotes on demand.

A broker that can price a chain at once (the simulated market does) answers
``Broker.snapshot_chain`` with a ``ChainSnapshot``: the entry job builds its
columnar chain from the arrays directly, and the handful of legs it goes on to
price, check and trade are looked up in ``quotes`` as ordinary ``Quote``s,
built (and their contracts resolved) only when asked. The numbers are the ones
``Broker.snapshot`` of every listed contract would give.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from tradelib.domain.contracts import Contract, option_key_of, option_key_prefix
from tradelib.domain.enums import Right
from tradelib.domain.market import OptionGreeks, Quote
from tradelib.domain.time import ensure_utc

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class QuoteBook(Mapping[str, Quote]):
    """Contract key -> quote, immutable: keep it without copying it."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, eq=False)
class ExpiryQuotes:
    """Every listed (strike, right) of one expiry at ``ts``, as parallel float64 arrays."""

    underlying: str
    expiry: date
    ts: datetime
    underlying_price: float
    multiplier: float
    strike: FloatArray
    is_call: BoolArray
    bid: FloatArray
    ask: FloatArray
    last: FloatArray
    bid_size: FloatArray
    ask_size: FloatArray
    iv: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    open_interest: FloatArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "ExpiryQuotes.ts"))

    def __len__(self) -> int:
        return int(self.strike.shape[0])

    def quote(self, row: int, contract: Contract) -> Quote:
        """The quote of ``row`` for ``contract`` (what a per-contract snapshot gives)."""
        greeks = OptionGreeks(
            float(self.delta[row]),
            float(self.gamma[row]),
            float(self.theta[row]),
            float(self.vega[row]),
            float(self.iv[row]),
            "broker",
        )
        return Quote(
            contract,
            self.ts,
            bid=float(self.bid[row]),
            ask=float(self.ask[row]),
            last=float(self.last[row]),
            bid_size=float(self.bid_size[row]),
            ask_size=float(self.ask_size[row]),
            greeks=greeks,
            underlying_price=float(self.underlying_price),
            open_interest=float(self.open_interest[row]),
        )


Resolver = Callable[[date, float, Right], Contract]


@dataclass(frozen=True, slots=True, eq=False)
class ChainQuoteBook(QuoteBook):
    """The quotes of listed contracts of ``expiries``, built on first use.

    ``listed`` holds each expiry's strikes in the order a per-contract snapshot
    asks them (each strike's put, then its call); ``resolve`` gives the
    broker's contract of (expiry, strike, right). Keys are ``Contract.key``s.
    """

    symbol: str
    expiries: tuple[ExpiryQuotes, ...]
    listed: tuple[tuple[float, ...], ...]
    resolve: Resolver
    _index: dict[str, tuple[int, float, Right, int]] = field(default_factory=dict, repr=False)
    _built: dict[str, Quote] = field(default_factory=dict, repr=False)

    def _rows(self) -> dict[str, tuple[int, float, Right, int]]:
        if not self._index and self.expiries:
            for pos, (chain, strikes) in enumerate(zip(self.expiries, self.listed, strict=True)):
                rows = {
                    (round(k, 6), bool(call)): j
                    for j, (k, call) in enumerate(
                        zip(chain.strike.tolist(), chain.is_call.tolist(), strict=True)
                    )
                }
                prefix = option_key_prefix(self.symbol, chain.expiry)
                for k in strikes:
                    rounded = round(k, 6)
                    for right in (Right.PUT, Right.CALL):
                        row = rows[(rounded, right is Right.CALL)]
                        self._index[option_key_of(prefix, k, right)] = (pos, k, right, row)
        return self._index

    def __getitem__(self, key: str) -> Quote:
        built = self._built.get(key)
        if built is not None:
            return built
        pos, strike, right, row = self._rows()[key]
        chain = self.expiries[pos]
        quote = chain.quote(row, self.resolve(chain.expiry, strike, right))
        self._built[key] = quote
        return quote

    def __contains__(self, key: object) -> bool:
        return key in self._rows()

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())


@dataclass(frozen=True, slots=True, eq=False)
class JoinedQuotes(QuoteBook):
    """Several quote mappings with disjoint keys (one per underlying) read as one."""

    parts: tuple[Mapping[str, Quote], ...]

    def __getitem__(self, key: str) -> Quote:
        for part in self.parts:
            if key in part:
                return part[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return any(key in part for part in self.parts)

    def __iter__(self) -> Iterator[str]:
        for part in self.parts:
            yield from part

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)


@dataclass(frozen=True, slots=True, eq=False)
class ChainSnapshot:
    """One underlying's listed options of some expiries: arrays, and quotes on demand."""

    expiries: tuple[ExpiryQuotes, ...]
    quotes: ChainQuoteBook

    @property
    def spot(self) -> float:
        """The median underlying price over every quote (what a chain of quotes reports)."""
        prices = np.concatenate(
            [np.full(len(e), float(e.underlying_price)) for e in self.expiries] or [np.empty(0)]
        )
        prices = prices[np.isfinite(prices)]
        return float(np.median(prices)) if prices.size else math.nan


def float_array(values: npt.ArrayLike) -> FloatArray:
    """``values`` as a float64 array (a copy only when the type differs)."""
    return np.asarray(values, dtype=np.float64)


def same_listing(strikes: Sequence[float], chain_strike: FloatArray, is_call: BoolArray) -> bool:
    """True when the chain's rows are exactly each of ``strikes`` once as a put and once as a call."""
    listed = np.asarray(strikes, dtype=np.float64)
    if listed.size == 0 or np.unique(np.round(listed, 6)).size != listed.size:
        return False
    ordered = np.sort(listed)
    return bool(
        np.array_equal(np.sort(chain_strike[is_call]), ordered)
        and np.array_equal(np.sort(chain_strike[~is_call]), ordered)
    )
