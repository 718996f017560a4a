"""Benchmark the decision rules engine and the regime detector.

Measures: one engine cycle over 1,000 open strategies (mixed types, states
priced with Black-Scholes after a random market move: some winners, some
losers, some near expiry, some with bad quotes or no greeks), building those
1,000 states from quotes, and regime detection on a year of simulated daily
bars, with the detector's agreement with the simulation's true regime.
Prints a markdown section; ``--out PATH`` writes it.

Usage: .venv/bin/python benchmarks/bench_rules.py [--out PATH]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from tradelib.config import TradingConfig
from tradelib.domain import (
    Contract,
    Leg,
    MarketRegime,
    OptionGreeks,
    Quote,
    Right,
    Strategy,
    StrategyType,
    new_york,
    utc,
)
from tradelib.pricing import bs_greeks
from tradelib.regime import EnhancedMarketRegimeDetector
from tradelib.rules import DecisionEngine, MarketState, StrategyState, build_strategy_state
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.sim.regime_map import agreement

NOW = new_york(2026, 11, 24, 11, 0)
SPOTS = {"SPY": 600.0, "QQQ": 520.0, "IWM": 225.0}
RATE, DIV = 0.04, 0.012
N_STRATEGIES = 1_000
SIM_START = utc(2026, 11, 24, 15)


def median_ms(fn: Callable[[], object], repeat: int = 15) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(runs)


@dataclass(frozen=True, slots=True)
class Book:
    """Open strategies with this cycle's quotes, spots and entry IVs."""

    strategies: list[Strategy]
    quotes: dict[str, Quote]
    spots: dict[str, float]
    entry_iv: dict[str, float]
    roll_credit: dict[str, float | None]


def _shape(kind: StrategyType, spot: float, width: float) -> list[tuple[float, Right, int]]:
    put, call = round(spot * 0.94), round(spot * 1.06)
    if kind is StrategyType.SHORT_PUT:
        return [(put, Right.PUT, -1)]
    if kind is StrategyType.PUT_CREDIT_SPREAD:
        return [(put, Right.PUT, -1), (put - width, Right.PUT, 1)]
    if kind is StrategyType.CALL_CREDIT_SPREAD:
        return [(call, Right.CALL, -1), (call + width, Right.CALL, 1)]
    if kind is StrategyType.SHORT_STRANGLE:
        return [(put, Right.PUT, -1), (call, Right.CALL, -1)]
    return [
        (put, Right.PUT, -1),
        (put - width, Right.PUT, 1),
        (call, Right.CALL, -1),
        (call + width, Right.CALL, 1),
    ]


def make_book(n: int, seed: int = 11) -> Book:
    """Open ``n`` strategies at past spots, then price them after a random move to now."""
    rng = np.random.default_rng(seed)
    kinds = [
        StrategyType.SHORT_PUT,
        StrategyType.PUT_CREDIT_SPREAD,
        StrategyType.CALL_CREDIT_SPREAD,
        StrategyType.IRON_CONDOR,
        StrategyType.SHORT_STRANGLE,
    ]
    underlyings = list(SPOTS)
    strategies: list[Strategy] = []
    quotes: dict[str, Quote] = {}
    entry_iv: dict[str, float] = {}
    roll_credit: dict[str, float | None] = {}
    for i in range(n):
        und = underlyings[i % 3]
        kind = kinds[i % len(kinds)]
        dte_now = int(rng.integers(0, 46))
        held = int(rng.integers(1, 20))
        entry_spot = SPOTS[und] * math.exp(rng.normal(0.0, 0.04))
        iv0 = float(rng.uniform(0.14, 0.24))
        iv1 = iv0 * math.exp(rng.normal(0.0, 0.25))
        shape = _shape(kind, entry_spot, 5.0 if und != "IWM" else 3.0)
        expiry = NOW.date() + timedelta(days=dte_now)
        strikes = np.array([k for k, _, _ in shape])
        calls = np.array([r is Right.CALL for _, r, _ in shape])
        ratios = np.array([q for _, _, q in shape])
        at_entry = bs_greeks(
            entry_spot, strikes, (dte_now + held) / 365, iv0, RATE, DIV, calls
        ).price
        credit = float(-(ratios * at_entry).sum())
        now_g = bs_greeks(SPOTS[und], strikes, max(dte_now, 0.5) / 365, iv1, RATE, DIV, calls)
        legs = []
        bad = rng.random() < 0.02  # a few stale quotes, as a live cycle has
        no_greeks = rng.random() < 0.03
        for j, (k, right, ratio) in enumerate(shape):
            contract = Contract.option(und, expiry, float(k), right)
            legs.append(Leg(contract, int(ratio)))
            mark = max(float(now_g.price[j]), 0.01)
            half = max(0.01, 0.02 * mark)
            greeks = None
            if not no_greeks:
                greeks = OptionGreeks(
                    float(now_g.delta[j]),
                    float(now_g.gamma[j]),
                    float(now_g.theta[j]),
                    float(now_g.vega[j]),
                    iv1,
                )
            ts = NOW - timedelta(seconds=120 if bad and j == 0 else 2)
            quotes[contract.key] = Quote(
                contract, ts, bid=max(mark - half, 0.0), ask=mark + half, greeks=greeks
            )
        sid = f"b{i:04d}"
        strategies.append(
            Strategy(
                sid,
                kind,
                und,
                tuple(legs),
                int(rng.integers(1, 6)),
                round(credit, 2),
                NOW - timedelta(days=held),
            )
        )
        entry_iv[sid] = iv0
        roll_credit[sid] = float(rng.uniform(-0.2, 0.6)) if rng.random() < 0.5 else None
    return Book(strategies, quotes, dict(SPOTS), entry_iv, roll_credit)


def build_states(book: Book) -> list[StrategyState]:
    return [
        build_strategy_state(
            s,
            book.quotes,
            book.spots[s.underlying],
            NOW,
            entry_iv=book.entry_iv[s.strategy_id],
            roll_credit=book.roll_credit[s.strategy_id],
        )
        for s in book.strategies
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    cfg = TradingConfig()

    book = make_book(N_STRATEGIES)
    states = build_states(book)
    engine = DecisionEngine.from_config(cfg)
    market = MarketState(NOW, regime=MarketRegime.NORMAL, vix=17.0, spots=book.spots)
    cycle = median_ms(lambda: engine.evaluate_all(states, market, NOW), 25)
    rows.append(
        (
            f"DecisionEngine.evaluate_all, {N_STRATEGIES:,} open strategies, one cycle",
            f"{cycle:.2f} ms",
            "budget < 20 ms",
        )
    )
    rows.append(
        (
            f"build_strategy_state x {N_STRATEGIES:,} (quotes checked, P&L, greeks)",
            f"{median_ms(lambda: build_states(book), 7):.1f} ms",
            "per cycle, before the engine",
        )
    )
    decisions = engine.evaluate_all(states, market, NOW)
    mix = Counter(d.rule for d in decisions)
    shown = ", ".join(f"{name} {count}" for name, count in mix.most_common())
    rows.append(("decisions in that cycle", f"{len(decisions):,}", shown))

    detector = EnhancedMarketRegimeDetector.from_config(cfg)
    sim = SimulatedMarket(SimMarketConfig(seed=7, start=SIM_START, history_days=252))
    since = SIM_START - timedelta(days=400)
    spy = sim.bars("SPY", since, SIM_START, 86_400)
    vix = sim.bars("VIX", since, SIM_START, 86_400)
    rows.append(
        (
            f"regime detect (latest reading), {spy.height} daily bars",
            f"{median_ms(lambda: detector.detect(spy, vix)):.2f} ms",
            "",
        )
    )
    rows.append(
        (
            f"regime detect_series, one reading per day over {spy.height} days",
            f"{median_ms(lambda: detector.detect_series(spy, vix), 7):.1f} ms",
            "",
        )
    )
    strict, lenient = [], []
    for seed in range(1, 11):
        m = SimulatedMarket(SimMarketConfig(seed=seed, start=SIM_START, history_days=252))
        s_bars = m.bars("SPY", since, SIM_START, 86_400)
        v_bars = m.bars("VIX", since, SIM_START, 86_400)
        truth = [m.regime(ts) for ts in s_bars["ts"].to_list()]
        detected = [r.regime for r in detector.detect_series(s_bars, v_bars)]
        strict.append(agreement(truth, detected))
        lenient.append(agreement(truth, detected, calm_range_bound=True))
    rows.append(
        (
            "regime agreement with the simulation's true regime, 10 seeds x 252 days",
            f"{statistics.mean(strict):.0%} (range {min(strict):.0%}-{max(strict):.0%})",
            f"calm also = range_bound: {statistics.mean(lenient):.0%}; "
            "regimes switch every ~5 days in the simulation",
        )
    )

    lines = [
        "## Decision rules engine and regime detector",
        "",
        "| what | median | note |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
