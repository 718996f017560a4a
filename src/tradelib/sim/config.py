"""Configuration of the simulated market, and the fixed model tables behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import numpy as np
import numpy.typing as npt

from tradelib.markethours import NEW_YORK, MarketHours, require_utc
from tradelib.sim.types import REGIMES, SimRegime

INDEX_SYMBOLS: tuple[str, ...] = ("SPY", "QQQ", "IWM")
FUTURES_ROOTS: tuple[str, ...] = ("ES", "NQ", "RTY")
VIX = "VIX"


@dataclass(frozen=True, slots=True)
class UnderlyingSpec:
    """Fixed per-ETF model parameters."""

    beta: float  # vol multiplier vs SPY (also scales drift and jumps)
    atm_iv_ratio: float  # 30-day ATM IV / VIX
    option_spread_mult: float  # option bid/ask width vs SPY
    fine_step: float  # smallest strike increment near the money
    coarse_step: float  # strike increment far from the money
    weekly_days: tuple[int, ...]  # weekdays with weekly expiries (Mon=0)
    daily_volume: float  # shares per regular session
    primary_exchange: str


@dataclass(frozen=True, slots=True)
class FutureSpec:
    """Fixed per-root futures parameters."""

    index: str  # the ETF whose latent index it tracks
    multiplier: int  # USD per index point
    tick: float
    daily_volume: float  # contracts per trade date


@dataclass(frozen=True, slots=True)
class RegimeSpec:
    """Dynamics of one regime, for SPY (other ETFs scale by beta)."""

    vol: float  # annualised diffusion vol
    drift: float  # annualised drift (TRENDING: magnitude, sign drawn per episode)
    jumps_per_day: float
    jump_mean: float  # log jump size
    jump_sd: float
    vix_base: float  # VIX level the regime pulls towards
    put_skew: float  # put-side IV slope per unit of ln(K/F)/sqrt(T)
    spread_mult: float  # bid/ask width multiplier
    volume_mult: float


UNDERLYINGS: dict[str, UnderlyingSpec] = {
    "SPY": UnderlyingSpec(1.00, 0.92, 1.0, 1.0, 5.0, (0, 2, 4), 60e6, "ARCA"),
    "QQQ": UnderlyingSpec(1.25, 1.20, 1.4, 1.0, 5.0, (0, 2, 4), 40e6, "NASDAQ"),
    "IWM": UnderlyingSpec(1.35, 1.40, 1.8, 0.5, 5.0, (4,), 30e6, "ARCA"),
}
FUTURES: dict[str, FutureSpec] = {
    "ES": FutureSpec("SPY", 50, 0.25, 1.5e6),
    "NQ": FutureSpec("QQQ", 20, 0.25, 6e5),
    "RTY": FutureSpec("IWM", 50, 0.10, 1.5e5),
}
REGIME_SPECS: dict[SimRegime, RegimeSpec] = {
    SimRegime.CALM: RegimeSpec(0.11, 0.08, 0.0, 0.0, 0.0, 13.5, 0.25, 1.0, 1.0),
    SimRegime.TRENDING: RegimeSpec(0.13, 0.50, 0.0, 0.0, 0.0, 15.5, 0.25, 1.2, 1.2),
    SimRegime.HIGH_VOL: RegimeSpec(0.28, -0.10, 0.5, -0.006, 0.005, 25.0, 0.35, 2.0, 1.6),
    SimRegime.CRASH: RegimeSpec(0.60, -2.50, 3.0, -0.012, 0.008, 45.0, 0.45, 4.0, 2.5),
}

# Daily-return correlations of SPY, QQQ, IWM.
CORRELATION = np.array([[1.0, 0.90, 0.80], [0.90, 1.0, 0.75], [0.80, 0.75, 1.0]])

# Per-hour Markov transitions, rows/columns in SimRegime order: a switch every
# few days on average, crashes rare and short.
DEFAULT_TRANSITIONS: tuple[tuple[float, ...], ...] = (
    (0.9920, 0.0050, 0.0030, 0.0000),
    (0.0080, 0.9900, 0.0020, 0.0000),
    (0.0040, 0.0020, 0.9900, 0.0040),
    (0.0000, 0.0000, 0.0300, 0.9700),
)


@dataclass(frozen=True, slots=True)
class SimMarketConfig:
    """Everything that shapes a simulated market; same config, same market.

    ``start`` None means "09:45 New York on the latest trading day", resolved by
    ``SimulatedMarket`` at construction (see ``default_start``). Prices are in
    USD (futures ratios: index points per ETF dollar), rates and yields as
    decimals, continuously compounded.
    """

    seed: int = 7
    start: datetime | None = None
    underlyings: tuple[str, ...] = INDEX_SYMBOLS
    futures: tuple[str, ...] = FUTURES_ROOTS
    futures_lead_s: float = 2.0  # futures lead spot by this many seconds
    history_days: int = 90  # trading days of daily history before start
    roll_days_before_expiry: int = 8  # calendar days
    initial_prices: tuple[tuple[str, float], ...] = (("SPY", 600.0), ("QQQ", 520.0), ("IWM", 225.0))
    # ES ~ 10 x SPY, NQ ~ 41 x QQQ, RTY ~ 10 x IWM, before the carry basis.
    futures_ratios: tuple[tuple[str, float], ...] = (("ES", 10.0), ("NQ", 41.0), ("RTY", 10.0))
    rate: float = 0.04
    dividend_yields: tuple[tuple[str, float], ...] = (
        ("SPY", 0.012),
        ("QQQ", 0.006),
        ("IWM", 0.013),
    )
    regime_transitions_per_hour: tuple[tuple[float, ...], ...] = DEFAULT_TRANSITIONS
    initial_regime: SimRegime = SimRegime.CALM  # regime at the start of the history
    forced_regime: SimRegime | None = None  # pin the regime everywhere (tests, scenarios)
    overnight_vol_ratio: float = 0.35  # overnight futures vol / regular-session vol
    spot_noise_bp: float = 0.2  # ETF microstructure noise, basis points per second

    def __post_init__(self) -> None:
        if self.start is not None:
            require_utc(self.start, "start")
        _subset("underlyings", self.underlyings, INDEX_SYMBOLS)
        _subset("futures", self.futures, FUTURES_ROOTS)
        if not 0.0 <= self.futures_lead_s <= 60.0:
            raise ValueError(
                f"futures_lead_s must be in [0, 60] seconds, got {self.futures_lead_s}"
            )
        if self.history_days < 1:
            raise ValueError(f"history_days must be >= 1, got {self.history_days}")
        if not 0 <= self.roll_days_before_expiry <= 60:
            raise ValueError(
                f"roll_days_before_expiry must be in [0, 60], got {self.roll_days_before_expiry}"
            )
        for name, pairs, keys in (
            ("initial_prices", self.initial_prices, INDEX_SYMBOLS),
            ("futures_ratios", self.futures_ratios, FUTURES_ROOTS),
        ):
            table = dict(pairs)
            missing = [k for k in keys if k not in table]
            if missing or any(not v > 0 for v in table.values()):
                raise ValueError(f"{name} needs a positive value for each of {keys}, got {pairs}")
        if set(dict(self.dividend_yields)) != set(INDEX_SYMBOLS):
            raise ValueError(f"dividend_yields needs one value for each of {INDEX_SYMBOLS}")
        if not -0.05 <= self.rate <= 0.25:
            raise ValueError(f"rate must be a decimal in [-0.05, 0.25], got {self.rate}")
        matrix = np.asarray(self.regime_transitions_per_hour, dtype=float)
        if (
            matrix.shape != (len(REGIMES), len(REGIMES))
            or (matrix < 0).any()
            or not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-9)
        ):
            raise ValueError(
                "regime_transitions_per_hour must be a 4x4 row-stochastic matrix "
                f"(rows/columns {[r.value for r in REGIMES]}), got {self.regime_transitions_per_hour}"
            )
        if not 0.0 < self.overnight_vol_ratio <= 1.0:
            raise ValueError(
                f"overnight_vol_ratio must be in (0, 1], got {self.overnight_vol_ratio}"
            )
        if not 0.0 <= self.spot_noise_bp <= 10.0:
            raise ValueError(f"spot_noise_bp must be in [0, 10], got {self.spot_noise_bp}")

    def price_of(self, symbol: str) -> float:
        """Return the initial price of an ETF."""
        return dict(self.initial_prices)[symbol]

    def ratio_of(self, root: str) -> float:
        """Return index points of ``root`` per dollar of its ETF."""
        return dict(self.futures_ratios)[root]

    def dividend_yield(self, symbol: str) -> float:
        """Return the continuous dividend yield of an ETF."""
        return dict(self.dividend_yields)[symbol]

    def transitions(self) -> npt.NDArray[np.float64]:
        """Return the hourly transition matrix as an array."""
        return np.asarray(self.regime_transitions_per_hour, dtype=np.float64)


def _subset(name: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ValueError(f"{name} must be a non-empty subset of {allowed}, got {values}")


START_TIME_NY = time(9, 45)


def default_start(today: date, calendar: MarketHours | None = None) -> datetime:
    """Return 09:45 New York time of ``today`` if it is a trading day, else of the previous one.

    The result is UTC. ``today`` is the caller's (New York) date: reading the
    wall clock is the caller's business.
    """
    hours = calendar or MarketHours()
    day = hours.trading_day_on_or_before(today)
    return datetime.combine(day, START_TIME_NY, tzinfo=NEW_YORK).astimezone(UTC)
