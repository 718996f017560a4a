"""Listing rules of the simulated market: expiries, strikes, futures months and con_ids.

All pure functions of their arguments (plus the exchange calendar), so a
contract id or an expiry list never depends on how the market got somewhere.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np

from tradelib.errors import ContractError
from tradelib.markethours import MarketHours
from tradelib.sim.config import FUTURES, FUTURES_ROOTS, INDEX_SYMBOLS, UNDERLYINGS, VIX
from tradelib.sim.types import FloatArray, SimInstrument

WEEKLY_HORIZON_DAYS = 56  # weeklies listed ~8 weeks out
MONTHLY_HORIZON_MONTHS = 6  # monthlies listed ~6 months out
QUARTER_MONTHS = (3, 6, 9, 12)
MONTH_CODES = {3: "H", 6: "M", 9: "U", 12: "Z"}
CODE_MONTHS = {v: k for k, v in MONTH_CODES.items()}

# Real IB con_ids for the underlyings, so logs look familiar.
UNDERLYING_CON_IDS: dict[str, int] = {
    "SPY": 756733,
    "QQQ": 320227571,
    "IWM": 9579970,
    VIX: 13455763,
}
_SYMBOL_OF_CON_ID = {v: k for k, v in UNDERLYING_CON_IDS.items()}

# Option ids: 2**30 + symbol(2 bits) | expiry day since EPOCH(14 bits) | right(1) | 2*strike(13)
_OPT_BASE = 1 << 30
_OPT_EPOCH = date(2020, 1, 1)
_MAX_STRIKE_HALVES = (1 << 13) - 1
# Futures ids: FUT_BASE + root * 100_000 + year * 4 + quarter
_FUT_BASE = 500_000_000


# --- dates ---------------------------------------------------------------------------
def third_friday(year: int, month: int) -> date:
    """Return the third Friday of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def adjust_to_trading_day(day: date, hours: MarketHours) -> date:
    """Move a holiday expiry back to the previous trading day."""
    return hours.trading_day_on_or_before(day)


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    """Return ``(year, month)`` ``n`` months after ``year``-``month``."""
    k = year * 12 + (month - 1) + n
    return k // 12, k % 12 + 1


def listed_expiries(symbol: str, today: date, hours: MarketHours) -> list[date]:
    """Return option expiries listed on ``today`` (including today's own), ascending.

    Weeklies on the symbol's weekly days out ``WEEKLY_HORIZON_DAYS``, plus the
    monthly third Fridays of this and the next ``MONTHLY_HORIZON_MONTHS`` months;
    each moved to the previous trading day if it falls on a holiday.
    """
    return expiries_listed_on(
        today,
        UNDERLYINGS[symbol].weekly_days,
        hours,
        weeks=WEEKLY_HORIZON_DAYS // 7,
        months=MONTHLY_HORIZON_MONTHS,
    )


def expiries_listed_on(
    today: date,
    weekly_days: tuple[int, ...],
    hours: MarketHours,
    *,
    weeks: int,
    months: int,
) -> list[date]:
    """Return the expiries listed on ``today`` (today's own included), ascending.

    Weeklies on ``weekly_days`` (Mon=0) ``weeks`` ahead, monthly third Fridays
    of this and the next ``months`` months; a holiday expiry moves to the
    previous trading day of the exchange calendar (dates past its range are not listed).
    """
    raw: set[date] = set()
    for offset in range(weeks * 7 + 1):
        d = today + timedelta(days=offset)
        if d.weekday() in weekly_days:
            raw.add(d)
    for n in range(months + 1):
        raw.add(third_friday(*add_months(today.year, today.month, n)))
    last = hours.last_day
    adjusted = {adjust_to_trading_day(d, hours) for d in raw if d <= last}
    return sorted(d for d in adjusted if d >= today)


# The listing rules are pure functions of (arguments, calendar) and the market asks
# them for every quote it names: remember the answers.
@functools.lru_cache(maxsize=1 << 16)
def is_monthly(expiry: date, hours: MarketHours) -> bool:
    """Return whether ``expiry`` is a (holiday-adjusted) monthly third-Friday expiry."""
    return adjust_to_trading_day(third_friday(expiry.year, expiry.month), hours) == expiry


@functools.lru_cache(maxsize=1 << 16)
def is_expiry(symbol: str, day: date, hours: MarketHours) -> bool:
    """Return whether ``day`` is an expiry date of ``symbol`` under the listing rules."""
    if not hours.is_trading_day(day):
        return False
    spec = UNDERLYINGS[symbol]
    for back in range(0, 5):
        raw = day + timedelta(days=back)
        is_rule_day = raw.weekday() in spec.weekly_days or raw == third_friday(raw.year, raw.month)
        if is_rule_day and adjust_to_trading_day(raw, hours) == day:
            return True
    return False


# --- strikes -------------------------------------------------------------------------
def strike_grid(symbol: str, spot: float, t_years: float) -> FloatArray:
    """Return the listed strikes for an expiry ``t_years`` away with the ETF at ``spot``.

    Fine steps near the money (``$1`` SPY/QQQ, ``$0.5`` then ``$1`` IWM), ``$5``
    beyond; the range widens with the square root of time, deeper on the put side.
    """
    spec = UNDERLYINGS[symbol]
    sd = 0.18 * spec.atm_iv_ratio * math.sqrt(max(t_years, 1.0 / 365.0))
    if symbol == "IWM":
        return strike_lattice(spot, sd, spec.fine_step, spec.coarse_step, fine=_iwm_fine(spot))
    return strike_lattice(spot, sd, spec.fine_step, spec.coarse_step)


FineStrikes = Callable[[float, float, float], FloatArray]  # (lo, hi, step) -> strikes


def strike_lattice(
    spot: float, sd: float, fine_step: float, coarse_step: float, *, fine: FineStrikes | None = None
) -> FloatArray:
    """Return strikes ``sd`` (time-scaled vol) wide: ``fine_step`` near the money, coarse beyond.

    Puts reach deeper (6 sd) than calls (3.5 sd), as listings do; ``fine`` lays
    the strikes near the money (default: every ``fine_step``).
    """
    lo = spot * math.exp(-max(0.06, 6.0 * sd))
    hi = spot * math.exp(max(0.05, 3.5 * sd))
    fine_lo = spot * math.exp(-max(0.03, 2.5 * sd))
    fine_hi = spot * math.exp(max(0.03, 2.5 * sd))
    coarse = coarse_step
    parts = [
        np.arange(math.ceil(lo / coarse) * coarse, fine_lo, coarse),
        (fine or _every_step)(fine_lo, fine_hi, fine_step),
        np.arange(math.ceil(fine_hi / coarse) * coarse, hi + 1e-9, coarse),
    ]
    grid = np.unique(np.round(np.concatenate(parts).astype(np.float64), 2))
    return np.asarray(grid[grid > 0], dtype=np.float64)


def _every_step(lo: float, hi: float, step: float) -> FloatArray:
    return np.arange(math.ceil(lo / step) * step, hi + 1e-9, step)


def _iwm_fine(spot: float) -> FineStrikes:
    def steps(lo: float, hi: float, step: float) -> FloatArray:
        # Half-dollar strikes only within 3% of spot, whole dollars further out.
        near_lo, near_hi = spot * 0.97, spot * 1.03
        whole = np.arange(math.ceil(lo), hi + 1e-9, 1.0)
        half = np.arange(math.ceil(near_lo * 2) / 2, near_hi + 1e-9, 0.5)
        return np.concatenate([whole, half])

    return steps


def check_strike(symbol: str, strike: float, spot: float) -> None:
    """Raise ``ContractError`` unless ``strike`` is on the symbol's strike lattice near ``spot``."""
    step = UNDERLYINGS[symbol].fine_step
    if not (math.isfinite(strike) and strike > 0):
        raise ContractError(f"{symbol} strike {strike!r} must be a positive number")
    if abs(strike / step - round(strike / step)) > 1e-9:
        raise ContractError(f"{symbol} strike {strike} is not a multiple of {step}")
    if not 0.25 * spot <= strike <= 4.0 * spot:
        raise ContractError(f"{symbol} strike {strike} is not listed (spot {spot:.2f})")


# --- futures -------------------------------------------------------------------------
def futures_expiry(year: int, month: int, hours: MarketHours) -> date:
    """Return the expiry of a quarterly equity-index future (third Friday, holiday-adjusted)."""
    return adjust_to_trading_day(third_friday(year, month), hours)


def front_month(today: date, roll_days: int, hours: MarketHours) -> tuple[int, int, date]:
    """Return ``(year, month, expiry)`` of the front contract on ``today``.

    The front rolls to the next quarter ``roll_days`` calendar days before expiry.
    """
    year, month = today.year, today.month
    quarter_month = QUARTER_MONTHS[(month - 1) // 3]
    for _ in range(3):
        expiry = futures_expiry(year, quarter_month, hours)
        if today + timedelta(days=roll_days) < expiry:
            return year, quarter_month, expiry
        year, quarter_month = add_months(year, quarter_month, 3)
    raise AssertionError("unreachable: a quarterly future always expires within 6 months")


def futures_local_symbol(root: str, year: int, month: int) -> str:
    """Return IB's local symbol, e.g. ``ESZ6``."""
    return f"{root}{MONTH_CODES[month]}{year % 10}"


def parse_futures_local_symbol(local_symbol: str, today: date) -> tuple[str, int, int] | None:
    """Return ``(root, year, month)`` of a local symbol like ``ESZ6`` (decade nearest ``today``)."""
    for root in FUTURES_ROOTS:
        rest = local_symbol[len(root) :]
        if (
            local_symbol.startswith(root)
            and len(rest) == 2
            and rest[0] in CODE_MONTHS
            and rest[1].isdigit()
        ):
            digit = int(rest[1])
            year = today.year - 1
            while year % 10 != digit:
                year += 1
            return root, year, CODE_MONTHS[rest[0]]
    return None


# --- con_ids -------------------------------------------------------------------------
def underlying_con_id(symbol: str) -> int:
    """Return the con_id of an ETF or VIX."""
    return UNDERLYING_CON_IDS[symbol]


def futures_con_id(root: str, year: int, month: int) -> int:
    """Return the con_id of a futures contract."""
    return _FUT_BASE + FUTURES_ROOTS.index(root) * 100_000 + year * 4 + QUARTER_MONTHS.index(month)


def option_con_id(symbol: str, expiry: date, strike: float, right: str) -> int:
    """Return the con_id of an option (reversible, below 2**31)."""
    days = (expiry - _OPT_EPOCH).days
    halves = round(strike * 2)
    if not 0 <= days < (1 << 14):
        raise ContractError(f"{symbol} expiry {expiry} is outside the supported range")
    if not 0 < halves <= _MAX_STRIKE_HALVES:
        raise ContractError(f"{symbol} strike {strike} is outside the supported range")
    r = {"C": 1, "P": 0}[right]
    return _OPT_BASE | INDEX_SYMBOLS.index(symbol) << 28 | days << 14 | r << 13 | halves


def option_con_ids(
    symbol: str, expiry: date, strikes: FloatArray, is_call: np.ndarray
) -> np.ndarray:
    """Vectorised ``option_con_id`` for one expiry."""
    days = (expiry - _OPT_EPOCH).days
    head = _OPT_BASE | INDEX_SYMBOLS.index(symbol) << 28 | days << 14
    halves = np.round(strikes * 2).astype(np.int64)
    return head | (is_call.astype(np.int64) << 13) | halves


@functools.lru_cache(maxsize=1 << 16)
def decode_con_id(con_id: int, hours: MarketHours) -> SimInstrument:
    """Return the instrument a con_id stands for; raise ``ContractError`` if none."""
    if con_id in _SYMBOL_OF_CON_ID:
        symbol = _SYMBOL_OF_CON_ID[con_id]
        if symbol == VIX:
            return SimInstrument(con_id, "IND", VIX, VIX, "CBOE", "CBOE", "USD", 1)
        primary = UNDERLYINGS[symbol].primary_exchange
        return SimInstrument(
            con_id, "STK", symbol, symbol, "SMART", primary, "USD", 1, trading_class=symbol
        )
    if _OPT_BASE <= con_id < (1 << 31):
        rest = con_id - _OPT_BASE
        sym_i, days, r, halves = rest >> 28, (rest >> 14) & 0x3FFF, (rest >> 13) & 1, rest & 0x1FFF
        if sym_i < len(INDEX_SYMBOLS) and halves > 0:
            symbol = INDEX_SYMBOLS[sym_i]
            expiry = _OPT_EPOCH + timedelta(days=days)
            strike = halves / 2.0
            right = "C" if r else "P"
            if is_expiry(symbol, expiry, hours) and strike % UNDERLYINGS[symbol].fine_step == 0:
                return option_instrument(con_id, symbol, expiry, strike, right)
    if _FUT_BASE <= con_id < _FUT_BASE + len(FUTURES_ROOTS) * 100_000:
        root_i, rest = divmod(con_id - _FUT_BASE, 100_000)
        year, quarter = divmod(rest, 4)
        if 2000 <= year <= 2099:
            root = FUTURES_ROOTS[root_i]
            month = QUARTER_MONTHS[quarter]
            return SimInstrument(
                con_id,
                "FUT",
                root,
                futures_local_symbol(root, year, month),
                "CME",
                "CME",
                "USD",
                FUTURES[root].multiplier,
                expiry=futures_expiry(year, month, hours),
                trading_class=root,
            )
    raise ContractError(f"unknown con_id {con_id}")


def option_instrument(
    con_id: int, symbol: str, expiry: date, strike: float, right: str
) -> SimInstrument:
    """Return the instrument of a listed equity option (100 shares, SMART, OCC local symbol)."""
    return SimInstrument(
        con_id,
        "OPT",
        symbol,
        occ_symbol(symbol, expiry, strike, right),
        "SMART",
        "CBOE",
        "USD",
        100,
        expiry=expiry,
        strike=strike,
        right=right,
        trading_class=symbol,
    )


def occ_symbol(symbol: str, expiry: date, strike: float, right: str) -> str:
    """Return the OCC option symbol, e.g. ``SPY   261218P00600000``."""
    return f"{symbol:<6}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"
