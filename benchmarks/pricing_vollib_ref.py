"""Time py_vollib_vectorized IV + greeks on a chain from an .npz file; print JSON.

Runs in its own venv (.venv-bench) because py_vollib_vectorized patches py_vollib
on import and pins old packages. Called by bench_pricing.py through subprocess:

    .venv-bench/bin/python benchmarks/pricing_vollib_ref.py CHAIN.npz --runs 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import numpy as np
import py_vollib_vectorized as pvv


def main() -> None:
    """Load the chain, warm up, time IV + all greeks, print a JSON summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("chain")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    data = np.load(args.chain)
    price, spot, strike, t = data["price"], data["spot"], data["strike"], data["t"]
    rate, div_yield = data["rate"], data["div_yield"]
    flag = np.where(data["is_call"], "c", "p")

    def run() -> np.ndarray:
        iv = pvv.vectorized_implied_volatility(
            price, spot, strike, t, rate, flag, q=div_yield,
            model="black_scholes_merton", return_as="numpy", on_error="ignore",
        )  # fmt: skip
        pvv.get_all_greeks(
            flag, spot, strike, t, rate, iv, q=div_yield,
            model="black_scholes_merton", return_as="dict",
        )  # fmt: skip
        return np.asarray(iv, dtype=np.float64)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        iv = run()  # JIT compile, outside the timed runs
        run()
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "n": int(price.size),
                "median_s": statistics.median(times),
                "runs": args.runs,
                "iv": iv.tolist(),
                "version": getattr(pvv, "__version__", "unknown"),
            }
        )
    )


if __name__ == "__main__":
    main()
