"""Price paths: daily history before the start, then one 1-second block per trading day.

A block runs from the previous session's close to this session's close and
holds, per second, the latent log level of each index (which futures track
without delay), the ETF prices during the regular session (the latent level
``futures_lead_s`` earlier, plus microstructure noise), VIX, and the regime (per
hour). Each block draws its random numbers from ``(seed, day)`` and starts
from the state the previous block ended in, so prices are a pure function of
the seed and the timestamp. Everything is vectorised numpy; the only Python
loops run over hours (regime chain) or days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from tradelib.sim.config import (
    CORRELATION,
    INDEX_SYMBOLS,
    REGIME_SPECS,
    UNDERLYINGS,
    SimMarketConfig,
)
from tradelib.sim.types import REGIMES, FloatArray, SimRegime

SESSION_S = 23_400  # a full regular session
OVERNIGHT_OPEN_S = 59_400  # futures trading seconds outside it (24 h - 6.5 h - 1 h halt)
TRADING_DAYS_PER_YEAR = 252
RV_HALF_LIFE_S = 7_200  # realized-vol memory feeding VIX, in trading seconds
VIX_HALF_LIFE_S = 1_800  # how fast VIX follows its target
VIX_NOISE_SD = 0.04  # stationary sd of log-VIX noise
TREND_UP_PROBABILITY = 0.7
_SEED_HISTORY, _SEED_BLOCK = 1, 2

Int8Array = npt.NDArray[np.int8]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


# Bump whenever generate_history or generate_block would give other paths from the same
# inputs: a saved market memo (path states, daily bars) of another version is not adopted.
MODEL_VERSION = 1


@dataclass(frozen=True, slots=True)
class PathState:
    """What one block hands to the next."""

    log_level: FloatArray  # (3,) latent log price of SPY, QQQ, IWM
    regime: int
    trend_sign: float
    log_vix: float
    rv2: float  # realized variance estimate of SPY, annualised


@dataclass(frozen=True, slots=True)
class ModelParams:
    """The config turned into arrays the generators index by regime."""

    seed: int
    unit_var: float  # share of a year's variance in one regular-session second at vol 1
    overnight_var: float  # overnight per-second variance relative to the session
    chol: FloatArray
    beta: FloatArray
    vol: FloatArray
    drift: FloatArray
    jump_rate: FloatArray  # per trading day
    jump_mean: FloatArray
    jump_sd: FloatArray
    vix_base: FloatArray
    volume_mult: FloatArray
    transitions: FloatArray  # hourly
    forced: int | None
    lead_s: float
    noise: float  # log-price sd per second

    @classmethod
    def from_config(cls, config: SimMarketConfig) -> ModelParams:
        """Build the parameter arrays for ``config``."""
        on_var = config.overnight_vol_ratio**2
        specs = [REGIME_SPECS[r] for r in REGIMES]
        return cls(
            seed=config.seed,
            unit_var=1.0 / (TRADING_DAYS_PER_YEAR * (SESSION_S + on_var * OVERNIGHT_OPEN_S)),
            overnight_var=on_var,
            chol=np.linalg.cholesky(CORRELATION),
            beta=np.array([UNDERLYINGS[s].beta for s in INDEX_SYMBOLS]),
            vol=np.array([s.vol for s in specs]),
            drift=np.array([s.drift for s in specs]),
            jump_rate=np.array([s.jumps_per_day for s in specs]),
            jump_mean=np.array([s.jump_mean for s in specs]),
            jump_sd=np.array([s.jump_sd for s in specs]),
            vix_base=np.array([s.vix_base for s in specs]),
            volume_mult=np.array([s.volume_mult for s in specs]),
            transitions=config.transitions(),
            forced=None if config.forced_regime is None else REGIMES.index(config.forced_regime),
            lead_s=config.futures_lead_s,
            noise=config.spot_noise_bp * 1e-4,
        )


def recursive_filter(x: FloatArray, decay: float, y_prev: float) -> FloatArray:
    """Return ``y[t] = decay * y[t-1] + x[t]`` starting from ``y[-1] = y_prev``, vectorised.

    Works in chunks short enough that ``decay ** -chunk`` stays well inside float64.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay must be in (0, 1), got {decay}")
    chunk = max(1, min(4096, int(20.0 / -math.log(decay))))
    powers = decay ** np.arange(chunk, dtype=np.float64)
    inverse = 1.0 / powers
    for lo in range(0, x.size, chunk):
        seg = x[lo : lo + chunk]
        m = seg.size
        acc = np.cumsum(seg * inverse[:m])
        out[lo : lo + m] = powers[:m] * (decay * y_prev + acc)
        y_prev = float(out[lo + m - 1])
    return out


def regime_chain(
    params: ModelParams,
    transitions: FloatArray,
    start: int,
    sign: float,
    n: int,
    rng: np.random.Generator,
) -> tuple[Int8Array, FloatArray]:
    """Walk the Markov chain ``n`` steps from ``start``; return regimes and trend signs."""
    u = rng.random(n)
    u_sign = rng.random(n)
    regimes = np.empty(n, dtype=np.int8)
    signs = np.empty(n, dtype=np.float64)
    if params.forced is not None:
        regimes[:] = params.forced
        signs[:] = 1.0
        return regimes, signs
    cum = np.cumsum(transitions, axis=1)
    trending = REGIMES.index(SimRegime.TRENDING)
    current = start
    for j in range(n):
        nxt = min(int(np.searchsorted(cum[current], u[j], side="right")), len(REGIMES) - 1)
        if nxt == trending and current != trending:
            sign = 1.0 if u_sign[j] < TREND_UP_PROBABILITY else -1.0
        current = nxt
        regimes[j] = current
        signs[j] = sign
    return regimes, signs


# --- history (daily) -------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class History:
    """Daily OHLCV of the three ETFs and VIX for the sessions before the first block."""

    days: list[date]
    open: FloatArray  # (H, 3)
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: IntArray
    vix_open: FloatArray  # (H,)
    vix_high: FloatArray
    vix_low: FloatArray
    vix_close: FloatArray
    regime: Int8Array
    end_state: PathState


def generate_history(
    params: ModelParams,
    config: SimMarketConfig,
    days: list[date],
) -> History:
    """Generate daily history ending, on its last close, exactly at the initial prices."""
    h = len(days)
    rng = np.random.default_rng([params.seed, _SEED_HISTORY, days[-1].toordinal(), h])
    daily_p = np.linalg.matrix_power(params.transitions, 24)
    start = REGIMES.index(config.initial_regime)
    reg, sign = regime_chain(params, daily_p, start, 1.0, h, rng)
    w_on = (
        params.overnight_var
        * OVERNIGHT_OPEN_S
        / (SESSION_S + params.overnight_var * OVERNIGHT_OPEN_S)
    )

    vol = params.vol[reg][:, None] * params.beta[None, :]  # (H, 3)
    drift = (params.drift[reg] * sign)[:, None] * params.beta[None, :] - 0.5 * vol**2
    z_on = rng.standard_normal((h, 3)) @ params.chol.T
    z_day = rng.standard_normal((h, 3)) @ params.chol.T
    n_jumps = rng.poisson(params.jump_rate[reg])
    jump = (
        rng.standard_normal(h) * params.jump_sd[reg] * np.sqrt(n_jumps)
        + n_jumps * params.jump_mean[reg]
    )
    scale = 1.0 / TRADING_DAYS_PER_YEAR
    r_on = drift * w_on * scale + vol * math.sqrt(w_on * scale) * z_on
    r_day = drift * (1 - w_on) * scale + vol * math.sqrt((1 - w_on) * scale) * z_day
    idio = rng.standard_normal((h, 3)) * (params.jump_sd[reg] * np.sqrt(n_jumps))[:, None]
    r_day += (jump[:, None] + idio) * params.beta[None, :]

    init = np.log([config.price_of(s) for s in INDEX_SYMBOLS])
    log_close = np.cumsum(r_on + r_day, axis=0)
    log_close += init - log_close[-1]
    log_open = log_close - r_day
    intraday_sd = vol * math.sqrt((1 - w_on) * scale)
    log_high = np.maximum(log_open, log_close) + 0.5 * intraday_sd * np.abs(
        rng.standard_normal((h, 3))
    )
    log_low = np.minimum(log_open, log_close) - 0.5 * intraday_sd * np.abs(
        rng.standard_normal((h, 3))
    )
    base_volume = np.array([UNDERLYINGS[s].daily_volume for s in INDEX_SYMBOLS])
    volume = base_volume[None, :] * params.volume_mult[reg][:, None]
    volume_shares = np.round(volume * np.exp(0.25 * rng.standard_normal((h, 3)))).astype(np.int64)

    rv2, log_vix, (vix_open, vix_high, vix_low, vix_close) = _vix_history(
        params, reg, r_on[:, 0] + r_day[:, 0], rng
    )

    end = PathState(
        log_level=init.copy(),
        regime=int(reg[-1]),
        trend_sign=float(sign[-1]),
        log_vix=float(log_vix[-1]),
        rv2=float(rv2[-1]),
    )
    return History(
        days=list(days),
        open=np.exp(log_open),
        high=np.exp(log_high),
        low=np.exp(log_low),
        close=np.exp(log_close),
        volume=volume_shares,
        vix_open=vix_open,
        vix_high=vix_high,
        vix_low=vix_low,
        vix_close=vix_close,
        regime=reg,
        end_state=end,
    )


def _vix_history(
    params: ModelParams,
    reg: npt.NDArray[np.integer],
    spy_r: FloatArray,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray, tuple[FloatArray, FloatArray, FloatArray, FloatArray]]:
    """Daily VIX (open, high, low, close) with the realized variance and log level behind it.

    A daily EWMA of realized SPY variance pulls the VIX around its regime level.
    Draws from ``rng`` after the prices, in the order the history always used.
    """
    h = len(reg)
    a = 1.0 - 0.5 ** (1.0 / 10.0)
    spy_r2 = spy_r**2 * TRADING_DAYS_PER_YEAR
    rv2_0 = float(params.vol[reg[0]] ** 2)
    rv2 = recursive_filter(a * spy_r2, 1.0 - a, rv2_0)
    target = _vix_target(params, reg, rv2)
    kappa = 0.35
    eps = rng.standard_normal(h) * 0.06
    x0 = float(np.log(params.vix_base[reg[0]]))
    log_vix = recursive_filter(kappa * target + eps, 1.0 - kappa, x0)
    vix_close = np.exp(log_vix)
    vix_open = np.exp(np.concatenate([[x0], log_vix[:-1]]) + 0.02 * rng.standard_normal(h))
    spread = 0.03 * np.abs(rng.standard_normal((2, h)))
    vix_high = np.maximum(vix_open, vix_close) * np.exp(spread[0])
    vix_low = np.minimum(vix_open, vix_close) * np.exp(-spread[1])
    return rv2, log_vix, (vix_open, vix_high, vix_low, vix_close)


def _vix_target(params: ModelParams, reg: npt.NDArray[np.integer], rv2: FloatArray) -> FloatArray:
    # Realized vol above the regime's own vol lifts VIX (by the square root of the ratio).
    ratio = np.clip(rv2 / params.vol[reg] ** 2, 0.25, 4.0)
    return np.asarray(np.log(params.vix_base[reg]) + 0.25 * np.log(ratio), dtype=np.float64)


# --- one trading day at 1-second resolution -------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class Block:
    """One trading day of 1-second data, from the previous close to this close.

    Offsets are seconds from ``start`` (epoch seconds of the previous close).
    """

    day: date
    start: int
    open_off: int
    n: int
    latent: FloatArray  # (n, 3) latent log level per index, what futures see
    fut_open: BoolArray  # (n,) futures trading at this second
    last_fut_open: npt.NDArray[np.int32]  # (n,) latest offset <= i with futures open, -1 if none
    spot: FloatArray  # (n - open_off, 3) ETF prices during the session
    vix: FloatArray  # (n - open_off,) VIX during the session
    regime: Int8Array  # per hour from start
    end_state: PathState

    @property
    def open(self) -> int:
        """Epoch seconds of the session open."""
        return self.start + self.open_off

    @property
    def close(self) -> int:
        """Epoch seconds of the session close (exclusive)."""
        return self.start + self.n

    def nbytes(self) -> int:
        """Return the memory the arrays hold."""
        arrays = (self.latent, self.fut_open, self.last_fut_open, self.spot, self.vix, self.regime)
        return sum(a.nbytes for a in arrays)


def generate_block(
    params: ModelParams,
    day: date,
    start: int,
    open_: int,
    close: int,
    futures_intervals: list[tuple[int, int]],
    state: PathState,
) -> Block:
    """Generate the block for session ``day`` from the state the previous block ended in."""
    n = close - start
    open_off = open_ - start
    rng = np.random.default_rng([params.seed, _SEED_BLOCK, day.toordinal()])

    weight = np.zeros(n)
    for lo, hi in futures_intervals:
        weight[max(lo - start, 0) : max(hi - start, 0)] = params.overnight_var
    weight[open_off:] = 1.0
    fut_open = weight > 0
    var_unit = weight * params.unit_var

    n_slots = -(-n // 3600)
    slots, slot_signs = regime_chain(
        params, params.transitions, state.regime, state.trend_sign, n_slots, rng
    )
    reg = np.repeat(slots, 3600)[:n]
    sign = np.repeat(slot_signs, 3600)[:n]

    vol = params.vol[reg]
    z = rng.standard_normal((n, 3)) @ params.chol.T
    incr = z * (vol * np.sqrt(var_unit))[:, None] * params.beta[None, :]
    vol_i = vol[:, None] * params.beta[None, :]
    incr += (
        (params.drift[reg] * sign)[:, None] * params.beta[None, :] - 0.5 * vol_i**2
    ) * var_unit[:, None]
    jump_prob = params.jump_rate[reg] * var_unit * TRADING_DAYS_PER_YEAR
    hits = np.flatnonzero(rng.random(n) < jump_prob)
    if hits.size:
        sizes = rng.normal(params.jump_mean[reg[hits]], params.jump_sd[reg[hits]])
        # Each ETF also jumps by its own amount, so jumps do not lock correlations at 1.
        idio = rng.standard_normal((hits.size, 3)) * params.jump_sd[reg[hits]][:, None]
        incr[hits] += (sizes[:, None] + idio) * params.beta[None, :]
    latent = state.log_level[None, :] + np.cumsum(incr, axis=0)

    # ETFs see the latent level lead_s seconds late (linear interpolation between seconds).
    whole = int(params.lead_s)
    frac = params.lead_s - whole
    idx = np.arange(open_off, n)
    lagged = (1.0 - frac) * latent[idx - whole] + frac * latent[idx - whole - 1]
    noise = rng.standard_normal((idx.size, 3)) * params.noise
    spot = np.exp(lagged + noise)

    vix_log, rv2_end = _vix_path(params, incr[:, 0], var_unit, fut_open, reg, state, rng)
    positions = np.where(fut_open, np.arange(n, dtype=np.int32), np.int32(-1))
    last_fut_open = np.maximum.accumulate(positions).astype(np.int32)
    end = PathState(
        log_level=latent[-1].copy(),
        regime=int(slots[-1]),
        trend_sign=float(slot_signs[-1]),
        log_vix=float(vix_log[-1]),
        rv2=rv2_end,
    )
    return Block(
        day=day,
        start=start,
        open_off=open_off,
        n=n,
        latent=latent,
        fut_open=fut_open,
        last_fut_open=last_fut_open,
        spot=spot,
        vix=np.exp(vix_log[open_off:]),
        regime=slots,
        end_state=end,
    )


def _vix_path(
    params: ModelParams,
    spy_incr: FloatArray,
    var_unit: FloatArray,
    fut_open: BoolArray,
    reg: Int8Array,
    state: PathState,
    rng: np.random.Generator,
) -> tuple[FloatArray, float]:
    open_idx = np.flatnonzero(fut_open)
    samples = spy_incr[open_idx] ** 2 / var_unit[open_idx]
    a = 1.0 - 0.5 ** (1.0 / RV_HALF_LIFE_S)
    rv2_open = recursive_filter(a * samples, 1.0 - a, state.rv2)
    pos = np.cumsum(fut_open) - 1
    rv2 = np.where(
        pos >= 0, rv2_open[np.maximum(pos, 0)] if rv2_open.size else state.rv2, state.rv2
    )
    target = _vix_target(params, reg, rv2)
    kappa = 1.0 - 0.5 ** (1.0 / VIX_HALF_LIFE_S)
    eps = rng.standard_normal(spy_incr.size) * VIX_NOISE_SD * math.sqrt(2.0 * kappa)
    log_vix = recursive_filter(kappa * target + eps, 1.0 - kappa, state.log_vix)
    rv2_end = float(rv2_open[-1]) if rv2_open.size else state.rv2
    return np.asarray(log_vix, dtype=np.float64), rv2_end
