"""Write the synthetic history fixtures: SPY, QQQ, IWM and VIX daily bars, 2021-2023.

Run from the repository root: ``python tests/backtest/data/make_fixtures.py``.
Nothing here is market data: a seeded model (log-OU VIX with spikes; ETF
returns correlated, their vol following VIX) in the "Date,Open,High,Low,
Close,Adj Close,Volume" export format, so the loader sees what users bring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tradelib.markethours import MarketHours

OUT = Path(__file__).parent
FIRST, LAST = "2021-01-04", "2023-12-29"
SYMBOLS = {
    "SPY": (370.0, 1.0, 0.012, 75e6),
    "QQQ": (310.0, 1.25, 0.006, 45e6),
    "IWM": (195.0, 1.35, 0.013, 28e6),
}
CORR = np.array([[1.0, 0.9, 0.8], [0.9, 1.0, 0.75], [0.8, 0.75, 1.0]])


def main(seed: int = 2) -> None:
    from datetime import date

    rng = np.random.default_rng(seed)
    hours = MarketHours()
    days = hours.trading_days(date.fromisoformat(FIRST), date.fromisoformat(LAST))
    n = len(days)
    # VIX: log-OU around ln 18, occasional spikes that decay.
    log_vix = np.empty(n)
    log_vix[0] = np.log(22.0)
    for i in range(1, n):
        spike = rng.exponential(0.35) if rng.random() < 0.015 else 0.0
        log_vix[i] = (
            log_vix[i - 1] + 0.04 * (np.log(18.0) - log_vix[i - 1]) + rng.normal(0, 0.06) + spike
        )
    vix_close = np.exp(log_vix)
    shocks = rng.multivariate_normal(np.zeros(3), CORR, size=n)
    # Returns fall as VIX jumps (leverage effect).
    dvix = np.concatenate([[0.0], np.diff(log_vix)])
    steps = 78
    vix_rows, etf_rows = [], {s: [] for s in SYMBOLS}
    prev_vix = vix_close[0]
    for i, d in enumerate(days):
        vo = prev_vix * np.exp(rng.normal(0, 0.03))
        vpath = np.exp(
            np.linspace(np.log(vo), np.log(vix_close[i]), steps + 1)
            + np.concatenate([[0], np.cumsum(rng.normal(0, 0.01, steps - 1)), [0]])
        )
        vix_rows.append((d, vo, vpath.max(), vpath.min(), vix_close[i]))
        prev_vix = vix_close[i]
        for j, (sym, (p0, beta, _, vol_shares)) in enumerate(SYMBOLS.items()):
            sigma = vix_close[i] / 100.0 * 0.8 * beta / np.sqrt(252)
            prev = etf_rows[sym][-1][4] if etf_rows[sym] else p0
            ret = 0.00005 + sigma * shocks[i, j] - 0.12 * beta * dvix[i]
            o = prev * np.exp(rng.normal(0, sigma * 0.3))
            c = prev * np.exp(ret)
            walk = np.concatenate([[0], np.cumsum(rng.normal(0, sigma / np.sqrt(steps), steps))])
            path = (
                np.log(o) + walk + np.linspace(0, 1, steps + 1) * (np.log(c) - np.log(o) - walk[-1])
            )
            path = np.exp(path)
            volume = int(vol_shares * (0.6 + vix_close[i] / 40.0) * rng.uniform(0.8, 1.2))
            etf_rows[sym].append((d, o, path.max(), path.min(), c, volume))
    for sym, (_, _, yld, _) in SYMBOLS.items():
        rows = etf_rows[sym]
        adj = np.exp(-yld * (len(rows) - 1 - np.arange(len(rows))) / 252)
        lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
        for (d, o, h, lo, c, v), a in zip(rows, adj, strict=True):
            lines.append(f"{d},{o:.6f},{h:.6f},{lo:.6f},{c:.6f},{c * a:.6f},{v}")
        (OUT / f"{sym}.csv").write_text("\n".join(lines) + "\n")
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for d, o, h, lo, c in vix_rows:
        lines.append(f"{d},{o:.6f},{h:.6f},{lo:.6f},{c:.6f},{c:.6f},0")
    (OUT / "VIX.csv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
