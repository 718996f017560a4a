"""Benchmark IV + greeks on realistic option chains against QuantLib and py_vollib_vectorized.

Usage (from the repo root):

    .venv/bin/python benchmarks/bench_pricing.py [--out docs/benchmarks-pricing.md]

py_vollib_vectorized runs in its own venv and process (it patches py_vollib on
import and pins old packages); create it once with the commands in VOLLIB_SETUP.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from tradelib.pricing import IVCode, bs_price, iv_and_greeks, solver_iterations

ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
VOLLIB_SCRIPT = Path(__file__).resolve().parent / "pricing_vollib_ref.py"
VOLLIB_SETUP = (
    "python3.11 -m venv .venv-bench && .venv-bench/bin/pip install "
    "py_vollib_vectorized py_vollib==1.0.1 py_lets_be_rational==1.0.1"
)
SPOT, RATE, DIV_YIELD = 500.0, 0.045, 0.013


@dataclass(frozen=True)
class Chain:
    """One option per element; prices come from a known skewed vol surface."""

    price: np.ndarray
    spot: np.ndarray
    strike: np.ndarray
    t: np.ndarray
    rate: np.ndarray
    div_yield: np.ndarray
    is_call: np.ndarray
    vol: np.ndarray

    @property
    def size(self) -> int:
        """Return the number of options."""
        return int(self.price.size)


def build_chain(n_expiries: int, n_strikes: int) -> Chain:
    """Build calls and puts on n_expiries x n_strikes, strikes within +-4 sd of spot."""
    days = np.unique(np.geomspace(2, 730, n_expiries).round())
    days = np.concatenate([days, 730 + np.arange(n_expiries - days.size) * 7.0])
    t = days / 365.0
    atm = 0.16 + 0.04 * np.exp(-t / 0.25)  # term structure: short end richer
    z = np.linspace(-4.0, 4.0, n_strikes)
    forward = SPOT * np.exp((RATE - DIV_YIELD) * t)
    # Strikes on a $0.5 grid, spread by each expiry's one-sd move.
    strike = (
        np.round(forward[:, None] * np.exp(z[None, :] * atm[:, None] * np.sqrt(t[:, None])) * 2) / 2
    )
    m = np.log(strike / forward[:, None]) / np.sqrt(t[:, None])
    vol = np.clip(atm[:, None] - 0.12 * m + 0.10 * m * m, 0.05, 2.0)  # put skew + smile
    t_grid = np.broadcast_to(t[:, None], strike.shape)
    strike2, t2, vol2 = (np.concatenate([a.ravel(), a.ravel()]) for a in (strike, t_grid, vol))
    is_call = np.repeat([True, False], strike.size)
    price = bs_price(SPOT, strike2, t2, vol2, RATE, DIV_YIELD, is_call)
    n = price.size
    return Chain(
        price=price,
        spot=np.full(n, SPOT),
        strike=strike2,
        t=t2,
        rate=np.full(n, RATE),
        div_yield=np.full(n, DIV_YIELD),
        is_call=is_call,
        vol=vol2,
    )


def median_time(func: Callable[[], object], runs: int, warmup: int = 3) -> float:
    """Return the median wall time of ``func`` in seconds, after ``warmup`` calls."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_tradelib(chain: Chain, runs: int) -> float:
    """Time tradelib.pricing.iv_and_greeks on the whole chain."""
    args = (chain.price, chain.spot, chain.strike, chain.t, chain.rate, chain.div_yield)
    return median_time(lambda: iv_and_greeks(*args, chain.is_call), runs)


def time_quantlib(chain: Chain, n: int) -> tuple[float, int] | None:
    """Time QuantLib IV (VanillaOption.impliedVolatility) + greeks per option on n options."""
    try:
        import QuantLib as ql
    except ImportError:
        return None
    pick = np.linspace(0, chain.size - 1, n).astype(int)
    today = ql.Date(15, 1, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot_q, vol_q = ql.SimpleQuote(SPOT), ql.SimpleQuote(0.2)
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot_q),
        ql.YieldTermStructureHandle(ql.FlatForward(today, DIV_YIELD, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, RATE, dc)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol_q), dc)
        ),
    )
    engine = ql.AnalyticEuropeanEngine(process)
    options = []
    for i in pick:
        right = ql.Option.Call if chain.is_call[i] else ql.Option.Put
        days = round(float(chain.t[i]) * 365)
        option = ql.VanillaOption(
            ql.PlainVanillaPayoff(right, float(chain.strike[i])),
            ql.EuropeanExercise(today + days),
        )
        option.setPricingEngine(engine)
        options.append((option, float(chain.price[i])))

    def run() -> int:
        solved = 0
        for option, price in options:
            try:
                iv = option.impliedVolatility(price, process, 1e-10, 200, 1e-4, 10.0)
            except RuntimeError:
                continue
            vol_q.setValue(iv)
            option.NPV(), option.delta(), option.gamma()
            option.theta(), option.vega(), option.rho()
            solved += 1
        return solved

    solved = run()
    return median_time(run, runs=5, warmup=0), solved


def time_vollib(chain: Chain, runs: int) -> dict[str, object] | None:
    """Time py_vollib_vectorized in its own venv/process on the same chain."""
    if not BENCH_PYTHON.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain.npz"
        np.savez(
            path, price=chain.price, spot=chain.spot, strike=chain.strike, t=chain.t,
            rate=chain.rate, div_yield=chain.div_yield, is_call=chain.is_call,
        )  # fmt: skip
        out = subprocess.run(
            [str(BENCH_PYTHON), str(VOLLIB_SCRIPT), str(path), "--runs", str(runs)],
            capture_output=True, text=True, check=True, timeout=900,
        )  # fmt: skip
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def per_second(n: int, seconds: float) -> str:
    """Format a throughput in options per second."""
    return f"{n / seconds / 1e6:.2f} M/s" if n / seconds >= 1e5 else f"{n / seconds / 1e3:.1f} k/s"


def main() -> None:
    """Run the benchmark and print (and optionally write) a markdown section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the markdown section here")
    parser.add_argument("--runs", type=int, default=200, help="timed runs for the 20k chain")
    parser.add_argument("--quantlib-options", type=int, default=2000)
    args = parser.parse_args()

    chain20 = build_chain(20, 500)
    chain100 = build_chain(50, 1000)
    threads = numba.get_num_threads()

    ours20 = time_tradelib(chain20, args.runs)
    ours100 = time_tradelib(chain100, max(args.runs // 4, 20))
    numba.set_num_threads(1)
    ours20_1t = time_tradelib(chain20, max(args.runs // 2, 20))
    numba.set_num_threads(threads)

    res, _ = iv_and_greeks(chain20.price, chain20.spot, chain20.strike, chain20.t,
                           chain20.rate, chain20.div_yield, chain20.is_call)  # fmt: skip
    ok = res.code == IVCode.OK
    max_err = float(np.max(np.abs(res.iv[ok] / chain20.vol[ok] - 1.0)))
    iters = solver_iterations(chain20.price, chain20.spot, chain20.strike, chain20.t,
                              chain20.rate, chain20.div_yield, chain20.is_call)  # fmt: skip
    codes = {
        IVCode(c).name: int(n)
        for c, n in zip(*np.unique(res.code, return_counts=True), strict=True)
    }

    ql_result = time_quantlib(chain20, args.quantlib_options)
    vollib = time_vollib(chain20, runs=max(args.runs // 10, 10))

    n20, n100 = chain20.size, chain100.size
    lines = [
        "## Pricing: IV + greeks",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores visible; "
        f"Python {platform.python_version()}, numba {numba.__version__} "
        f"({threads} threads, layer {numba.threading_layer()}), numpy {np.__version__}.",
        f"Chain: {n20:,} options (20 expiries 2d-2y x 500 strikes within +-4 sd, calls and puts, "
        "prices from a skewed surface), and a 100,000-option chain (50 x 1000 x 2). "
        "Median of timed runs after warm-up (JIT compile excluded).",
        "",
        "| implementation | options/s | ms per 20k chain | vs tradelib |",
        "|---|---|---|---|",
        f"| tradelib `iv_and_greeks`, 20k chain, {threads} threads | {per_second(n20, ours20)} "
        f"| {ours20 * 1e3:.2f} | 1.0x |",
        f"| tradelib `iv_and_greeks`, 100k chain, {threads} threads | {per_second(n100, ours100)} "
        f"| {ours100 * 1e3 * n20 / n100:.2f} (scaled) | - |",
        f"| tradelib `iv_and_greeks`, 20k chain, 1 thread | {per_second(n20, ours20_1t)} "
        f"| {ours20_1t * 1e3:.2f} | {ours20_1t / ours20:.2f}x the 2-thread time |",
    ]
    verdicts = [f"- budget < 4 ms per 20k chain: **{'met' if ours20 < 4e-3 else 'NOT met'}** "
                f"({ours20 * 1e3:.2f} ms)"]  # fmt: skip
    if vollib is not None:
        v_s = float(vollib["median_s"])  # type: ignore[arg-type]
        v_iv = np.asarray(vollib["iv"], dtype=float)
        both = ok & np.isfinite(v_iv)
        agree = float(np.max(np.abs(v_iv[both] - res.iv[both]))) if both.any() else math.nan
        lines.append(
            f"| py_vollib_vectorized {vollib['version']} (own venv/process) | {per_second(n20, v_s)} "
            f"| {v_s * 1e3:.2f} | {v_s / ours20:.1f}x slower |"
        )
        verdicts.append(
            f"- >= 5x py_vollib_vectorized: **{'met' if v_s / ours20 >= 5 else 'NOT met'}** "
            f"({v_s / ours20:.1f}x); max |iv difference| where both solve: {agree:.1e}"
        )
    else:
        lines.append("| py_vollib_vectorized | not run | - | - |")
        verdicts.append(
            f"- py_vollib_vectorized not measured: {BENCH_PYTHON} is missing. Create it with "
            f"`{VOLLIB_SETUP}` (from the repo root)."
        )
    if ql_result is not None:
        ql_s, solved = ql_result
        per_opt = ql_s / args.quantlib_options
        lines.append(
            f"| QuantLib {__import__('QuantLib').__version__} `impliedVolatility` + greeks "
            f"({args.quantlib_options} options, scaled) | {per_second(args.quantlib_options, ql_s)} "
            f"| {per_opt * n20 * 1e3:.1f} | {per_opt * n20 / ours20:.0f}x slower ({solved} solved) |"
        )
    iter_hist = ", ".join(f"{k}: {int(v)}" for k, v in enumerate(np.bincount(iters[ok])) if v)
    lines += [
        "",
        *verdicts,
        f"- accuracy on the 20k chain: max relative IV error {max_err:.1e}; codes {codes}",
        f"- solver iterations (solved options): {iter_hist}",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
