"""Benchmark the monitoring dashboard's request-to-first-data time in Chromium.

Starts Voila on dashboards/monitoring.ipynb the way ``tradelib dashboards``
does, in each serving mode, and times with Playwright from ``page.goto`` to the
moment the page shows data from the lake ("Last refreshed", written once every
panel is drawn). Modes:

* ``progressive``: ``--progressive_rendering=True`` (the kernel starts at the request);
* ``preheat``: ``--preheat_kernel=True --pool_size=N`` (kernels started and the
  notebook executed before the request; what ``tradelib dashboards`` uses now).

Each mode loads the page several times, one after another, waiting for the
pool to refill between loads (a quiet machine's steady state), and checks the
second and later loads do not hang (the default render mode once did with
plotly figures). Prints a markdown section; ``--out PATH`` writes it.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tradelib.cli.dashboards_cmd import voila_server_options  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUDGET_S = 3.0
MARKER = "Last refreshed"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError("voila did not open its port")


def start_voila(
    mode: str, lake: Path, folder: Path, pool: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "voila"),
        str(ROOT / "dashboards" / "monitoring.ipynb"),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        *voila_server_options(preheat=mode == "preheat", pool_size=pool),
    ]
    env = {
        **os.environ,
        "TRADELIB_LAKE": str(lake),
        "JUPYTER_RUNTIME_DIR": str(folder / f"runtime-{mode}"),
    }
    log = (folder / f"voila-{mode}.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, process)
    return process, f"http://127.0.0.1:{port}/"


CHARTS = 3  # the monitoring dashboard's plotly figures


def first_data_s(browser: Any, url: str, timeout_s: float = 180.0) -> tuple[float, float]:
    """Seconds from the request to the numbers, and to all charts drawn."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout_s * 1e3)
        page.get_by_text(MARKER).first.wait_for(timeout=timeout_s * 1e3)
        numbers = time.perf_counter() - t0
        page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot').length >= {CHARTS}",
            timeout=timeout_s * 1e3,
        )
        return numbers, time.perf_counter() - t0
    finally:
        context.close()


def measure(
    mode: str, lake: Path, folder: Path, loads: int, settle_s: float
) -> list[tuple[float, float]]:
    from playwright.sync_api import sync_playwright

    process, url = start_voila(mode, lake, folder, pool=1)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                times = []
                for _ in range(loads):
                    if mode == "preheat":
                        time.sleep(
                            settle_s
                        )  # the pool (re)fills: a kernel starts and runs the notebook
                    times.append(first_data_s(browser, url))
                return times
            finally:
                browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--lake", type=Path, help="lake to show (default: 3 demo days built here)")
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--settle", type=float, default=25.0, help="seconds for the pool to refill")
    parser.add_argument("--modes", nargs="*", default=["progressive", "preheat"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lake = args.lake
        if lake is None:
            from tradelib.demo.lakes import build_demo_lake

            lake = folder / "lake"
            build_demo_lake(lake, days=3)
        results = {
            m: measure(m, lake.resolve(), folder, args.loads, args.settle) for m in args.modes
        }
    lines = [
        "## Dashboard: request to first data (Chromium)",
        "",
        f"Voila serving dashboards/monitoring.ipynb; time from `page.goto` to '{MARKER}' "
        f"(every panel drawn from the lake); {args.loads} loads per mode, one after another. "
        f"Budget < {BUDGET_S:g} s on a quiet machine.",
        "",
        "| mode | first data per load (s) | median (s) | within budget | all charts drawn, median (s) |",
        "|---|---|---|---|---|",
    ]
    for mode, times in results.items():
        med = statistics.median(t for t, _ in times)
        charts = statistics.median(c for _, c in times)
        lines.append(
            f"| {mode} | {', '.join(f'{t:.2f}' for t, _ in times)} | {med:.2f} | "
            f"{'yes' if med < BUDGET_S else 'no'} | {charts:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
