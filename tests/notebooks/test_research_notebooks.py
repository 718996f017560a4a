"""The option-chain/skew and strategy P&L research notebooks: committed clean, and they run
top to bottom under nbval on their own (an empty configured lake makes them simulate days)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tradelib.config.loader import read_yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = [
    ROOT / "notebooks" / "research" / "option_chain_skew.ipynb",
    ROOT / "notebooks" / "research" / "strategy_pnl_review.ipynb",
]


def _cells(notebook: Path) -> list[dict[str, object]]:
    cells: list[dict[str, object]] = json.loads(notebook.read_text())["cells"]
    return cells


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_with_parameters_and_a_checked_cell(
    notebook: Path,
) -> None:
    cells = _cells(notebook)
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]  # type: ignore[attr-defined]
    assert len(tagged) == 1
    sources = ["".join(c["source"]) for c in code]  # type: ignore[arg-type]
    assert sum(s.startswith("# NBVAL_CHECK_OUTPUT") for s in sources) == 1
    assert not any("notebook_connected" in s or "iframe_connected" in s for s in sources)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_research_notebooks_run_on_their_own_under_nbval(tmp_path: Path) -> None:
    data = read_yaml(ROOT / "config" / "trading_config.yaml")
    data["storage"]["lake_uri"] = str(tmp_path / "empty-lake")
    config = tmp_path / "trading_config.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != "TRADELIB_LAKE"}
    env["TRADELIB_CONFIG"] = str(config)
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
            *map(str, NOTEBOOKS),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for notebook in NOTEBOOKS:  # running them must not write outputs back
        assert all(not c.get("outputs") for c in _cells(notebook))
