"""A columnar option chain: one set of numpy arrays per expiry, whatever the source.

Strike selection and candidate building work on arrays, never on lists of
quote objects, so a whole chain (hundreds of strikes x a dozen expiries) is
scanned with a few vectorized calls. Three sources feed it: domain quotes
(``Broker.snapshot``), the simulated market's ``SimChain`` and rows of the
``option_snapshots`` lake table. All three builders are pure: the caller does
the I/O (see ``tradelib.stores.snapshots`` for the lake side).

Conventions: rows of one expiry are puts sorted by strike, then calls sorted
by strike (``puts``/``calls`` are the two slices); prices per share; delta per
$1, theta per calendar day, vega per vol point (the ``tradelib.pricing``
units); time to expiry in ACT/365 years up to 16:00 New York on expiry day
(an early close is ignored: a few hours on a month changes nothing here).
Greeks the source did not provide are solved from the mid with our own
pricing and flagged in ``model_greeks``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from tradelib.domain import NEW_YORK, ChainSnapshot, Quote, Right, ensure_utc
from tradelib.errors import ChainDataError
from tradelib.pricing import T_FLOOR_YEARS, iv_and_greeks

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

YEAR_S = 365.0 * 86_400.0  # ACT/365, as tradelib.pricing expects
EXPIRY_CLOSE_NY = time(16, 0)
PARITY_STRIKES = 6  # strikes nearest spot whose put-call parity forwards are averaged

_ARRAYS = (
    "strike",
    "is_call",
    "bid",
    "ask",
    "mid",
    "iv",
    "delta",
    "gamma",
    "theta",
    "vega",
    "open_interest",
    "model_greeks",
)


class ColumnarExpiry(Protocol):
    """One expiry of a chain as arrays, with broker greeks (e.g. the simulated market's ``SimChain``)."""

    @property
    def underlying(self) -> str: ...
    @property
    def expiry(self) -> date: ...
    @property
    def underlying_price(self) -> float: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def multiplier(self) -> int: ...
    @property
    def strike(self) -> npt.ArrayLike: ...
    @property
    def is_call(self) -> npt.ArrayLike: ...
    @property
    def bid(self) -> npt.ArrayLike: ...
    @property
    def ask(self) -> npt.ArrayLike: ...
    @property
    def iv(self) -> npt.ArrayLike: ...
    @property
    def delta(self) -> npt.ArrayLike: ...
    @property
    def gamma(self) -> npt.ArrayLike: ...
    @property
    def theta(self) -> npt.ArrayLike: ...
    @property
    def vega(self) -> npt.ArrayLike: ...
    @property
    def open_interest(self) -> npt.ArrayLike: ...


def years_to_expiry(expiry: date, ts: datetime) -> float:
    """ACT/365 years from ``ts`` to 16:00 New York on ``expiry`` (floored at one minute)."""
    close = datetime.combine(expiry, EXPIRY_CLOSE_NY, tzinfo=NEW_YORK)
    return max((close - ensure_utc(ts, "ts")).total_seconds() / YEAR_S, T_FLOOR_YEARS)


@dataclass(frozen=True, slots=True, eq=False)
class ExpiryChain:
    """Every listed (strike, right) of one expiry as parallel read-only arrays.

    ``forward`` comes from put-call parity at the strikes nearest spot (spot
    grown at the risk-free rate when no pair is quoted), so dividends need no
    configuration. ``model_greeks`` marks rows whose iv/greeks we solved
    ourselves because the source had none; NaN greeks remain where even that
    failed (no mid, no time value).
    """

    expiry: date
    years: float
    forward: float
    multiplier: float
    n_puts: int
    strike: FloatArray
    is_call: BoolArray
    bid: FloatArray
    ask: FloatArray
    mid: FloatArray
    iv: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    open_interest: FloatArray
    model_greeks: BoolArray

    def __len__(self) -> int:
        return int(self.strike.shape[0])

    @property
    def puts(self) -> slice:
        """Rows of the puts (ascending strike)."""
        return slice(0, self.n_puts)

    @property
    def calls(self) -> slice:
        """Rows of the calls (ascending strike)."""
        return slice(self.n_puts, len(self))

    def side(self, right: Right) -> slice:
        """Rows of one right (ascending strike)."""
        return self.calls if right is Right.CALL else self.puts

    def dividend_yield(self, spot: float, rate: float) -> float:
        """The continuous yield implied by ``forward`` (what model greeks are priced with)."""
        return rate - math.log(self.forward / spot) / self.years


@dataclass(frozen=True, slots=True, eq=False)
class OptionChain:
    """One underlying's options at ``ts``: spot, the risk-free rate and every expiry (ascending)."""

    underlying: str
    spot: float
    ts: datetime
    rate: float
    expiries: tuple[ExpiryChain, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", ensure_utc(self.ts, "OptionChain.ts"))
        if not (math.isfinite(self.spot) and self.spot > 0):
            raise ChainDataError(underlying=self.underlying, problem=f"spot {self.spot} is not > 0")

    @property
    def today(self) -> date:
        """The New York trading date of ``ts`` (what days to expiry count from)."""
        return self.ts.astimezone(NEW_YORK).date()

    def dte(self, expiry: date) -> int:
        """Calendar days from ``today`` to ``expiry``."""
        return (expiry - self.today).days

    def expiry(self, expiry: date) -> ExpiryChain:
        """The chain of one expiry; ChainDataError when it is not in this chain."""
        for exp in self.expiries:
            if exp.expiry == expiry:
                return exp
        raise ChainDataError(underlying=self.underlying, problem=f"no expiry {expiry}")

    @property
    def model_greek_count(self) -> int:
        """How many rows carry greeks we solved ourselves."""
        return sum(int(e.model_greeks.sum()) for e in self.expiries)

    # --- builders ------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        underlying: str,
        spot: float,
        ts: datetime,
        rate: float,
        columns: Mapping[date, Mapping[str, npt.ArrayLike]],
        multiplier: float = 100.0,
    ) -> OptionChain:
        """Build from raw per-expiry columns (any row order; NaN where a value is missing).

        Each expiry's mapping needs ``strike``, ``is_call``, ``bid``, ``ask``
        and may carry ``iv``, ``delta``, ``gamma``, ``theta``, ``vega``,
        ``open_interest``.
        """
        ts = ensure_utc(ts, "ts")
        if not (math.isfinite(spot) and spot > 0):
            raise ChainDataError(underlying=underlying, problem=f"spot {spot} is not > 0")
        expiries = tuple(
            _expiry_chain(exp, years_to_expiry(exp, ts), spot, rate, multiplier, cols)
            for exp, cols in sorted(columns.items())
        )
        return cls(underlying, spot, ts, rate, expiries)

    @classmethod
    def from_sim_chains(cls, chains: Sequence[ColumnarExpiry], rate: float) -> OptionChain:
        """Build from columnar expiries of one underlying, e.g. the simulated market's (broker greeks kept)."""
        if not chains:
            raise ChainDataError(underlying="?", problem="no expiry chain given")
        underlying = _one_underlying(c.underlying for c in chains)
        first = chains[0]
        columns = _chain_columns(chains)
        ts = max(c.ts for c in chains)
        return cls.from_arrays(
            underlying, first.underlying_price, ts, rate, columns, float(first.multiplier)
        )

    @classmethod
    def from_quotes(
        cls,
        quotes: Iterable[Quote],
        rate: float,
        *,
        spot: float | None = None,
        ts: datetime | None = None,
    ) -> OptionChain:
        """Build from domain quotes of one underlying (e.g. ``Broker.snapshot``).

        Non-option quotes are ignored except that a stock/index quote of the
        underlying supplies the spot when neither ``spot`` nor the options'
        ``underlying_price`` does. ``ts`` defaults to the newest quote time.
        """
        options: list[Quote] = []
        marks: list[float] = []
        for q in quotes:
            if q.contract.is_option:
                options.append(q)
            elif math.isfinite(q.mark):
                marks.append(q.mark)
        if not options:
            raise ChainDataError(underlying="?", problem="no option quotes given")
        underlying = _one_underlying(q.contract.symbol for q in options)
        if spot is None:
            prices = [q.underlying_price for q in options if math.isfinite(q.underlying_price)]
            spot = float(np.median(prices)) if prices else (marks[0] if marks else math.nan)
        groups: dict[date, list[Quote]] = {}
        for q in options:
            assert q.contract.expiry is not None
            groups.setdefault(q.contract.expiry, []).append(q)
        columns = {exp: _quote_columns(qs) for exp, qs in groups.items()}
        stamp = ts if ts is not None else max(q.ts for q in options)
        return cls.from_arrays(
            underlying, spot, stamp, rate, columns, options[0].contract.multiplier
        )

    @classmethod
    def from_chain_snapshot(cls, snapshot: ChainSnapshot, rate: float) -> OptionChain:
        """Build from a broker's whole-chain answer (``Broker.snapshot_chain``).

        The chain ``from_quotes`` builds from the same quotes, without building them.
        """
        chains = snapshot.expiries
        if not chains:
            raise ChainDataError(underlying="?", problem="no option quotes given")
        underlying = _one_underlying(c.underlying for c in chains)
        columns = _chain_columns(chains)
        stamp = max(c.ts for c in chains)
        return cls.from_arrays(
            underlying, snapshot.spot, stamp, rate, columns, chains[0].multiplier
        )

    @classmethod
    def from_snapshot_frame(
        cls,
        frame: pl.DataFrame,
        underlying: str,
        rate: float,
        *,
        as_of: datetime | None = None,
    ) -> OptionChain:
        """Build from ``option_snapshots`` rows: the newest snapshot at or before ``as_of``.

        The spot is the median ``underlying_price`` of that snapshot.
        """
        rows = frame.filter(pl.col("underlying") == underlying)
        if as_of is not None:
            rows = rows.filter(pl.col("ts") <= ensure_utc(as_of, "as_of"))
        if rows.is_empty():
            raise ChainDataError(underlying=underlying, problem="no option snapshot rows")
        latest = rows["ts"].max()
        assert isinstance(latest, datetime)
        rows = rows.filter(pl.col("ts") == latest)
        spot = rows["underlying_price"].drop_nulls().median()
        columns: dict[date, Mapping[str, npt.ArrayLike]] = {}
        for (exp,), part in rows.partition_by("expiry", as_dict=True).items():
            assert isinstance(exp, date)
            columns[exp] = {
                "strike": part["strike"].to_numpy(),
                "is_call": (part["right"] == Right.CALL.value).to_numpy(),
                **{
                    name: part[name].cast(pl.Float64).fill_null(math.nan).to_numpy()
                    for name in ("bid", "ask", "iv", "delta", "gamma", "theta", "vega")
                },
                "open_interest": part["open_interest"]
                .cast(pl.Float64)
                .fill_null(math.nan)
                .to_numpy(),
            }
        return cls.from_arrays(
            underlying,
            float(spot) if isinstance(spot, int | float) else math.nan,
            latest,
            rate,
            columns,
        )


def _one_underlying(symbols: Iterable[str]) -> str:
    found = set(symbols)
    if len(found) != 1:
        raise ChainDataError(
            underlying="/".join(sorted(found)) or "?", problem="quotes of exactly one underlying"
        )
    return found.pop()


def _quote_columns(quotes: list[Quote]) -> dict[str, npt.ArrayLike]:
    """Quote objects -> columns (NaN greeks where the quote has none)."""
    nan = math.nan
    greeks = [q.greeks for q in quotes]
    return {
        "strike": [q.contract.strike or math.nan for q in quotes],
        "is_call": [q.contract.right is Right.CALL for q in quotes],
        "bid": [q.bid for q in quotes],
        "ask": [q.ask for q in quotes],
        "iv": [g.iv if g else nan for g in greeks],
        "delta": [g.delta if g else nan for g in greeks],
        "gamma": [g.gamma if g else nan for g in greeks],
        "theta": [g.theta if g else nan for g in greeks],
        "vega": [g.vega if g else nan for g in greeks],
        "open_interest": [q.open_interest for q in quotes],
    }


def _column(cols: Mapping[str, npt.ArrayLike], name: str, n: int) -> FloatArray:
    if name not in cols:
        return np.full(n, np.nan)
    return np.asarray(cols[name], dtype=np.float64)


def _expiry_chain(
    expiry: date,
    years: float,
    spot: float,
    rate: float,
    multiplier: float,
    cols: Mapping[str, npt.ArrayLike],
) -> ExpiryChain:
    strike = np.asarray(cols["strike"], dtype=np.float64)
    is_call = np.asarray(cols["is_call"], dtype=np.bool_)
    n = strike.shape[0]
    order = np.lexsort((strike, is_call))  # puts first, each side by strike
    strike, is_call = strike[order], is_call[order]
    data = {
        name: _column(cols, name, n)[order]
        for name in ("bid", "ask", "iv", "delta", "gamma", "theta", "vega", "open_interest")
    }
    bid, ask = data["bid"], data["ask"]
    quoted = np.isfinite(bid) & np.isfinite(ask) & (bid >= 0) & (ask > 0) & (bid <= ask)
    mid = np.where(quoted, (bid + ask) / 2.0, np.nan)
    n_puts = int(n - is_call.sum())
    forward = _parity_forward(strike, mid, n_puts, spot, years, rate)
    missing = ~(np.isfinite(data["delta"]) & np.isfinite(data["iv"]) & (data["iv"] > 0))
    model = np.zeros(n, dtype=np.bool_)
    if missing.any():
        model = _fill_model_greeks(data, missing, strike, is_call, mid, spot, years, rate, forward)
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "strike": strike,
        "is_call": is_call,
        "mid": mid,
        "model_greeks": model,
        **data,
    }
    for name in _ARRAYS:
        arrays[name].setflags(write=False)
    return ExpiryChain(
        expiry,
        years,
        forward,
        multiplier,
        n_puts,
        strike,
        is_call,
        bid,
        ask,
        mid,
        data["iv"],
        data["delta"],
        data["gamma"],
        data["theta"],
        data["vega"],
        data["open_interest"],
        model,
    )


def _parity_forward(
    strike: FloatArray, mid: FloatArray, n_puts: int, spot: float, years: float, rate: float
) -> float:
    """Forward from C - P = e^{-rT} (F - K) at the quoted strike pairs nearest spot."""
    put_k, call_k = strike[:n_puts], strike[n_puts:]
    common, ip, ic = np.intersect1d(put_k, call_k, assume_unique=False, return_indices=True)
    put_mid, call_mid = mid[:n_puts][ip], mid[n_puts:][ic]
    ok = np.isfinite(put_mid) & np.isfinite(call_mid)
    if not ok.any():
        return spot * math.exp(rate * years)
    common, put_mid, call_mid = common[ok], put_mid[ok], call_mid[ok]
    nearest = np.argsort(np.abs(common - spot))[:PARITY_STRIKES]
    implied = common[nearest] + math.exp(rate * years) * (call_mid[nearest] - put_mid[nearest])
    # The median shrugs off one stale or wide pair.
    return float(np.median(implied))


def _fill_model_greeks(
    data: dict[str, FloatArray],
    missing: BoolArray,
    strike: FloatArray,
    is_call: BoolArray,
    mid: FloatArray,
    spot: float,
    years: float,
    rate: float,
    forward: float,
) -> BoolArray:
    """Solve iv and greeks from the mids of the ``missing`` rows; return the rows filled."""
    div_yield = rate - math.log(forward / spot) / years
    res, g = iv_and_greeks(
        mid[missing], spot, strike[missing], years, rate, div_yield, is_call[missing]
    )
    for name, values in (
        ("iv", res.iv),
        ("delta", g.delta),
        ("gamma", g.gamma),
        ("theta", g.theta),
        ("vega", g.vega),
    ):
        data[name][missing] = values
    model = np.zeros(strike.shape[0], dtype=np.bool_)
    model[missing] = res.ok
    return model


def _chain_columns(chains: Sequence[Any]) -> dict[date, Mapping[str, npt.ArrayLike]]:
    """Each expiry's arrays, by the names ``from_arrays`` takes, from chains of one underlying."""
    return {
        c.expiry: {
            "strike": c.strike,
            "is_call": c.is_call,
            "bid": c.bid,
            "ask": c.ask,
            "iv": c.iv,
            "delta": c.delta,
            "gamma": c.gamma,
            "theta": c.theta,
            "vega": c.vega,
            "open_interest": c.open_interest,
        }
        for c in chains
    }
