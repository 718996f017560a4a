"""notebooks/entry.ipynb under real papermill, on the simulated market, into a temp lake."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import polars as pl
import pytest
import yaml

from tradelib.config.loader import read_yaml

pytestmark = pytest.mark.slow  # papermill kernel

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "entry.ipynb"


def _config(tmp_path: Path) -> Path:
    """The shipped config with the lake, the simulated account and the day in ``tmp_path``."""
    data = read_yaml(ROOT / "config" / "trading_config.yaml")
    data["storage"]["lake_uri"] = str(tmp_path / "lake")
    data["simulation"]["state_path"] = str(tmp_path / "sim" / "broker.pkl")
    data["simulation"]["start_date"] = "2026-11-24"  # a Tuesday: the session is open at start
    path = tmp_path / "trading_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_entry_notebook_enters_on_the_simulated_market(tmp_path: Path) -> None:
    config = _config(tmp_path)
    out = tmp_path / "entry.out.ipynb"

    nb = pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"config_path": str(config)},
        kernel_name="python3",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )

    # (papermill raises PapermillExecutionError when a cell fails)
    printed = "".join(o.get("text", "") for cell in nb["cells"] for o in cell.get("outputs", []))
    assert "entry at 2026-11-24" in printed and "completed" in printed
    table = "".join(
        "".join(o.get("data", {}).get("text/plain", ""))
        for cell in nb["cells"]
        for o in cell.get("outputs", [])
    )
    assert "outcome" in table and "entered" in table

    strategies = pl.read_delta(str(tmp_path / "lake" / "strategies"))
    assert strategies.height >= 1 and (strategies["status"] == "open").all()
    predictions = pl.read_delta(str(tmp_path / "lake" / "predictions"))
    assert set(predictions["strategy_id"]) == set(strategies["strategy_id"])
    assert (tmp_path / "sim" / "broker.pkl").exists()  # the simulated account was kept


def test_the_notebook_is_committed_without_outputs() -> None:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")
    params = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1 and 'config_path: str = ""' in "".join(params[0]["source"])
