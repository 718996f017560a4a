"""notebooks/sync.ipynb under real papermill, against a seeded simulated account, into a temp lake."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import polars as pl
import pytest
import yaml

from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import sim_session
from tradelib.config import TradingConfig
from tradelib.config.loader import read_yaml
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderType,
    Right,
    make_order_ref,
)

pytestmark = pytest.mark.slow  # papermill kernel

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "sync.ipynb"
TABLES = ("strategies", "positions", "executions", "orders", "reconciliation_events")


def _config(tmp_path: Path) -> Path:
    """The shipped config with the lake and the simulated account in ``tmp_path``."""
    data = read_yaml(ROOT / "config" / "trading_config.yaml")
    data["storage"]["lake_uri"] = str(tmp_path / "lake")
    data["simulation"]["state_path"] = str(tmp_path / "sim" / "broker.pkl")
    data["simulation"]["start_date"] = "2026-11-24"  # a Tuesday: the session is open at start
    path = tmp_path / "trading_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _market_order(broker: SimBroker, ref: str, legs: tuple[Leg, ...]) -> None:
    sid = ref.split(":")[1] if ref.startswith("tl:") else "manual"
    broker.place_order(
        OrderIntent(
            ref, sid, OrderPurpose.OPEN, legs, 1, None, broker.now(), order_type=OrderType.MARKET
        )
    )


def _seed_account(config: Path) -> None:
    """Open a put spread with our order ref and a short call by hand in the simulated account."""
    cfg = TradingConfig.from_mapping(read_yaml(config))
    with sim_session(Path(cfg.simulation.state_path), lambda: SimBroker.from_config(cfg)) as broker:
        today = broker.now().date()
        chain = broker.option_chain("SPY")
        expiry = next(e for e in chain.expiries if 30 <= (e - today).days <= 45)
        spot = broker.snapshot([Contract.stock("SPY")])[0].mark
        strikes = chain.strikes_for(expiry)

        def near(target: float, right: Right) -> Contract:
            k = min(strikes, key=lambda s: abs(s - target))
            return broker.resolve(Contract.option("SPY", expiry, k, right))

        short = near(spot * 0.95, Right.PUT)
        assert short.strike is not None
        spread = (Leg(short, -1), Leg(near(short.strike - 5, Right.PUT), 1))
        _market_order(broker, make_order_ref("nb-pcs", OrderPurpose.OPEN), spread)
        _market_order(broker, "manual-1", (Leg(near(spot * 1.05, Right.CALL), -1),))
        broker.wait(5)
        assert len(broker.positions()) == 3


def _run(config: Path, out: Path) -> str:
    nb = pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"config_path": str(config)},
        kernel_name="python3",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )
    return "".join(
        o.get("text", "") + "".join(o.get("data", {}).get("text/plain", ""))
        for cell in nb["cells"]
        for o in cell.get("outputs", [])
    )


def _counts(lake: Path) -> dict[str, int]:
    return {t: pl.read_delta(str(lake / t)).height for t in TABLES}


@pytest.mark.timeout(120)
def test_the_sync_notebook_reconciles_the_simulated_account(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _seed_account(config)

    printed = _run(config, tmp_path / "sync.out.ipynb")

    assert "sync ok at 2026-11-24" in printed and "opened_outside" in printed
    lake = tmp_path / "lake"
    strategies = pl.read_delta(str(lake / "strategies")).sort("strategy_id")
    assert strategies["status"].to_list() == ["open", "open"]
    ours = strategies.filter(~pl.col("inferred")).row(0, named=True)
    assert (ours["strategy_id"], ours["strategy_type"]) == ("nb-pcs", "put_credit_spread")
    hand = strategies.filter(pl.col("inferred")).row(0, named=True)
    assert hand["strategy_type"] == "short_call"
    assert pl.read_delta(str(lake / "positions")).height == 3
    assert pl.read_delta(str(lake / "executions")).height == 3

    # A second run in a new kernel, against the same account state, adds nothing.
    before = _counts(lake)
    _run(config, tmp_path / "sync.again.ipynb")
    assert _counts(lake) == before


def test_the_notebook_is_committed_without_outputs_and_with_safe_parameters() -> None:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")
    (params,) = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    source = "".join(params["source"])
    assert 'config_path: str = ""' in source and 'lake_uri: str = ""' in source
    assert "accept_empty: bool = False" in source
