"""The variance notebooks: the job under papermill against a test lake, the review under nbval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import papermill as pm
import polars as pl
import pytest
import yaml

from tradelib.config import TradingConfig
from tradelib.config.loader import read_yaml
from tradelib.domain import utc
from tradelib.lake import Lake
from tradelib.stores.predictions import StrategyPredictionsTable
from tradelib.variance import Prediction

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
JOB = ROOT / "notebooks" / "variance.ipynb"
REVIEW = ROOT / "notebooks" / "research" / "variance_review.ipynb"
NOW = utc(2026, 12, 24, 15)


def _config(tmp_path: Path, lake: Path) -> Path:
    """A copy of the workspace config pointing at ``lake``."""
    data = read_yaml(ROOT / "config" / "trading_config.yaml")
    data["storage"]["lake_uri"] = str(lake)
    path = tmp_path / "trading_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _closed_predictions(lake: Lake, n: int) -> None:
    table = StrategyPredictionsTable(lake)
    for i in range(n):
        entered = utc(2026, 12, 1, 15)
        table.record_entry(
            Prediction.for_entry(
                strategy_id=f"nb-{i}",
                strategy_type="iron_condor",
                underlying="SPY",
                entered_at=entered,
                expected_value=0.5,
                probability_of_profit=0.7,
                max_loss=4.5,
                regime="normal",
            )
        )
        # every actual misses by 10% of the 450-dollar max risk: weight 0.75
        table.record_exit(f"pred-nb-{i}", 50.0 - 45.0, "dte_exit", utc(2026, 12, 20, 15))


def test_job_notebook_stores_weights_in_the_lake_it_is_given(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    _closed_predictions(lake, 10)
    out = tmp_path / "variance-out.ipynb"
    pm.execute_notebook(
        str(JOB),
        str(out),
        parameters={"lake_uri": lake.root, "now": NOW.isoformat()},
        cwd=str(JOB.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    weights = lake.read("strategy_weights").collect()
    assert weights["computed_at"].unique().to_list() == [NOW]
    condor = weights.filter((pl.col("strategy_type") == "iron_condor") & (pl.col("regime") == "*"))
    assert condor["weight"].item() == pytest.approx(0.75)
    text = json.dumps(json.loads(out.read_text())["cells"])
    assert "iron_condor in all regimes: 0.750 (variance, mae 0.100 over 10)" in text
    # the committed notebook carries no outputs
    for cell in json.loads(JOB.read_text())["cells"]:
        assert not cell.get("outputs")


def test_job_notebook_reads_the_lake_from_the_config_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "configured")
    _closed_predictions(lake, 3)
    # the kernel inherits the environment: this is how the scheduler points a job at a config
    monkeypatch.setenv("TRADELIB_CONFIG", str(_config(tmp_path, tmp_path / "configured")))
    pm.execute_notebook(
        str(JOB),
        str(tmp_path / "out.ipynb"),
        parameters={"now": NOW.isoformat()},
        cwd=str(JOB.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    weights = lake.read("strategy_weights").collect()
    assert weights.height == len(TradingConfig().strategies.enabled) * 7
    assert (weights["weight"] == 1.0).all()  # three closes: not enough data yet


def test_review_notebook_runs_on_its_own_under_nbval(tmp_path: Path) -> None:
    # an empty configured lake makes the notebook simulate its own month
    env = os.environ | {"TRADELIB_CONFIG": str(_config(tmp_path, tmp_path / "empty-lake"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-current-env",
            str(REVIEW),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for cell in json.loads(REVIEW.read_text())["cells"]:
        assert not cell.get("outputs")
