"""The monitoring dashboard's queries and panels on real Delta tables, without a browser.

``build_monitoring_lake`` (also used by the browser test) runs the simulated
demo day and then writes what the other jobs would: strategies, decisions,
orders and fills, job runs, breaker events, a risk rejection, market-data
line use and predictions, each through its declared schema.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tradelib.config import TradingConfig
from tradelib.dashboards.common import (
    NO_DATA,
    PLOTLY_MIME,
    TTLCache,
    daily_equity,
    frame_html,
    pnl_by_underlying,
    skew_history,
    smile_frame,
    strategy_pnl,
)
from tradelib.dashboards.monitoring import (
    PANELS,
    QUERIES,
    MonitoringDashboard,
    account_summary,
    breaker_state,
    current_regime,
    job_health,
    latest_decisions,
    open_legs,
    open_strategies,
    panel_texts,
    prediction_summary,
    predictions_vs_actuals,
    recent_fills,
    recent_orders,
    risk_limit_use,
    slot_use,
)
from tradelib.demo.day import run_demo
from tradelib.domain import Decision, DecisionAction, Urgency
from tradelib.lake import Lake, TableName
from tradelib.risk import LimitUse
from tradelib.rules import decision_id
from tradelib.secrets import clear_registered_secrets, register_secret
from tradelib.stores.decisions import record_decisions
from tradelib.stores.risk import record_limit_use

pytestmark = pytest.mark.slow  # a month of demo data per module: minutes

DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # just after the demo day's last snapshot
UNDERLYINGS = ("IWM", "QQQ", "SPY")
ACCOUNT = "DU1234567"  # a paper-account-shaped id: must never appear unmasked
HOLD_REASON = "hold: no exit rule fired (30 DTE, profit below target)"
FAILED_ERROR = f"IB rejected the request for account {ACCOUNT}"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=UTC)


def strategy_id(underlying: str) -> str:
    return f"demo-{underlying}-pcs-{DAY:%Y%m%d}"


def _strategies(positions: pl.DataFrame) -> list[dict[str, object]]:
    """One open put credit spread per underlying, legs as the sync stores them."""
    rows: list[dict[str, object]] = []
    for underlying in UNDERLYINGS:
        legs = positions.filter(pl.col("underlying") == underlying).sort("strike")
        credit = float((-legs["quantity"] * legs["avg_cost"]).sum()) / 100.0
        width = float(legs["strike"].max() - legs["strike"].min())  # type: ignore[operator]
        rows.append(
            {
                "strategy_id": strategy_id(underlying),
                "strategy_type": "put_credit_spread",
                "underlying": underlying,
                "status": "open",
                "opened_at": at(14, 45),
                "legs_json": json.dumps(
                    [
                        {
                            "sec_type": "OPT",
                            "symbol": underlying,
                            "expiry": str(leg["expiry"]),
                            "strike": leg["strike"],
                            "right": "P",
                            "multiplier": 100.0,
                            "con_id": leg["con_id"],
                            "quantity": leg["quantity"],
                        }
                        for leg in legs.iter_rows(named=True)
                    ]
                ),
                "quantity": 1.0,
                "credit": credit,
                "max_profit": credit * 100.0,
                "max_loss": width * 100.0 - credit * 100.0,
                "inferred": False,
                "updated_at": at(20, 45),
            }
        )
    rows.append(  # a closed one: never shown as open
        {
            "strategy_id": "old-SPY-pcs",
            "strategy_type": "put_credit_spread",
            "underlying": "SPY",
            "status": "closed",
            "opened_at": at(14, 0) - timedelta(days=20),
            "closed_at": at(15, 0) - timedelta(days=2),
            "legs_json": "[]",
            "quantity": 0.0,
            "inferred": False,
            "updated_at": at(15, 0) - timedelta(days=2),
            "close_reason": "closed",
        }
    )
    return rows


def _decisions() -> list[Decision]:
    out = []
    for underlying in UNDERLYINGS:
        sid = strategy_id(underlying)
        for ts, rule, reason in (
            (at(19, 30), "dte_exit", "older decision"),
            (at(20, 30), "hold", f"{underlying} {HOLD_REASON}"),
        ):
            out.append(
                Decision(
                    decision_id(sid, ts, rule),
                    sid,
                    ts,
                    rule,
                    9.0,
                    DecisionAction.HOLD,
                    Urgency.LOW,
                    reason,
                    {"regime": "normal", "vix": 16.4, "dte": 30},
                )
            )
    return out


def build_monitoring_lake(root: Path) -> Lake:
    """The demo day plus a row or more in every table the other jobs write."""
    lake = Lake(root)
    run_demo(TradingConfig(), lake=lake, day=DAY, progress=lambda _m: None)
    positions = lake.read(TableName.POSITIONS).collect()
    latest = positions.filter(pl.col("snapshot_ts") == pl.col("snapshot_ts").max())
    lake.upsert(TableName.STRATEGIES, _strategies(latest))
    record_decisions(lake, _decisions())
    lake.upsert(
        TableName.ORDERS,
        [
            {
                "order_ref": f"{strategy_id(u)}:open",
                "strategy_id": strategy_id(u),
                "intent": "open",
                "status": "filled",
                "order_type": "LMT",
                "action": "SELL",
                "limit_price": -0.4,
                "quantity": 1.0,
                "filled_quantity": 1.0,
                "avg_fill_price": -0.4,
                "legs_json": "[]",
                "created_at": at(14, 45),
                "updated_at": at(14, 46),
            }
            for u in UNDERLYINGS
        ],
    )
    lake.upsert(
        TableName.EXECUTIONS,
        [
            {
                "exec_id": f"exec-{row['con_id']}",
                "order_ref": f"{strategy_id(row['underlying'])}:open",
                "con_id": row["con_id"],
                "symbol": row["symbol"],
                "side": "SLD" if row["quantity"] < 0 else "BOT",
                "quantity": abs(row["quantity"]),
                "price": row["avg_cost"] / 100.0,
                "commission": 0.65,
                "ts": at(14, 46),
            }
            for row in latest.iter_rows(named=True)
        ],
    )
    lake.upsert(
        TableName.JOB_RUNS,
        [
            {
                "run_id": "sync-1",
                "job": "sync",
                "started_at": at(20, 0),
                "finished_at": at(20, 0) + timedelta(seconds=2),
                "status": "ok",
                "duration_s": 2.0,
            },
            {
                "run_id": "sync-2",
                "job": "sync",
                "started_at": at(20, 40),
                "finished_at": at(20, 40) + timedelta(seconds=1.5),
                "status": "ok",
                "duration_s": 1.5,
            },
            {
                "run_id": "entry-1",
                "job": "entry",
                "started_at": at(20, 30),
                "finished_at": at(20, 31),
                "status": "failed",
                "duration_s": 60.0,
                "error": FAILED_ERROR,
            },
        ],
    )
    lake.upsert(
        TableName.SCHEDULER_TASKS,
        [
            {
                "job": job,
                "every_minutes": every,
                "market_hours_only": True,
                "timeout_minutes": 10,
                "enabled": True,
                "updated_at": at(14, 0),
            }
            for job, every in (("sync", 5), ("entry", 30), ("variance", 1440))
        ],
    )
    lake.upsert(
        TableName.CIRCUIT_BREAKER_EVENTS,
        [
            {
                "event_id": "trip-1",
                "ts": at(17, 0),
                "state": "open",
                "trigger": "consecutive_failures",
                "reason": "3 failed orders in a row",
            },
            {
                "event_id": "reset-1",
                "ts": at(18, 0),
                "state": "closed",
                "trigger": "none",
                "reason": "reset by hand",
                "reset_by": "operator",
            },
            {
                "event_id": "trip-2",
                "ts": at(19, 0),
                "state": "open",
                "trigger": "daily_loss",
                "reason": "day P&L -2,150 beyond the -2,000 limit",
                "value": -2150.0,
                "limit": 2000.0,
            },
        ],
    )
    lake.upsert(
        TableName.RISK_REJECTIONS,
        [
            {
                "rejection_id": "rej-1",
                "ts": at(20, 30),
                "strategy_type": "iron_condor",
                "underlying": "QQQ",
                "check": "max_underlying_concentration",
                "reason": "QQQ concentration exceeded: 45% > 40% of the risk budget after entry",
                "value": 0.45,
                "limit": 0.40,
            }
        ],
    )
    lake.upsert(
        TableName.MARKET_DATA_SLOTS,
        [
            {
                "ts": ts,
                "streaming_lines": lines,
                "snapshot_contracts": snaps,
                "budget": 100,
                "reserved": 10,
                "snapshot_load_per_min": 3.0,
                "snapshot_capacity_per_min": 600.0,
            }
            for ts, lines, snaps in ((at(20, 0), 4, 2), (at(20, 40), 6, 0))
        ],
    )
    predictions = [
        {
            "prediction_id": f"p-{u}",
            "strategy_id": strategy_id(u),
            "strategy_type": "put_credit_spread",
            "underlying": u,
            "regime": "normal",
            "predicted_pnl": 25.0,
            "entered_at": at(14, 45),
            "updated_at": at(14, 45),
        }
        for u in UNDERLYINGS
    ]
    predictions += [
        {
            "prediction_id": f"closed-{i}",
            "strategy_type": kind,
            "underlying": "SPY",
            "regime": "high_vol",
            "predicted_pnl": predicted,
            "actual_pnl": actual,
            "entered_at": at(15, 0) - timedelta(days=10 + i),
            "closed_at": at(15, 0) - timedelta(days=2 + i),
            "updated_at": at(15, 0) - timedelta(days=2 + i),
        }
        for i, (kind, predicted, actual) in enumerate(
            (
                ("put_credit_spread", 30.0, 40.0),
                ("put_credit_spread", 30.0, 10.0),
                ("iron_condor", 50.0, -20.0),
            )
        )
    ]
    lake.upsert(TableName.PREDICTIONS, predictions)
    # one monitoring cycle's limit use (an older one first: the newest must win)
    old_uses = (LimitUse("max_portfolio_delta", 999.0, 500.0, "older cycle"),)
    record_limit_use(lake, old_uses, NOW - timedelta(hours=2))
    record_limit_use(lake, LIMIT_USES, NOW - timedelta(minutes=5))
    return lake


LIMIT_USES = (
    LimitUse("max_portfolio_delta", -120.0, 500.0, "-120 SPY-equivalent shares (beta-weighted)"),
    LimitUse("max_underlying_concentration", 0.21, 0.40, "SPY: $4,200 of $20,000 risk budget"),
    LimitUse("max_correlated_exposure", 0.35, 0.60, "{QQQ, SPY}: $7,000 of $20,000"),
    LimitUse("max_margin_use", 0.12, 0.50, "$12,000 initial margin of $100,000"),
)


@pytest.fixture(scope="module")
def full_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_monitoring_lake(tmp_path_factory.mktemp("monitoring") / "lake")


@pytest.fixture(scope="module")
def demo_only_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Only what the demo writes: account, positions, option chains."""
    lake = Lake(tmp_path_factory.mktemp("demo-only") / "lake")
    run_demo(TradingConfig(), lake=lake, day=DAY, progress=lambda _m: None)
    return lake


@pytest.fixture
def empty_lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "empty")


# --- account ----------------------------------------------------------------------------------
def test_account_panel_is_the_newest_snapshot_with_initial_margin_use(full_lake: Lake) -> None:
    account = account_summary(full_lake, NOW)
    snaps = full_lake.read(TableName.ACCOUNT_SNAPSHOTS).collect().sort("ts")
    assert account.height == 1
    row = account.row(0, named=True)
    assert row["ts"] == snaps["ts"][-1] == at(20, 45)
    assert row["net_liquidation"] == snaps["net_liquidation"][-1]
    assert row["margin_use"] == pytest.approx(row["init_margin"] / row["net_liquidation"])
    assert row["age_min"] == pytest.approx(15.0)
    assert "*" in row["account_masked"]


# --- strategies ----------------------------------------------------------------------------------
def test_open_strategies_group_the_demo_legs_with_greeks_pnl_and_latest_decision(
    full_lake: Lake,
) -> None:
    table = open_strategies(full_lake, NOW)
    assert table["strategy_id"].to_list() == [strategy_id(u) for u in UNDERLYINGS]
    assert set(table["strategy_type"]) == {"put_credit_spread"}
    legs = open_legs(full_lake, NOW)
    for row in table.iter_rows(named=True):
        held = legs.filter(pl.col("strategy_id") == row["strategy_id"])
        assert row["legs_held"] == held.height == 2
        assert row["unrealized_pnl"] == pytest.approx(held["unrealized_pnl"].sum())
        assert row["dte"] == 30  # the demo sells the 30-45 DTE window's first expiry
        # a short put spread is long delta and short vega, earning theta
        assert row["delta"] > 0 and row["vega"] < 0 and row["theta"] > 0
        assert row["legs"].count("P") == 2 and " / " in row["legs"]
        assert row["action"] == "hold" and row["rule"] == "hold"
        assert row["reason"] == f"{row['underlying']} {HOLD_REASON}"  # the newer of two
        # the rules' measure: the strategy's own legs and credit (here equal to the broker's)
        assert row["pnl"] == pytest.approx(row["unrealized_pnl"])
        assert row["pnl_of_max"] == pytest.approx(row["pnl"] / row["max_profit"])
    assert "old-SPY-pcs" not in table["strategy_id"].to_list()


def test_latest_decisions_look_back_a_few_days_for_strategies_not_decided_today(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")

    def decide(sid: str, ts: datetime, reason: str) -> Decision:
        return Decision(
            decision_id(sid, ts, "hold"),
            sid,
            ts,
            "hold",
            9.0,
            DecisionAction.HOLD,
            Urgency.LOW,
            reason,
        )

    record_decisions(
        lake,
        [
            decide("today", at(20), "decided today"),
            decide("today", at(20) - timedelta(days=1), "yesterday's"),
            decide("two-days-ago", at(20) - timedelta(days=2), "two days ago"),
            decide("stale", at(20) - timedelta(days=10), "ten days ago"),
        ],
    )
    found = latest_decisions(lake, NOW, ["today", "two-days-ago", "stale"])
    assert dict(found.select("strategy_id", "reason").iter_rows()) == {
        "today": "decided today",
        "two-days-ago": "two days ago",
    }


def test_positions_no_strategy_claims_show_as_unregistered_groups(demo_only_lake: Lake) -> None:
    table = open_strategies(demo_only_lake, NOW)
    assert table.height == 3
    assert set(table["underlying"]) == set(UNDERLYINGS)
    assert set(table["strategy_type"]) == {"unregistered"}
    assert all(s.endswith("(unregistered)") for s in table["strategy_id"])
    assert table["action"].null_count() == 3  # no decision yet


# --- risk, breaker, slots ---------------------------------------------------------------------------
def test_risk_limit_use_measures_each_limit_against_the_config(full_lake: Lake) -> None:
    limits = {r["check"]: r for r in risk_limit_use(full_lake, NOW).iter_rows(named=True)}
    cfg = TradingConfig()
    account = account_summary(full_lake, NOW).row(0, named=True)
    assert limits["open strategies"]["value"] == 3
    assert limits["open strategies"]["limit"] == cfg.trading_limits.max_positions
    assert limits["new entries today"]["value"] == 3  # all opened on NOW's New York day
    assert limits["daily loss"]["value"] == pytest.approx(max(-account["day_pnl"], 0.0))
    # the portfolio limits are monitoring's newest stored measurement, not re-measured here
    assert limits["portfolio delta"]["value"] == 120.0  # shown as the absolute exposure
    assert limits["portfolio delta"]["detail"].startswith("-120 SPY-equivalent")
    assert limits["underlying concentration"]["value"] == pytest.approx(0.21)
    assert limits["correlated exposure"]["use"] == pytest.approx(0.35 / 0.60)
    assert limits["margin use"]["value"] == pytest.approx(0.12)
    assert limits["margin use"]["limit"] == cfg.risk.max_margin_use
    assert all(r["status"] in ("ok", "warn") for r in limits.values())


def test_limits_never_measured_read_as_unknown_not_zero(demo_only_lake: Lake) -> None:
    limits = {r["check"]: r for r in risk_limit_use(demo_only_lake, NOW).iter_rows(named=True)}
    assert limits["portfolio delta"]["value"] is None
    assert limits["portfolio delta"]["status"] == "unknown"
    assert "not measured yet" in limits["margin use"]["detail"]


def test_a_loss_beyond_the_breaker_limit_reads_as_a_breach(full_lake: Lake) -> None:
    cfg = TradingConfig.model_validate({"risk": {"circuit_breaker": {"daily_loss_limit": 10.0}}})
    limits = risk_limit_use(full_lake, NOW, cfg)
    daily = limits.filter(pl.col("check") == "daily loss").row(0, named=True)
    assert daily["status"] == "breach" and daily["use"] > 1


def test_breaker_state_is_the_newest_event(full_lake: Lake) -> None:
    state = breaker_state(full_lake, NOW)
    assert state.height == 1
    assert state["event_id"][0] == "trip-2" and state["state"][0] == "open"


def test_slot_use_is_the_newest_row_against_the_option_line_budget(full_lake: Lake) -> None:
    row = slot_use(full_lake, NOW).row(0, named=True)
    assert (row["streaming_lines"], row["option_lines"]) == (6, 90)
    assert row["stream_use"] == pytest.approx(6 / 90)


# --- orders, jobs, regime, predictions ---------------------------------------------------------------
def test_recent_orders_and_fills_are_newest_first(full_lake: Lake) -> None:
    assert recent_orders(full_lake, NOW).height == 3
    fills = recent_fills(full_lake, NOW, n=4)
    assert fills.height == 4
    assert fills["ts"].is_sorted(descending=True)


def test_job_health_shows_each_jobs_last_run_and_jobs_never_run(full_lake: Lake) -> None:
    jobs = {r["job"]: r for r in job_health(full_lake, NOW).iter_rows(named=True)}
    assert set(jobs) == {"sync", "entry", "variance"}
    assert jobs["sync"]["status"] == "ok"
    assert jobs["sync"]["duration_s"] == 1.5  # the later of the two runs
    assert jobs["sync"]["runs_24h"] == 2 and jobs["sync"]["every_minutes"] == 5
    assert jobs["entry"]["status"] == "failed" and jobs["entry"]["failures_24h"] == 1
    assert jobs["variance"]["status"] == "never run"
    assert jobs["variance"]["last_started"] is None


def test_regime_comes_from_the_newest_decision_else_the_predictions(
    full_lake: Lake, demo_only_lake: Lake, tmp_path: Path
) -> None:
    regime = current_regime(full_lake, NOW).row(0, named=True)
    assert (regime["regime"], regime["source"], regime["vix"]) == ("normal", "decisions", 16.4)
    assert current_regime(demo_only_lake, NOW).is_empty()
    only_predictions = Lake(tmp_path / "p")
    only_predictions.upsert(
        TableName.PREDICTIONS,
        full_lake.read(TableName.PREDICTIONS).collect(),
    )
    assert current_regime(only_predictions, NOW)["source"].to_list() == ["predictions"]


def test_predictions_vs_actuals_measure_the_error_of_closed_predictions(full_lake: Lake) -> None:
    predictions = predictions_vs_actuals(full_lake, NOW)
    assert predictions.height == 6
    summary = {r["strategy_type"]: r for r in prediction_summary(predictions).iter_rows(named=True)}
    spreads = summary["put_credit_spread"]
    assert (spreads["predictions"], spreads["closed"]) == (5, 2)
    assert spreads["mae"] == pytest.approx(15.0)  # |+10| and |-20|
    assert spreads["bias"] == pytest.approx(-5.0)
    assert summary["iron_condor"]["bias"] == pytest.approx(-70.0)


# --- the app without a browser --------------------------------------------------------------------------
def test_every_panel_says_no_data_yet_on_an_empty_lake(empty_lake: Lake) -> None:
    dashboard = MonitoringDashboard(empty_lake, refresh_s=30)
    texts = panel_texts(dashboard)
    assert set(texts) == set(PANELS)
    for name, text in texts.items():
        if name in ("breaker", "risk"):
            continue  # no breaker event means closed; limits are measured against zero
        assert NO_DATA in text, name
    assert "no breaker events yet" in texts["breaker"]
    assert "Risk rejections: no data yet" in texts["risk"]
    assert "failed" not in " ".join(texts.values())
    for query in QUERIES.values():
        assert query(empty_lake, NOW).is_empty()


def test_the_panels_show_the_full_lake_with_ids_masked(full_lake: Lake) -> None:
    register_secret(ACCOUNT)  # what load_config does with TRADELIB_IB_ACCOUNT
    try:
        texts = panel_texts(MonitoringDashboard(full_lake, refresh_s=30))
    finally:
        clear_registered_secrets()
    page = " ".join(texts.values())
    assert ACCOUNT not in page and "DU*****67" in texts["jobs"]
    assert "Net liquidation" in texts["account"]
    for u in UNDERLYINGS:
        assert strategy_id(u) in texts["strategies"]
    assert HOLD_REASON in texts["strategies"]
    assert "OPEN — new entries halted" in texts["breaker"]
    assert "Regime: normal" in texts["regime"]
    assert "6 / 90" in texts["slots"]
    assert "Last run failed: entry" in texts["jobs"]
    assert "concentration exceeded" in texts["risk"]


def test_reads_are_cached_until_the_refresh_interval_passes(full_lake: Lake) -> None:
    clock = [0.0]
    dashboard = MonitoringDashboard(full_lake, refresh_s=30, clock=lambda: clock[0])
    misses = dashboard.cache.misses
    dashboard.refresh()
    assert dashboard.cache.misses == misses  # within 30 s: nothing re-read
    clock[0] = 30.0
    dashboard.refresh()
    assert dashboard.cache.misses == 2 * misses  # every query re-read once
    dashboard.refresh(force=True)
    assert dashboard.cache.misses == 3 * misses
    assert "refresh #4" in dashboard.status.value


def test_a_failing_query_shows_its_error_and_the_other_panels_still_draw(
    full_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_lake: Lake, _now: datetime) -> pl.DataFrame:
        raise RuntimeError(f"job_runs unreadable for {ACCOUNT}")

    monkeypatch.setitem(QUERIES, "jobs", broken)
    texts = panel_texts(MonitoringDashboard(full_lake, refresh_s=30))
    assert "Job health failed: job_runs unreadable for DU*****67" in texts["jobs"]
    assert strategy_id("SPY") in texts["strategies"]


def test_auto_refresh_redraws_on_the_running_loop_until_stopped(empty_lake: Lake) -> None:
    dashboard = MonitoringDashboard(empty_lake, refresh_s=0.01)
    # A fresh thread has no running loop (other tests may leave ib_async's patched loop
    # marked running in this one): nothing there can drive a timer.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(dashboard.start_auto_refresh).result() is None

    async def run() -> int:
        task = dashboard.start_auto_refresh()
        assert task is not None
        while dashboard.refreshes < 3:  # the first was the constructor's
            await asyncio.sleep(0.01)
        dashboard.stop_auto_refresh()
        await asyncio.sleep(0)
        return dashboard.refreshes if task.cancelled() else -1

    with ThreadPoolExecutor(1) as pool:  # a loop of its own, whatever this thread holds
        stopped_at = pool.submit(lambda: asyncio.run(asyncio.wait_for(run(), timeout=60))).result()
    assert stopped_at >= 3
    assert dashboard.refreshes == stopped_at  # nothing ran after the stop


def test_ttl_cache_recomputes_only_after_expiry() -> None:
    now = [0.0]
    cache = TTLCache(30.0, clock=lambda: now[0])
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("k", compute) == 1
    now[0] = 29.9
    assert cache.get("k", compute) == 1
    now[0] = 30.0
    assert cache.get("k", compute) == 2


def test_tables_mask_account_shaped_text_and_escape_html() -> None:
    frame = pl.DataFrame({"note": ["<b>U1234567</b>"], "x": [1.5]})
    html = frame_html(frame, formats={"x": ".1f"})
    assert "U1234567" not in html and "U1****67" in html
    assert "&lt;b&gt;" in html and "1.5" in html


# --- research helpers --------------------------------------------------------------------------------
def test_smile_marks_out_of_the_money_options_of_the_newest_chain(full_lake: Lake) -> None:
    smile = smile_frame(full_lake.read(TableName.OPTION_SNAPSHOTS), "SPY")
    assert smile["ts"].n_unique() == 1 and smile.height > 100
    otm_puts = smile.filter(pl.col("otm") & (pl.col("right") == "P"))
    assert (otm_puts["moneyness"] < 1).all()
    near = smile.filter(pl.col("dte") == 30, pl.col("otm")).sort("moneyness")
    # the simulated smile is skewed: far puts carry more IV than far calls
    assert near["iv"][0] > near["iv"][-1]


def test_skew_history_reads_the_expiry_nearest_30_days_per_snapshot(full_lake: Lake) -> None:
    history = skew_history(full_lake.read(TableName.OPTION_SNAPSHOTS), "QQQ")
    assert history.height == 1  # the demo records one chain per day
    row = history.row(0, named=True)
    assert row["dte"] == 30 and not row["fallback"]
    assert row["skew_ratio"] == pytest.approx(row["put_iv"] / row["call_iv"])


def test_strategy_pnl_groups_positions_and_counts_fills(full_lake: Lake) -> None:
    pnl = strategy_pnl(full_lake)
    assert pnl.height == 3 and pnl["open"].all()
    latest = open_legs(full_lake, NOW)
    spy = pnl.filter(pl.col("underlying") == "SPY").row(0, named=True)
    assert spy["last_pnl"] == pytest.approx(
        latest.filter(pl.col("underlying") == "SPY")["unrealized_pnl"].sum()
    )
    assert spy["worst_pnl"] <= spy["last_pnl"] <= spy["best_pnl"]
    by_underlying = pnl_by_underlying(pnl)
    assert by_underlying["underlying"].to_list() == list(UNDERLYINGS)
    equity = daily_equity(full_lake)
    assert equity.height == 1 and equity["snapshots"][0] >= 12


def test_the_risk_panel_shows_the_books_recorded_limit_breaches(tmp_path: Path) -> None:
    from tradelib.dashboards.monitoring_queries import book_breaches
    from tradelib.dashboards.monitoring_render import risk_html

    lake = Lake(tmp_path / "lake")
    at = datetime(2026, 11, 24, 16, tzinfo=UTC)
    lake.upsert(
        TableName.LIMIT_BREACHES,
        [
            {
                "breach_id": "max_margin_use:20261124T160000",
                "ts": at,
                "limit": "max_margin_use",
                "measured": 0.62,
                "threshold": 0.5,
                "reason": "margin use 62% > 50% of net liquidation",
                "strategies": "QQQ-short_put-1",
                "action": "reduce",
            }
        ],
    )
    empty = pl.DataFrame(
        schema={
            "check": pl.String,
            "value": pl.Float64,
            "limit": pl.Float64,
            "use": pl.Float64,
            "status": pl.String,
            "unit": pl.String,
            "detail": pl.String,
        }
    )
    html = risk_html(empty, lake.read("risk_rejections").collect(), book_breaches(lake, at))
    assert "Book over its limits" in html and "max_margin_use" in html
    assert "margin use 62% &gt; 50%" in html or "margin use 62% > 50%" in html
    assert "reduce" in html and "QQQ-short_put-1" in html


def test_held_charts_stay_off_the_page_until_a_browser_shows_the_numbers(full_lake: Lake) -> None:
    dashboard = MonitoringDashboard(full_lake, refresh_s=30, charts_when_shown=True)
    assert all(f is not None for f in dashboard.figures.values())  # built, not drawn
    assert all(p.output.outputs == () for p in dashboard.panes.values())
    assert dashboard.widget().children[-1] is dashboard.shown  # drawn last on the page
    dashboard.shown._handle_custom_msg({"something": "else"}, [])
    assert all(p.output.outputs == () for p in dashboard.panes.values())
    dashboard.shown._handle_custom_msg({"shown": True}, [])  # what its view sends when drawn
    drawn = {name: p.output.outputs for name, p in dashboard.panes.items()}
    assert all(len(o) == 1 and PLOTLY_MIME in o[0]["data"] for o in drawn.values())
    dashboard.refresh(force=True)  # later refreshes draw at once
    assert all(len(p.output.outputs) == 1 for p in dashboard.panes.values())


def test_charts_are_drawn_at_once_unless_held(full_lake: Lake) -> None:
    dashboard = MonitoringDashboard(full_lake, refresh_s=30)
    assert dashboard.shown is None
    assert all(len(p.output.outputs) == 1 for p in dashboard.panes.values())
    assert not any(type(w).__name__ == "PageShown" for w in dashboard.widget().children)


def test_a_chart_that_fails_to_draw_shows_its_error_and_the_others_draw(
    full_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    dashboard = MonitoringDashboard(full_lake, refresh_s=30, charts_when_shown=True)
    broken = dashboard.panes["equity"]

    def fail() -> None:
        raise RuntimeError(f"cannot draw for {ACCOUNT}")

    monkeypatch.setattr(broken, "_draw", fail)
    monkeypatch.setattr(broken, "show", lambda fig: setattr(broken, "figure", fig))
    dashboard.reveal_charts()
    assert "DU*****67" in str(broken.figure.layout) and ACCOUNT not in str(broken.figure.layout)
    assert all(len(dashboard.panes[n].output.outputs) == 1 for n in ("predictions", "inception"))
