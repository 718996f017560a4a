"""The defaults are SPEC.md's numbers, the shipped YAML says exactly the same, and
nothing can be changed in place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydantic
import pytest

from tradelib.config import TradingConfig, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_match_the_spec_numbers() -> None:
    c = TradingConfig()
    assert (c.ib.host, c.ib.port, c.ib.mode, c.ib.allow_live) == ("127.0.0.1", 7497, "sim", False)
    ids = c.ib.client_ids
    assert (ids.jobs, ids.futures, ids.research, ids.fallback) == (1, 2, 3, [11, 12, 13])
    assert (c.ib.connect_timeout_s, c.ib.request_timeout_s) == (10.0, 30.0)
    assert (c.ib.connect_retries, c.ib.retry_backoff_s, c.ib.account) == (3, 1.0, None)
    r = c.refresh_intervals
    assert (r.streaming_rebalance_s, r.snapshot_near_trigger_s, r.snapshot_normal_s) == (
        60,
        30,
        120,
    )
    assert (r.snapshot_far_s, r.account_s, r.positions_s) == (300, 60, 60)
    assert (c.market_data.line_budget, c.market_data.reserved_lines) == (100, 10)
    assert c.market_data.max_quote_age_s == 15
    t = c.trading_limits
    assert (t.max_positions, t.max_new_entries_per_day, t.max_contracts_per_order) == (20, 5, 10)
    assert t.max_orders_per_minute == 10
    assert c.profit_targets.fixed == 0.50 and c.profit_targets.dynamic_enabled
    assert c.profit_targets.regime.model_dump() == {
        "crash": 0.40,
        "high_vol": 0.50,
        "normal": 0.80,
        "low_vol": 0.90,
        "trending": 0.85,
        "range_bound": 0.80,
    }
    ru = c.rules
    assert (ru.stop_loss_multiple, ru.expiration_proximity_pct, ru.delta_breach) == (2.0, 0.01, 0.4)
    assert (ru.gamma_dte, ru.dte_exit, ru.vol_expansion_pct, ru.roll_min_credit) == (
        7,
        21,
        0.5,
        0.05,
    )
    assert ru.max_position_gamma > 0 and all(ru.enabled.values()) and len(ru.enabled) == 12
    s = c.strategies
    assert s.enabled == [
        "short_put",
        "put_credit_spread",
        "call_credit_spread",
        "iron_condor",
        "short_strangle",
    ]
    assert (s.dte_min, s.dte_max, s.target_delta, s.min_credit) == (30, 45, 0.16, 0.30)
    assert s.wing_widths == {"SPY": 5, "QQQ": 5, "IWM": 3}
    assert (s.max_bid_ask_width, s.max_bid_ask_width_pct) == (0.10, 0.15)
    assert s.underlyings == ["SPY", "QQQ", "IWM"]
    sk = s.skew
    assert (sk.matching_delta, sk.high_put, sk.high_call, sk.adjust_pct, sk.max_delta) == (
        0.25,
        1.2,
        0.8,
        0.20,
        0.30,
    )
    k = c.risk
    assert (k.max_portfolio_delta, k.max_underlying_concentration) == (500.0, 0.40)
    assert (k.max_correlated_exposure, k.correlation_threshold) == (0.60, 0.70)
    assert (k.correlation_lookback_days, k.max_margin_use) == (60, 0.50)
    cb = k.circuit_breaker
    assert (cb.daily_loss_limit, cb.max_consecutive_failures) == (2000.0, 3)
    assert (cb.max_orders_per_minute, cb.cooldown_minutes) == (10, 60)
    e = c.execution
    assert (e.price_walk_steps, e.step_interval_s, e.order_timeout_s) == (5, 10.0, 120.0)
    v = c.variance_analysis
    assert (v.lookback_days, v.min_predictions, v.mae_scale) == (30, 10, 0.40)
    assert (v.min_weight, v.max_penalty, v.strategy_weights, v.regime_adjustments) == (
        0.5,
        0.5,
        {},
        {},
    )
    f = c.futures
    assert f.symbols == ["ES", "NQ", "RTY"]
    assert (f.bar_seconds, f.flush_interval_s, f.roll_days_before_expiry) == (1, 60, 8)
    assert (f.min_days_for_analysis, f.asof_tolerance_s, f.correlation_window_s) == (7, 5, 300)
    assert f.max_lag_s == 30 and f.spot_pairs == {"ES": "SPY", "NQ": "QQQ", "RTY": "IWM"}
    st = c.storage
    assert (st.lake_uri, st.runs_dir, st.commit_retries) == ("data/lake", "runs", 5)
    tasks = {
        n: (t.every_minutes, t.market_hours_only, t.timeout_minutes)
        for n, t in c.scheduler.tasks.items()
    }
    assert tasks == {
        "sync": (5, True, 5),
        "entry": (30, True, 10),
        "monitoring": (5, True, 5),
        "variance": (1440, False, 10),
        "maintenance": (1440, False, 20),
        "daily_report": (1440, False, 15),
    }
    assert (c.scheduler.calendar, c.scheduler.timezone) == ("XNYS", "America/New_York")
    sim = c.simulation
    assert (sim.seed, sim.speed, sim.start_date, sim.initial_cash) == (7, 60.0, None, 100000.0)


def test_shipped_yaml_is_exactly_the_defaults() -> None:
    loaded = load_config(REPO_ROOT / "config" / "trading_config.yaml", env={})
    assert loaded == TradingConfig()


def test_paper_example_switches_to_paper_and_an_s3_lake() -> None:
    loaded = load_config(REPO_ROOT / "config" / "trading_config.paper.example.yaml", env={})
    assert (loaded.ib.mode, loaded.ib.port) == ("paper", 7497)
    assert loaded.storage.lake_uri.startswith("s3://") and not loaded.storage.is_local
    assert loaded.risk == TradingConfig().risk  # everything not named keeps its default


@pytest.mark.parametrize(
    ("holder", "field", "value"),
    [
        (lambda c: c, "risk", None),
        (lambda c: c.risk, "max_portfolio_delta", 1.0),
        (lambda c: c.ib.client_ids, "jobs", 9),
        (lambda c: c.scheduler.tasks["entry"], "every_minutes", 1),
    ],
)
def test_config_cannot_be_changed_in_place(
    holder: Callable[[TradingConfig], object], field: str, value: object
) -> None:
    target = holder(TradingConfig())
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        setattr(target, field, value)
