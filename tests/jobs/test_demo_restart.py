"""The month demo is restartable: killed at any point and run again, it ends with the lake a
clean run leaves (same strategies, orders, fills); run again once complete, it writes nothing;
it never writes into a lake it did not make."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import yaml

from tradelib.config import TradingConfig
from tradelib.demo.month import run_demo_month
from tradelib.errors import DemoLakeError
from tradelib.lake import Lake

TRADELIB = str(Path(sys.executable).parent / "tradelib")
DAYS = ["--days", "2", "--day", "2026-11-24"]
COMPARED = {
    "strategies": ["strategy_id", "status", "legs_json", "credit", "close_reason"],
    "orders": ["order_ref", "status", "filled_quantity", "avg_fill_price"],
    "executions": ["exec_id", "order_ref", "quantity", "price", "commission"],
    "predictions": ["prediction_id", "predicted_pnl", "actual_pnl"],
}


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _workspace(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "trading_config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"lake_uri": str(root / "lake"), "runs_dir": str(root / "runs")},
                "simulation": {"state_path": str(root / "sim" / "broker.pkl")},
            }
        )
    )
    return config


def _demo(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [TRADELIB, "demo", *DAYS, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _kill_after(config: Path, seconds: float) -> None:
    proc = _demo(config)
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _finish(config: Path) -> str:
    proc = _demo(config)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


def _tables(lake_root: Path) -> dict[str, pl.DataFrame]:
    lake = Lake(lake_root)
    return {
        name: lake.read(name, columns=cols).collect().sort(cols[0])
        for name, cols in COMPARED.items()
    }


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_killed_demo_run_again_ends_with_a_clean_runs_lake(tmp_path: Path) -> None:
    clean = _workspace(tmp_path / "clean")
    _finish(clean)
    expected = _tables(tmp_path / "clean" / "lake")
    assert expected["strategies"].height > 0 and expected["executions"].height > 0

    crashed = _workspace(tmp_path / "crashed")
    _kill_after(crashed, 4)  # in the first day's jobs
    _kill_after(crashed, 14)  # further in
    _finish(crashed)

    got = _tables(tmp_path / "crashed" / "lake")
    for name, frame in expected.items():
        assert got[name].equals(frame), f"{name} differs from the clean run's"

    again = _finish(crashed)
    assert "already complete" in again
    assert _tables(tmp_path / "crashed" / "lake")["executions"].equals(expected["executions"])


def test_the_demo_refuses_a_lake_it_did_not_write(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    row = {
        "run_id": "r-1",
        "job": "sync",
        "status": "success",
        "started_at": _ts("2026-11-20T15:00:00+00:00"),
    }
    lake.append("job_runs", [row])
    cfg = TradingConfig().with_overrides(
        {"simulation.state_path": str(tmp_path / "sim" / "broker.pkl")}
    )
    with pytest.raises(DemoLakeError, match="did not write"):
        run_demo_month(cfg, root=tmp_path, lake=lake, days=2, progress=lambda _m: None)
    assert lake.read("job_runs").collect().height == 1  # nothing touched
