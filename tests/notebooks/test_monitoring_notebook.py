"""notebooks/monitoring.ipynb under real papermill, on a simulated account seeded by the entry
job, into a temp lake."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import polars as pl
import pytest
import yaml

from tradelib.config import load_config
from tradelib.config.loader import read_yaml
from tradelib.jobs.context import run_once
from tradelib.jobs.entry import run_entry

pytestmark = pytest.mark.slow  # papermill kernel

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "monitoring.ipynb"


def _config(tmp_path: Path) -> Path:
    """The shipped config with the lake, the simulated account and the day in ``tmp_path``."""
    data = read_yaml(ROOT / "config" / "trading_config.yaml")
    data["storage"]["lake_uri"] = str(tmp_path / "lake")
    data["simulation"]["state_path"] = str(tmp_path / "sim" / "broker.pkl")
    data["simulation"]["start_date"] = "2026-11-24"  # a Tuesday: the session is open at start
    data["strategies"]["underlyings"] = ["SPY"]
    path = tmp_path / "trading_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _outputs(nb: dict[str, object], kind: str) -> str:
    cells = nb["cells"]
    assert isinstance(cells, list)
    out = []
    for cell in cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") if kind == "text" else o.get("data", {}).get(kind, ""))
    return "".join("".join(part) for part in out)


def test_the_monitoring_notebook_decides_about_the_seeded_positions(tmp_path: Path) -> None:
    config = _config(tmp_path)
    entered = run_once(run_entry, load_config(config)).entered
    assert entered, "the entry job must leave positions to monitor"

    nb = pm.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "monitoring.out.ipynb"),
        parameters={"config_path": str(config)},
        kernel_name="python3",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )

    # (papermill raises PapermillExecutionError when a cell fails)
    printed = _outputs(nb, "text")
    assert "monitoring at 2026-11-24" in printed and "completed (market open)" in printed
    tables = _outputs(nb, "text/plain")
    for column in ("strategy", "rule", "action", "urgency", "reason", "outcome"):
        assert column in tables
    decisions = pl.read_delta(str(tmp_path / "lake" / "decisions"))
    assert set(decisions["strategy_id"]) == {o.strategy_id for o in entered}
    assert decisions["reason"].str.len_chars().min() > 0  # type: ignore[operator]
    assert pl.read_delta(str(tmp_path / "lake" / "market_data_slots")).height == 1


def test_the_notebook_is_committed_without_outputs() -> None:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")
    assert all(c.get("execution_count") is None for c in cells if c["cell_type"] == "code")
    params = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1 and 'config_path: str = ""' in "".join(params[0]["source"])
