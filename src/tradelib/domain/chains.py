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

from tradelib.domain.contracts import Contract, option_key_of, option_key_prefix, strike_text
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
    expiries: tuple[ExpiryQuotes, ...]  # distinct expiries
    listed: tuple[tuple[float, ...], ...]
    resolve: Resolver
    _prefixes: dict[str, int] = field(default_factory=dict, repr=False)  # key prefix -> expiry
    _strikes: dict[int, dict[str, tuple[float, int, int]]] = field(
        default_factory=dict, repr=False
    )  # expiry -> strike as keys spell it -> (strike, put row, call row)
    _built: dict[str, Quote] = field(default_factory=dict, repr=False)

    def _rows_of(self, pos: int) -> dict[str, tuple[float, int, int]]:
        found = self._strikes.get(pos)
        if found is None:
            chain = self.expiries[pos]
            rows = {
                (round(k, 6), bool(call)): j
                for j, (k, call) in enumerate(
                    zip(chain.strike.tolist(), chain.is_call.tolist(), strict=True)
                )
            }
            found = {}
            for k in self.listed[pos]:
                rounded = round(k, 6)
                found[strike_text(k)] = (k, rows[(rounded, False)], rows[(rounded, True)])
            self._strikes[pos] = found
        return found

    def _find(self, key: object) -> tuple[int, float, Right, int] | None:
        """(expiry position, strike, right, row) of ``key``; None when it is not listed here."""
        if not isinstance(key, str):
            return None
        if not self._prefixes:
            for n, chain in enumerate(self.expiries):
                self._prefixes[option_key_prefix(self.symbol, chain.expiry)] = n
        head, _, right_part = key.rpartition(" ")
        prefix, _, strike_part = head.rpartition(" ")
        pos = self._prefixes.get(prefix + " ")
        if pos is None or right_part not in _RIGHTS:
            return None
        found = self._rows_of(pos).get(strike_part)
        if found is None:
            return None
        right = _RIGHTS[right_part]
        return pos, found[0], right, found[2] if right is Right.CALL else found[1]

    def __getitem__(self, key: str) -> Quote:
        built = self._built.get(key)
        if built is not None:
            return built
        found = self._find(key)
        if found is None:
            raise KeyError(key)
        pos, strike, right, row = found
        chain = self.expiries[pos]
        quote = chain.quote(row, self.resolve(chain.expiry, strike, right))
        self._built[key] = quote
        return quote

    def __contains__(self, key: object) -> bool:
        return self._find(key) is not None

    def __iter__(self) -> Iterator[str]:
        # The order of a per-contract snapshot: expiries, strikes, each strike's put then call.
        for pos, chain in enumerate(self.expiries):
            prefix = option_key_prefix(self.symbol, chain.expiry)
            seen: dict[str, None] = {}
            for k in self.listed[pos]:
                for right in (Right.PUT, Right.CALL):
                    seen[option_key_of(prefix, k, right)] = None
            yield from seen

    def __len__(self) -> int:
        return sum(1 for _ in self)


_RIGHTS = {r.value: r for r in Right}


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
