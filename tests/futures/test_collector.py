"""The futures collector against a real SimBroker and a real Delta lake."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tradelib.broker.sim import SimBroker
from tradelib.cli import app
from tradelib.domain import utc
from tradelib.errors import CollectorAlreadyRunningError
from tradelib.futures.collector import FuturesCollector, single_instance
from tradelib.lake import Lake
from tradelib.stores.futures import (
    BARS_TABLE,
    GAP_END,
    GAP_REASON,
    GAP_START,
    LOCAL_SYMBOL,
    SYMBOL,
    TS,
    read_bars,
    read_gaps,
)

from .conftest import START, FlakySimBroker, ListingSimBroker, fast_settings, market

SYMBOLS = ["ES", "NQ", "RTY", "SPY", "QQQ", "IWM"]


def bars_in(lake: Lake) -> pl.DataFrame:
    return lake.read(BARS_TABLE).collect().sort(SYMBOL, TS)


def test_five_minutes_of_collection_store_every_second_of_every_symbol(lake: Lake) -> None:
    broker = SimBroker(market())
    collector = FuturesCollector(broker, lake, fast_settings())
    report = collector.run(until=START + timedelta(minutes=5))
    stored = bars_in(lake)
    counts = dict(stored.group_by(SYMBOL).len().iter_rows())
    assert counts == dict.fromkeys(SYMBOLS, 300)
    assert report.rows_written == 1800 and report.contracts["ES"] == "ESZ6"
    held = dict(stored.select(SYMBOL, LOCAL_SYMBOL).unique().iter_rows())
    assert held == {
        "ES": "ESZ6",
        "NQ": "NQZ6",
        "RTY": "RTYZ6",
        "SPY": "SPY",
        "QQQ": "QQQ",
        "IWM": "IWM",
    }
    # exactly the broker's own bars: nothing interpolated, nothing shifted
    es = stored.filter(pl.col(SYMBOL) == "ES").select(TS, "close")
    truth = broker.market.bars("ES", START, START + timedelta(minutes=5), 1).select(TS, "close")
    assert es.equals(truth)


def test_sigterm_mid_run_flushes_every_polled_bar(lake: Lake) -> None:
    broker = SimBroker(market())
    # flushes every 10 minutes: a stop after 95 s must still write what was polled
    collector = FuturesCollector(broker, lake, fast_settings(flush_interval_s=600.0, step_s=5.0))
    stop_at = START + timedelta(seconds=95)
    original_wait = broker.wait

    def wait_then_signal(seconds: float) -> None:
        original_wait(seconds)
        if broker.now() >= stop_at and not collector.stopping:
            os.kill(os.getpid(), signal.SIGTERM)

    broker.wait = wait_then_signal  # type: ignore[method-assign]
    with collector.stop_on_signals():
        report = collector.run(until=START + timedelta(hours=1))
    assert report.stop_reason == "signal SIGTERM"
    assert report.flushes == 1  # the flush on stop
    stored = bars_in(lake)
    seconds = stored.filter(pl.col(SYMBOL) == "ES").height
    assert seconds == (report.stopped_at - START).total_seconds()  # type: ignore[operator]
    assert seconds >= 95 and collector.buffered == 0


def test_a_restart_resumes_after_the_last_stored_bar_and_duplicates_nothing(lake: Lake) -> None:
    broker = SimBroker(market())
    FuturesCollector(broker, lake, fast_settings()).run(until=START + timedelta(minutes=2))
    broker.wait(45)  # the collector was down for 45 s: within the resume window
    FuturesCollector(broker, lake, fast_settings()).run(until=START + timedelta(minutes=4))
    stored = bars_in(lake)
    assert stored.filter(pl.col(SYMBOL) == "SPY").height == 240
    assert stored.select(SYMBOL, TS).is_duplicated().sum() == 0
    assert read_gaps(lake).height == 0


def test_a_long_outage_of_the_collector_is_recorded_as_a_gap(lake: Lake) -> None:
    broker = SimBroker(market())
    FuturesCollector(broker, lake, fast_settings()).run(until=START + timedelta(minutes=1))
    broker.wait(2 * 3600)
    restarted = START + timedelta(minutes=1, hours=2)
    FuturesCollector(broker, lake, fast_settings()).run(until=restarted + timedelta(minutes=1))
    gaps = read_gaps(lake, ["ES"])
    assert gaps.height == 1
    assert gaps.row(0, named=True)[GAP_START] == START + timedelta(minutes=1)
    assert gaps.row(0, named=True)[GAP_END] == restarted
    assert gaps.row(0, named=True)[GAP_REASON] == "collector not running"


def test_a_dropped_connection_is_reconnected_and_recorded_as_a_gap_never_filled(
    lake: Lake,
) -> None:
    drop_at = START + timedelta(seconds=100)
    back_at = START + timedelta(seconds=400)
    broker = FlakySimBroker(market(), drop_at, back_at)
    settings = fast_settings(step_s=1.0, reconnect_delays_s=(20.0,))
    report = FuturesCollector(broker, lake, settings).run(until=START + timedelta(minutes=10))
    assert report.reconnects == 1 and broker.refused > 0
    gaps = read_gaps(lake)
    assert sorted(gaps.get_column("symbol").to_list()) == sorted(SYMBOLS)
    gap = gaps.filter(pl.col("symbol") == "ES").row(0, named=True)
    # dated from the last broker time seen before the drop: never after it
    assert drop_at - timedelta(seconds=1) <= gap[GAP_START] <= drop_at
    assert back_at <= gap[GAP_END] <= back_at + timedelta(seconds=20)
    assert gap[GAP_REASON].startswith("disconnected")
    es = read_bars(lake, ["ES"], columns=(TS,)).collect().get_column(TS)
    inside = es.filter((es >= gap[GAP_START]) & (es < gap[GAP_END]))
    assert inside.len() == 0  # the gap stays a gap
    # every second before the gap made it, including those polled only after reconnecting
    assert es.filter(es < gap[GAP_START]).len() == (gap[GAP_START] - START).seconds
    end = START + timedelta(minutes=10)
    assert es.filter(es >= gap[GAP_END]).len() == (end - gap[GAP_END]).seconds


def test_the_front_month_rolls_eight_days_before_expiry(lake: Lake) -> None:
    # ESZ6 expires 2026-12-18: from New York midnight starting 12-10 the front is ESH7
    start = utc(2026, 12, 10, 4, 50)  # 23:50 New York on 12-09, the futures evening session
    broker = ListingSimBroker(market(start))
    report = FuturesCollector(broker, lake, fast_settings()).run(
        until=start + timedelta(minutes=20)
    )
    es = bars_in(lake).filter(pl.col(SYMBOL) == "ES")
    midnight = utc(2026, 12, 10, 5)
    before = es.filter(pl.col(TS) < midnight)
    after = es.filter(pl.col(TS) >= midnight)
    assert before.get_column(LOCAL_SYMBOL).unique().to_list() == ["ESZ6"]
    assert after.get_column(LOCAL_SYMBOL).unique().to_list() == ["ESH7"]
    assert report.rolls == [
        "2026-12-10 ESZ6 -> ESH7",
        "2026-12-10 NQZ6 -> NQH7",
        "2026-12-10 RTYZ6 -> RTYH7",
    ]
    assert before.height == 600 and after.height == 600


def test_a_retried_flush_writes_nothing_twice(lake: Lake) -> None:
    broker = SimBroker(market())
    collector = FuturesCollector(broker, lake, fast_settings(flush_interval_s=3600.0))
    collector.start()
    broker.wait(30)
    collector.poll()
    rows = pl.concat(collector._buffer)
    assert collector.flush() == 180
    from tradelib.futures.collector import _txn_id

    assert lake.append(BARS_TABLE, rows, txn_id=_txn_id(rows)) == 0  # the same commit again
    assert bars_in(lake).height == 180


def test_a_second_collector_refuses_to_start_while_one_holds_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "collector.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from tradelib.futures.collector import single_instance
                with single_instance({str(lock)!r}):
                    print("locked", flush=True)
                    sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(CollectorAlreadyRunningError, match=f"pid {holder.pid}"),
            single_instance(lock),
        ):
            pass
    finally:
        holder.communicate("done\n", timeout=30)
    with single_instance(lock):  # released when its holder exits
        pass


def test_the_cli_collects_simulated_minutes_into_the_lake(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    result = CliRunner().invoke(
        app,
        [
            "collect-futures",
            "--lake",
            str(lake),
            "--fast",
            "--sim-start",
            "2026-11-24T15:00:00",
            "--minutes",
            "2",
            "--lock-file",
            str(tmp_path / "lock"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "contracts: ES ESZ6, NQ NQZ6, RTY RTYZ6" in result.output
    assert Lake(lake).read(BARS_TABLE).collect().height == 6 * 120


def test_the_cli_exits_quietly_when_a_collector_already_runs(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with single_instance(lock):
        result = CliRunner().invoke(
            app,
            [
                "collect-futures",
                "--lake",
                str(tmp_path / "lake"),
                "--once",
                "--lock-file",
                str(lock),
            ],
        )
    assert result.exit_code == 0, result.output
    assert f"pid {os.getpid()}" in result.output and "not starting a second one" in result.output
    assert not (tmp_path / "lake").exists()
