"""A simulated month of the feedback loop: entries, synthetic outcomes, weights, selection.

Each trading day at the scenario's time of day the real ``StrategySelector``
ranks the real ``SimulatedMarket`` chains of each underlying (within the DTE
window), the best candidate per underlying is "entered" and its prediction
stored; ``hold_days`` trading days later it is closed with a *synthetic*
actual P&L: the prediction plus noise, except for the ``mispredicted``
strategy, whose actual misses by ``miss`` x its max risk. The variance job
runs every day. With ``feedback=True`` the selector ranks with the weights of
``WeightsProvider``; without it, with none (every weight 1.0), while the job
still computes (and stores) what the weights would have been.

This is a scenario for tests, the research notebook and demos: the outcomes
are made up on purpose (no order is placed), and the day's regime is the
simulation's true one mapped to the detector's vocabulary.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from tradelib.config import TradingConfig
from tradelib.domain import NEW_YORK, MarketRegime, Position, Right, StrategyType, utc
from tradelib.entry import Candidate, OptionChain, StrategySelector
from tradelib.jobs.context import LakeContext, parse_now
from tradelib.jobs.variance import run_variance
from tradelib.lake import Lake, TableName
from tradelib.lake.workspace import job_lake
from tradelib.risk.margin import margin_requirement
from tradelib.sim import SimMarketConfig, SimRegime, SimulatedMarket
from tradelib.stores.predictions import StrategyPredictionsTable
from tradelib.stores.weights import WeightsProvider
from tradelib.variance.analysis import ALL_REGIMES
from tradelib.variance.predictions import Outcome, Prediction

# The simulation has four regimes, the detector six; calm reads as normal.
SIM_TO_MARKET_REGIME: Mapping[SimRegime, MarketRegime] = {
    SimRegime.CALM: MarketRegime.NORMAL,
    SimRegime.TRENDING: MarketRegime.TRENDING,
    SimRegime.HIGH_VOL: MarketRegime.HIGH_VOL,
    SimRegime.CRASH: MarketRegime.CRASH,
}
SYNTHETIC_EXIT_RULE = "synthetic_exit"


@dataclass(frozen=True, slots=True)
class FeedbackScenario:
    """What the simulated month looks like (scenario inputs, not trading settings)."""

    seed: int = 7
    start: datetime = field(default_factory=lambda: utc(2026, 11, 24, 15))
    trading_days: int = 21
    hold_days: int = 3  # trading days from entry to the synthetic exit
    mispredicted: StrategyType = StrategyType.SHORT_PUT
    miss: float = 0.25  # the mispredicted strategy's actual: predicted - miss x max risk
    noise: float = 0.02  # sd of every actual's error, as a fraction of max risk
    underlyings: tuple[str, ...] = ("SPY", "QQQ", "IWM")
    feedback: bool = True


@dataclass(frozen=True, slots=True)
class FeedbackDay:
    """One simulated trading day."""

    day: date
    at: datetime
    regime: MarketRegime
    picks: tuple[tuple[str, str], ...]  # (underlying, strategy) entered
    ranked_with: Mapping[str, float]  # the day's regime weights the selector used ({} = none)
    computed: Mapping[str, float]  # strategy weights (all regimes) the job stored that day
    closed: int  # predictions closed that day


@dataclass(frozen=True, slots=True)
class FeedbackRun:
    """The days of one simulated month, in order."""

    scenario: FeedbackScenario
    days: tuple[FeedbackDay, ...]

    def share(self, strategy: str, from_day: int = 0) -> float:
        """Share of the picks from day index ``from_day`` on that were ``strategy``."""
        picks = [s for d in self.days[from_day:] for _, s in d.picks]
        return sum(s == strategy for s in picks) / len(picks) if picks else math.nan

    def weight_path(self, strategy: str) -> list[float]:
        """The strategy's stored (all-regime) weight at the end of each day."""
        return [d.computed.get(strategy, 1.0) for d in self.days]

    def frame(self) -> pl.DataFrame:
        """One row per pick: day, regime, underlying, strategy, the weight it ranked with."""
        return pl.DataFrame(
            [
                {
                    "day": d.day,
                    "regime": d.regime.value,
                    "underlying": u,
                    "strategy_type": s,
                    "ranked_with": d.ranked_with.get(s, 1.0),
                }
                for d in self.days
                for u, s in d.picks
            ],
            schema={
                "day": pl.Date(),
                "regime": pl.String(),
                "underlying": pl.String(),
                "strategy_type": pl.String(),
                "ranked_with": pl.Float64(),
            },
        )


def _chains(
    market: SimulatedMarket, underlyings: Sequence[str], cfg: TradingConfig
) -> list[OptionChain]:
    day = market.now().astimezone(NEW_YORK).date()
    out: list[OptionChain] = []
    for u in underlyings:
        window = [
            e
            for e in market.expiries(u)
            if cfg.strategies.dte_min <= (e - day).days <= cfg.strategies.dte_max
        ]
        if window:
            out.append(
                OptionChain.from_sim_chains(
                    [market.option_chain(u, e) for e in window], cfg.strategies.risk_free_rate
                )
            )
    return out


def _risk_capital(candidate: Candidate, chain: OptionChain) -> float:
    """The candidate's Reg-T style margin (dollars, one unit): its max risk when unbounded."""
    exp = chain.expiry(candidate.expiry)
    positions = []
    for leg in candidate.legs:
        c = leg.contract
        row = np.flatnonzero((exp.strike == c.strike) & (exp.is_call == (c.right is Right.CALL)))
        mark = float(exp.mid[row[0]]) if row.size else math.nan
        positions.append(Position(c, float(leg.ratio), mark * c.multiplier, mark))
    return margin_requirement(positions, {chain.underlying: chain.spot}).total


def _synthetic_actual(prediction: Prediction, scenario: FeedbackScenario) -> float:
    """A reproducible made-up outcome: seeded by the scenario seed and the prediction id."""
    digest = hashlib.sha256(f"{scenario.seed}:{prediction.prediction_id}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    error = scenario.noise * float(rng.standard_normal())
    if prediction.strategy_type is scenario.mispredicted:
        error -= scenario.miss
    return prediction.predicted_pnl + error * prediction.max_loss


def run_feedback_simulation(
    lake: Lake, cfg: TradingConfig, scenario: FeedbackScenario | None = None
) -> FeedbackRun:
    """Run the scenario's month against ``lake`` (predictions and weights are written to it)."""
    sc = scenario or FeedbackScenario()
    market = SimulatedMarket(SimMarketConfig(seed=sc.seed, start=sc.start))
    selector = StrategySelector.from_config(cfg)
    table = StrategyPredictionsTable(lake)
    provider = WeightsProvider.from_config(cfg, lake)
    clock = sc.start.timetz()
    start_day = sc.start.date()
    sessions = market.hours.trading_days(start_day, start_day + timedelta(days=3 * sc.trading_days))
    days: list[FeedbackDay] = []
    held: list[tuple[int, Prediction]] = []  # (exit day index, prediction)
    for i, day in enumerate(sessions[: sc.trading_days]):
        at = datetime.combine(
            day, time(clock.hour, clock.minute, clock.second), tzinfo=clock.tzinfo
        )
        market.advance_to(max(at, market.now()))
        due = [p for exit_i, p in held if exit_i == i]
        held = [(exit_i, p) for exit_i, p in held if exit_i != i]
        table.record_exits(
            [
                Outcome(p.prediction_id, _synthetic_actual(p, sc), SYNTHETIC_EXIT_RULE, at)
                for p in due
            ]
        )
        regime = SIM_TO_MARKET_REGIME[market.regime()]
        weights: Mapping[str, float] | None = None
        regime_weights: Mapping[str, Mapping[str, float]] | None = None
        if sc.feedback:
            weights, regime_weights, _ = provider.weights_for(regime, at)
        ranked_with = dict((regime_weights or {}).get(regime.value, weights or {}))
        chains = {c.underlying: c for c in _chains(market, sc.underlyings, cfg)}
        selection = selector.select(
            chains.values(), regime=regime, weights=weights, regime_weights=regime_weights
        )
        best: dict[str, Candidate] = {}
        for candidate in selection.ranked:
            best.setdefault(candidate.underlying, candidate)
        entered = []
        for u, candidate in sorted(best.items()):
            unbounded = not math.isfinite(candidate.max_loss)
            prediction = Prediction.from_candidate(
                candidate,
                strategy_id=f"sim-{day:%Y%m%d}-{u}-{candidate.strategy.value}",
                entered_at=at,
                risk_capital=_risk_capital(candidate, chains[u]) if unbounded else None,
            )
            entered.append(prediction)
            held.append((i + sc.hold_days, prediction))
        table.record_entries(entered)
        summary = run_variance(LakeContext.at_time(cfg, lake, at))
        days.append(
            FeedbackDay(
                day=day,
                at=at,
                regime=regime,
                picks=tuple((p.underlying, p.strategy_type.value) for p in entered),
                ranked_with=ranked_with,
                computed={
                    r.strategy_type: r.weight
                    for r in summary.weights.rows
                    if r.regime == ALL_REGIMES
                },
                closed=len(due),
            )
        )
    return FeedbackRun(sc, tuple(days))


@dataclass(frozen=True, slots=True)
class ReviewLake:
    """The lake a review reads, the time it reviews at, and whether it was simulated."""

    lake: Lake
    now: datetime
    simulated: bool
    note: str


def review_lake(
    cfg: TradingConfig,
    lake_uri: str = "",
    now: str = "",
    scenario: FeedbackScenario | None = None,
) -> ReviewLake:
    """Open the lake to review; when it holds no closed prediction, simulate a month instead.

    The simulated lake goes to a fresh temporary folder (the configured lake is
    never written) and is reviewed at the end of its last simulated day.
    """
    lake = job_lake(cfg, lake_uri)
    closed = (
        lake.read(TableName.PREDICTIONS, filter=pl.col("closed_at").is_not_null())
        .select(pl.len())
        .collect()
        .item()
    )
    if closed:
        return ReviewLake(lake, parse_now(now), False, f"reviewing {closed} closed predictions")
    folder = Path(tempfile.mkdtemp(prefix="tradelib-variance-review-"))
    simulated = Lake(folder / "lake")
    run = run_feedback_simulation(simulated, cfg, scenario)
    return ReviewLake(
        simulated,
        run.days[-1].at,
        True,
        f"{lake.root} holds no closed predictions: simulated {len(run.days)} trading days "
        f"({run.scenario.mispredicted.value} mispredicted on purpose) in {folder}",
    )
