"""``EnhancedMarketRegimeDetector``: the market regime with the evidence that decided it.

Pure: bars (and the previous reading, for hysteresis) go in, a
``RegimeReading`` comes out. No clock, no I/O; a caller that runs every cycle
keeps the last reading and hands it back in.

How a reading is decided, first match wins (every threshold from
``RegimeDetectorConfig``):

1. **crash**: VIX >= crash_vix; or short realized vol >= crash_rv with a drawdown
   >= crash_drawdown from the recent high; or VIX/VIX3M >= crash_term_ratio with
   VIX >= high_vol_vix.
2. **high_vol**: VIX >= high_vol_vix while realized vol > low_vol_rv (a high VIX
   over a calm tape is fear fading: implied lags realized on the way down), or
   realized vol >= high_vol_rv, or VIX/VIX3M >= backwardation_ratio.
3. **trending**: efficiency ratio >= trend_efficiency and |trend return| >= trend_min_return.
4. **low_vol**: VIX <= low_vol_vix and realized vol <= low_vol_rv.
5. **range_bound**: efficiency ratio <= range_efficiency.
6. **normal**: anything else.

Hysteresis belongs to the way down. A step *up* into a stressed regime
(high_vol or crash) is admitted on the reading that crosses its threshold:
waiting a day to admit a crash leaves the calm regime's take profit in force on
the day the market falls. Every other change (towards calmer regimes, or
sideways) is only adopted after ``confirm_readings`` readings in a row, except
a smaller step up in danger (e.g. low_vol -> normal) whose deciding threshold is
beaten by ``switch_margin`` (relative), which is adopted at once too.

Live evidence: ``detect(..., vix_now=, spy_now=)`` folds a caller's live VIX
quote and SPY price into the latest row (``features.with_live_quotes``); they
only ever raise the danger measures. A reading of the same day as ``previous``
(a later monitoring cycle) can step up but never down: calm comes back with the
next day's readings, so a regime admitted intraday holds for the day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Self

import polars as pl

from tradelib.config import RegimeDetectorConfig, TradingConfig
from tradelib.domain import MarketRegime
from tradelib.regime.features import (
    daily_features,
    intraday_realized_vol,
    warmup_rows,
    with_live_quotes,
)

EvidenceValue = float | int | str | bool | None

# Danger ranking: a step up may skip the confirmation wait.
_DANGER: dict[MarketRegime, int] = {
    MarketRegime.CRASH: 3,
    MarketRegime.HIGH_VOL: 2,
    MarketRegime.TRENDING: 1,
    MarketRegime.NORMAL: 1,
    MarketRegime.RANGE_BOUND: 0,
    MarketRegime.LOW_VOL: 0,
}
# Stressed regimes: a step up into one of these is admitted at once.
_STRESS = frozenset({MarketRegime.CRASH, MarketRegime.HIGH_VOL})
_REQUIRED = ("vix", "rv", "rv_short", "efficiency", "trend_return", "drawdown")


@dataclass(frozen=True, slots=True)
class RegimeReading:
    """One regime reading: the regime (None = unknown), why, and how sure.

    ``raw`` is what this reading alone says; ``regime`` is what the detector
    reports after hysteresis. ``candidate``/``streak`` carry the hysteresis state
    (a regime waiting for confirmation and how many readings in a row it has shown).
    """

    regime: MarketRegime | None
    confidence: float
    evidence: Mapping[str, EvidenceValue] = field(default_factory=dict)
    raw: MarketRegime | None = None
    candidate: MarketRegime | None = None
    streak: int = 0
    as_of: date | None = None

    @property
    def known(self) -> bool:
        """Return True when the detector could name a regime."""
        return self.regime is not None


@dataclass(frozen=True, slots=True)
class _Verdict:
    regime: MarketRegime
    why: str
    margin: float  # relative distance past the deciding threshold, >= 0


def _excess(value: float, threshold: float) -> float:
    return value / threshold - 1.0


def _shortfall(value: float, threshold: float) -> float:
    return 1.0 - value / threshold


def classify(features: Mapping[str, Any], cfg: RegimeDetectorConfig) -> _Verdict:
    """Classify one row of complete features, without hysteresis."""
    vix = float(features["vix"])
    rv = float(features["rv"])
    rv_short = float(features["rv_short"])
    er = float(features["efficiency"])
    move = float(features["trend_return"])
    dd = float(features["drawdown"])
    term_value = features.get("vix_term")
    term = None if term_value is None else float(term_value)

    crash: list[tuple[float, str]] = []
    if vix >= cfg.crash_vix:
        crash.append((_excess(vix, cfg.crash_vix), f"VIX {vix:.2f} >= crash {cfg.crash_vix:g}"))
    if rv_short >= cfg.crash_rv and dd >= cfg.crash_drawdown:
        crash.append(
            (
                min(_excess(rv_short, cfg.crash_rv), _excess(dd, cfg.crash_drawdown)),
                f"short rv {rv_short:.1%} >= {cfg.crash_rv:.0%} and drawdown "
                f"{dd:.1%} >= {cfg.crash_drawdown:.0%}",
            )
        )
    if term is not None and term >= cfg.crash_term_ratio and vix >= cfg.high_vol_vix:
        crash.append(
            (
                min(_excess(term, cfg.crash_term_ratio), _excess(vix, cfg.high_vol_vix)),
                f"VIX/VIX3M {term:.3f} >= {cfg.crash_term_ratio:g} with VIX {vix:.2f}",
            )
        )
    if crash:
        margin, why = max(crash)
        return _Verdict(MarketRegime.CRASH, why, margin)

    high: list[tuple[float, str]] = []
    if vix >= cfg.high_vol_vix and rv > cfg.low_vol_rv:
        high.append((_excess(vix, cfg.high_vol_vix), f"VIX {vix:.2f} >= {cfg.high_vol_vix:g}"))
    if rv >= cfg.high_vol_rv:
        high.append(
            (_excess(rv, cfg.high_vol_rv), f"realized vol {rv:.1%} >= {cfg.high_vol_rv:.0%}")
        )
    if term is not None and term >= cfg.backwardation_ratio:
        high.append(
            (
                _excess(term, cfg.backwardation_ratio),
                f"VIX/VIX3M {term:.3f} >= {cfg.backwardation_ratio:g} (backwardation)",
            )
        )
    if high:
        margin, why = max(high)
        return _Verdict(MarketRegime.HIGH_VOL, why, margin)

    if er >= cfg.trend_efficiency and abs(move) >= cfg.trend_min_return:
        margin = _excess(er, cfg.trend_efficiency)
        if cfg.trend_min_return > 0:
            margin = min(margin, _excess(abs(move), cfg.trend_min_return))
        return _Verdict(
            MarketRegime.TRENDING,
            f"efficiency {er:.2f} >= {cfg.trend_efficiency:g}, move {move:+.1%} "
            f"over {cfg.trend_window}d",
            margin,
        )
    if vix <= cfg.low_vol_vix and rv <= cfg.low_vol_rv:
        return _Verdict(
            MarketRegime.LOW_VOL,
            f"VIX {vix:.2f} <= {cfg.low_vol_vix:g} and realized vol {rv:.1%} <= "
            f"{cfg.low_vol_rv:.0%}",
            min(_shortfall(vix, cfg.low_vol_vix), _shortfall(rv, cfg.low_vol_rv)),
        )
    if er <= cfg.range_efficiency:
        return _Verdict(
            MarketRegime.RANGE_BOUND,
            f"efficiency {er:.2f} <= {cfg.range_efficiency:g}",
            _shortfall(er, cfg.range_efficiency),
        )
    return _Verdict(
        MarketRegime.NORMAL,
        f"VIX {vix:.2f} in ({cfg.low_vol_vix:g}, {cfg.high_vol_vix:g}), no clear trend",
        max(0.0, min(_shortfall(vix, cfg.high_vol_vix), _shortfall(rv, cfg.high_vol_rv))),
    )


class EnhancedMarketRegimeDetector:
    """Classify the market into crash / high_vol / normal / low_vol / trending / range_bound.

    Inputs are polars frames of daily bars (``ts`` tz-aware, ``close``) for SPY
    and VIX, optionally VIX3M (term structure) and today's intraday SPY bars.
    """

    def __init__(self, cfg: RegimeDetectorConfig | None = None) -> None:
        self.cfg = cfg or RegimeDetectorConfig()

    @classmethod
    def from_config(cls, cfg: TradingConfig) -> Self:
        """Build the detector from ``cfg.regime_detector``."""
        return cls(cfg.regime_detector)

    def __repr__(self) -> str:
        return f"EnhancedMarketRegimeDetector({self.cfg!r})"

    @property
    def warmup(self) -> int:
        """Daily bars needed before the first reading can name a regime."""
        return warmup_rows(self.cfg)

    def features(
        self,
        spy_daily: pl.DataFrame,
        vix_daily: pl.DataFrame,
        vix3m_daily: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        """Return the per-day feature table the readings are decided on."""
        return daily_features(spy_daily, vix_daily, self.cfg, vix3m_daily)

    def detect(
        self,
        spy_daily: pl.DataFrame,
        vix_daily: pl.DataFrame,
        *,
        previous: RegimeReading | None = None,
        vix3m_daily: pl.DataFrame | None = None,
        spy_intraday: pl.DataFrame | None = None,
        vix_now: float | None = None,
        spy_now: float | None = None,
    ) -> RegimeReading:
        """Return the reading for the latest day in the bars.

        ``previous`` is the last reading this caller got (hysteresis); it may be
        an earlier reading of the same day, which this one can only raise.
        ``spy_intraday`` (today's bars) lets a stressed session raise the short
        realized vol before the daily window catches up; ``vix_now`` (the live
        VIX quote) and ``spy_now`` (the live SPY price) raise VIX, drawdown and
        short realized vol the same way (see ``with_live_quotes``).
        """
        table = self.features(spy_daily, vix_daily, vix3m_daily)
        if table.height == 0:
            return self._unknown(None, "no daily bars common to SPY and VIX")
        row = with_live_quotes(table, self.cfg, vix_now=vix_now, spy_now=spy_now)
        if spy_intraday is not None:
            intraday = intraday_realized_vol(spy_intraday)
            row["rv_intraday"] = intraday
            rv_short = row["rv_short"]
            if intraday is not None and isinstance(rv_short, float):
                # Only ever raise it: one calm morning must not undo a crashing week.
                row["rv_short"] = max(rv_short, intraday)
        return self.step(row, previous, bars=table.height)

    def detect_series(
        self,
        spy_daily: pl.DataFrame,
        vix_daily: pl.DataFrame,
        *,
        vix3m_daily: pl.DataFrame | None = None,
        previous: RegimeReading | None = None,
    ) -> list[RegimeReading]:
        """Return one reading per day, each fed the one before (as a daily job would)."""
        table = self.features(spy_daily, vix_daily, vix3m_daily)
        readings: list[RegimeReading] = []
        for i, row in enumerate(table.iter_rows(named=True)):
            previous = self.step(row, previous, bars=i + 1)
            readings.append(previous)
        return readings

    def step(
        self,
        features: Mapping[str, Any],
        previous: RegimeReading | None,
        *,
        bars: int | None = None,
    ) -> RegimeReading:
        """Turn one row of features (and the previous reading) into the next reading."""
        as_of = features.get("date")
        day = as_of if isinstance(as_of, date) else None
        missing = [name for name in _REQUIRED if features.get(name) is None]
        if missing:
            have = f"{bars} daily bars" if bars is not None else "too few bars"
            return self._unknown(
                day, f"need {self.warmup} daily bars, have {have} (missing {', '.join(missing)})"
            )
        verdict = classify(features, self.cfg)
        move = _transition(verdict, previous, day, self.cfg)
        return RegimeReading(
            regime=move.regime,
            confidence=round(_confidence(verdict, move, self.cfg), 4),
            evidence=_evidence(features, verdict, move, self.cfg),
            raw=verdict.regime,
            candidate=move.candidate,
            streak=move.streak,
            as_of=day,
        )

    @staticmethod
    def _unknown(day: date | None, reason: str) -> RegimeReading:
        return RegimeReading(None, 0.0, {"decided_by": reason}, as_of=day)


@dataclass(frozen=True, slots=True)
class _Transition:
    """What hysteresis makes of a verdict: the regime reported, the state carried, and how."""

    regime: MarketRegime
    candidate: MarketRegime | None  # a regime waiting for confirmation
    streak: int  # readings in a row the candidate has shown
    held: bool  # the previous regime held against the verdict
    how: str


def _transition(
    verdict: _Verdict,
    previous: RegimeReading | None,
    day: date | None,
    cfg: RegimeDetectorConfig,
) -> _Transition:
    """Apply hysteresis (see the module doc) to ``verdict`` given the ``previous`` reading."""
    regime, candidate, streak, held = verdict.regime, None, 0, False
    how = "first reading"
    if previous is not None and previous.regime is not None:
        prev = previous.regime
        up = _DANGER[verdict.regime] > _DANGER[prev]
        if day is not None and previous.as_of == day:
            # A later reading of the same day: it may raise the regime, never lower it.
            if up:
                how = f"step up from {prev.value} within the day"
            elif verdict.regime is prev:
                how = f"{prev.value} again within the day"
            else:
                regime, candidate, streak, held = (
                    prev,
                    previous.candidate,
                    previous.streak,
                    True,
                )
                how = f"{prev.value} holds for the rest of the day"
        elif verdict.regime is prev:
            how = f"{prev.value} again"
        elif up and verdict.regime in _STRESS:
            how = f"step up into {verdict.regime.value} from {prev.value}: admitted at once"
        elif up and verdict.margin >= cfg.switch_margin:
            how = f"step up from {prev.value} past the switch margin: admitted at once"
        else:
            streak = previous.streak + 1 if previous.candidate is verdict.regime else 1
            if streak >= cfg.confirm_readings:
                streak = 0
                how = f"{verdict.regime.value} confirmed ({cfg.confirm_readings} readings)"
            else:
                regime, candidate, held = prev, verdict.regime, True
                how = (
                    f"{prev.value} held: {verdict.regime.value} seen {streak} of "
                    f"{cfg.confirm_readings} readings"
                )
    return _Transition(regime, candidate, streak, held, how)


def _confidence(verdict: _Verdict, move: _Transition, cfg: RegimeDetectorConfig) -> float:
    """Sure in proportion to the margin; a held regime fades as its challenger's streak grows."""
    if move.held:
        return max(0.1, 0.5 * (1.0 - move.streak / cfg.confirm_readings))
    return min(1.0, 0.5 + verdict.margin)


# The features a reading's evidence shows, in this order.
_EVIDENCE_FEATURES = (
    "vix",
    "vix_close",
    "vix_now",
    "spy_now",
    "vix_term",
    "rv",
    "rv_short",
    "rv_intraday",
    "rv_iv",
    "efficiency",
    "trend_return",
    "drawdown",
)


def _evidence(
    features: Mapping[str, Any],
    verdict: _Verdict,
    move: _Transition,
    cfg: RegimeDetectorConfig,
) -> dict[str, EvidenceValue]:
    """The features, the verdict, the transition and every threshold that applied."""
    evidence: dict[str, EvidenceValue] = {
        name: _clean(features.get(name)) for name in _EVIDENCE_FEATURES
    }
    evidence.update(
        decided_by=verdict.why,
        raw=verdict.regime.value,
        margin=round(verdict.margin, 4),
        held_by_hysteresis=move.held,
        transition=move.how,
        streak=move.streak,
        crash_vix=cfg.crash_vix,
        high_vol_vix=cfg.high_vol_vix,
        low_vol_vix=cfg.low_vol_vix,
        crash_rv=cfg.crash_rv,
        crash_drawdown=cfg.crash_drawdown,
        high_vol_rv=cfg.high_vol_rv,
        low_vol_rv=cfg.low_vol_rv,
        trend_efficiency=cfg.trend_efficiency,
        range_efficiency=cfg.range_efficiency,
        confirm_readings=cfg.confirm_readings,
        switch_margin=cfg.switch_margin,
    )
    return evidence


def _clean(value: Any) -> EvidenceValue:
    if value is None:
        return None
    return round(float(value), 6)
