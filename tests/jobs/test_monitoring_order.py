"""The monitoring cycle acts on the most urgent decision first, then on the rule that ranks
first, whatever the strategies' names.

Three of our put spreads on a calm simulated market: "a-far" 30-45 days out, "b-near"
about a week out, "c-itm" 30-45 days out with its short put above spot. With the DTE exit
widened to 60 days and the gamma window to 20: "a-far" gets a DTE exit (NORMAL, 3.0),
"b-near" a gamma close (HIGH, 1.5), "c-itm" a short-strike breach (HIGH, 1.2). Worked in
the order c, b, a: the reverse of their names.
"""

from __future__ import annotations

from pathlib import Path

from tradelib.config import TradingConfig
from tradelib.domain import Urgency
from tradelib.jobs.context import JobContext
from tradelib.jobs.monitoring import MonitoringWorkflow
from tradelib.jobs.sync import run_sync
from tradelib.lake import Lake

from ..sync.helpers import ours, put_spread, sim_broker


def test_exits_are_worked_by_urgency_then_rule_priority(tmp_path: Path) -> None:
    broker = sim_broker()
    ours(broker, "a-far", put_spread(broker, dte=(30, 45)))
    ours(broker, "b-near", put_spread(broker, dte=(5, 12)))
    ours(broker, "c-itm", put_spread(broker, otm=1.03, dte=(30, 45)))
    lake = Lake(tmp_path / "lake")
    assert run_sync(JobContext.of(broker, lake)).ok
    cfg = TradingConfig().with_overrides(
        {
            "storage.lake_uri": str(tmp_path / "lake"),
            "rules.dte_exit": 60,
            "rules.gamma_dte": 20,
            "rules.max_position_gamma": 1e-6,
            "rules.enabled": {"dynamic_take_profit": False, "fixed_take_profit": False},
        }
    )

    report = MonitoringWorkflow.from_config(cfg, broker, lake).run_cycle()

    by_id = {d.strategy_id: d for d in report.decisions}
    assert (by_id["a-far"].rule, by_id["a-far"].urgency) == ("dte_exit", Urgency.NORMAL)
    assert (by_id["b-near"].rule, by_id["b-near"].urgency) == ("gamma_risk", Urgency.HIGH)
    assert (by_id["c-itm"].rule, by_id["c-itm"].urgency) == ("short_strike_breached", Urgency.HIGH)
    assert [a.strategy_id for a in report.actions] == ["c-itm", "b-near", "a-far"]
