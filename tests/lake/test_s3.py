"""The lake on S3 (moto's server): every Lake operation, the CLI, a dashboard, a careless store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tradelib.config import StorageConfig, TradingConfig
from tradelib.config.problems import InvalidConfigError
from tradelib.lake import Lake
from tradelib.lake.store import ConditionalPutError, _verified_roots
from tradelib.secrets import clear_registered_secrets, mask_all

from .rows import T0, order_row
from .s3 import ACCESS_KEY, SECRET_KEY, CarelessStore, MotoServer, S3Endpoint


def _run(n: int, job: str = "sync", status: str = "success") -> dict[str, object]:
    return {
        "run_id": f"{job}-{n}",
        "job": job,
        "started_at": T0 + timedelta(minutes=n),
        "finished_at": T0 + timedelta(minutes=n, seconds=3),
        "status": status,
        "duration_s": 3.0,
    }


def _config_lake(uri: str, endpoint: S3Endpoint, **storage: object) -> Lake:
    """The lake as a job opens it: endpoint, region and path style from the config."""
    cfg = StorageConfig(
        lake_uri=uri,
        endpoint_url=endpoint.url,
        region="us-east-1",
        path_style=True,
        allow_http=True,
        **storage,  # type: ignore[arg-type]
    )
    return Lake.open(None, cfg)


# --- config --------------------------------------------------------------------------------
def test_config_gives_endpoint_region_and_path_style_and_the_environment_the_keys() -> None:
    storage = StorageConfig(
        lake_uri="s3://bucket/prefix",
        endpoint_url="http://127.0.0.1:9000",
        region="eu-west-1",
        path_style=True,
        allow_http=True,
    )
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    assert storage.storage_options(env) == {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_REGION": "eu-west-1",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_ALLOW_HTTP": "true",
    }
    assert SECRET_KEY not in repr(storage)
    lake = Lake("s3://bucket/prefix", storage_options=storage.storage_options(env))
    assert SECRET_KEY not in repr(lake) and ACCESS_KEY not in repr(lake)


def test_a_lake_opened_from_the_environment_masks_its_secret_in_logs(s3: S3Endpoint) -> None:
    clear_registered_secrets()
    lake = Lake("s3://bucket/prefix")  # options from AWS_* only
    assert lake.storage_options is not None
    assert lake.storage_options["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY
    assert SECRET_KEY not in mask_all(f"deltalake said: bad signature for {SECRET_KEY}")
    assert SECRET_KEY not in repr(lake) and SECRET_KEY not in str(lake.__dict__.get("root"))


@pytest.mark.parametrize(
    ("storage", "problem"),
    [
        ({"aws_secret_access_key": "x"}, "aws_secret_access_key"),
        ({"endpoint_url": "http://127.0.0.1:9000"}, "allow_http"),
        ({"endpoint_url": "ftp://store"}, "endpoint"),
        ({"endpoint_url": "https://key:secret@store.example"}, "credentials"),
    ],
)
def test_bad_object_store_settings_are_refused_naming_the_key(
    storage: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidConfigError, match=problem):
        TradingConfig.from_mapping({"storage": {"lake_uri": "s3://bucket/lake", **storage}})


def test_endpoint_settings_on_a_local_lake_are_refused() -> None:
    with pytest.raises(InvalidConfigError, match="s3:// lake_uri only"):
        TradingConfig.from_mapping({"storage": {"lake_uri": "data/lake", "region": "us-east-1"}})


# --- every Lake operation on S3 ------------------------------------------------------------
def test_appends_are_idempotent_and_upserts_merge_on_s3(s3: S3Endpoint, s3_uri: str) -> None:
    lake = _config_lake(s3_uri, s3)

    assert lake.append("job_runs", [_run(1), _run(2)], txn_id="tick-1") == 2
    assert lake.append("job_runs", [_run(1), _run(2)], txn_id="tick-1") == 0  # a re-run
    assert lake.append("job_runs", [_run(2), _run(3)]) == 1  # run 2 is already there
    stats = lake.upsert("orders", [order_row("o-1"), order_row("o-2")])
    assert (stats.inserted, stats.updated) == (2, 0)
    stats = lake.upsert("orders", [order_row("o-1", status="filled", filled_quantity=1)])
    assert (stats.inserted, stats.updated) == (0, 1)

    fresh = Lake(s3_uri)  # another process: options from the standard AWS variables only
    runs = fresh.read("job_runs").collect()
    assert sorted(runs["run_id"].to_list()) == ["sync-1", "sync-2", "sync-3"]
    orders = fresh.read("orders", filter=pl.col("order_ref") == "o-1").collect()
    assert orders["status"].to_list() == ["filled"]
    counted = fresh.sql("select status, count(*) as n from orders group by status order by status")
    assert counted.rows() == [("filled", 1), ("submitted", 1)]
    info = {t.name: t for t in fresh.tables()}
    assert info["job_runs"].rows == 3 and info["orders"].exists
    # no lock files on an object store: every key is a Delta table's
    keys = s3.keys(s3_uri.split("/")[2])
    assert keys and all(k.startswith(("desk/lake/job_runs/", "desk/lake/orders/")) for k in keys)


def test_a_replay_reads_past_versions_and_the_market_tape_on_s3(
    s3: S3Endpoint, s3_uri: str
) -> None:
    """What a replay needs from an object store: Delta time travel and binary tape rows."""
    from tradelib.backtest.tape import RecordingSource, TapeSource, entries_from_frame, tape_frame
    from tradelib.markethours import MarketHours
    from tradelib.sim import SimMarketConfig, SimulatedMarket
    from tradelib.stores.replay import read_tape, table_versions, write_tape

    lake = _config_lake(s3_uri, s3)
    lake.append("job_runs", [_run(1)])
    before = table_versions(lake)
    lake.append("job_runs", [_run(2)])
    assert lake.read_version("job_runs", before["job_runs"]).collect()["run_id"].to_list() == [
        "sync-1"
    ]
    hours = MarketHours()
    opened, _ = hours.session_bounds(T0.date())
    recorder = RecordingSource(
        SimulatedMarket(SimMarketConfig(seed=1, start=opened), calendar=hours)
    )
    spot = recorder.spot("SPY")
    write_tape(lake, T0.date(), tape_frame(recorder.entries.values()))
    back = read_tape(Lake(s3_uri), T0.date())
    assert TapeSource(entries_from_frame(back), start=opened).spot("SPY") == spot


def test_maintenance_compacts_checkpoints_and_vacuums_on_s3(s3: S3Endpoint, s3_uri: str) -> None:
    lake = _config_lake(s3_uri, s3)
    for n in range(12):
        lake.append("job_runs", [_run(n)])
    bucket, prefix = s3_uri.split("/")[2], "desk/lake/job_runs/"
    data_before = [
        k for k in s3.keys(bucket, prefix) if k.endswith(".parquet") and "_delta_log" not in k
    ]

    (report,) = lake.maintain(retention_hours=0)

    assert (report.table, report.files_before, report.files_after) == ("job_runs", 12, 1)
    assert report.rows == 12 and report.vacuumed_files == 12
    keys = s3.keys(bucket, prefix)
    assert len([k for k in keys if k.endswith(".parquet") and "_delta_log" not in k]) == 1
    assert len(data_before) == 12
    assert any(k.endswith(".checkpoint.parquet") for k in keys)
    assert Lake(s3_uri).read("job_runs").collect().height == 12


# --- the store must honour conditional PUT -------------------------------------------------
def test_a_store_that_ignores_conditional_put_is_refused_before_any_write(
    moto_server: MotoServer, s3: S3Endpoint
) -> None:
    bucket = s3.create_bucket("careless")
    careless = CarelessStore(moto_server.endpoint.url)
    try:
        lake = Lake("s3://careless/lake", storage_options=careless.endpoint.env())
        with pytest.raises(ConditionalPutError, match="ignores conditional PUT") as raised:
            lake.append("job_runs", [_run(1)])
        assert "verify_conditional_put" in str(raised.value)
        assert s3.keys(bucket) == []  # nothing written, the probe object cleaned up

        single = Lake(
            "s3://careless/single",
            storage_options=careless.endpoint.env(),
            verify_conditional_put=False,
        )
        assert single.append("job_runs", [_run(1)]) == 1  # the one-writer opt-out
    finally:
        careless.stop()


def test_an_honest_store_is_probed_once_per_process(s3: S3Endpoint, s3_uri: str) -> None:
    _verified_roots.discard(s3_uri)
    lake = Lake(s3_uri)
    assert lake.verify_store() is True
    assert Lake(s3_uri).verify_store() is False  # remembered for this process
    lake.append("job_runs", [_run(1)])
    assert not [k for k in s3.keys(s3_uri.split("/")[2]) if "_tradelib_store_probe" in k]


# --- the CLI and a dashboard on the s3 URI -------------------------------------------------
def test_lake_ls_and_show_work_on_the_s3_uri(
    s3: S3Endpoint, s3_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tradelib.cli.lake_cmd import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRADELIB_CONFIG", raising=False)
    Lake(s3_uri).append("job_runs", [_run(1), _run(2, job="entry", status="failed")])
    runner = CliRunner()

    listed = runner.invoke(app, ["ls", "--lake", s3_uri])
    assert listed.exit_code == 0, listed.output
    line = next(ln for ln in listed.output.splitlines() if ln.startswith("job_runs"))
    assert line.split()[1] == "2"
    assert SECRET_KEY not in listed.output

    shown = runner.invoke(app, ["show", "job_runs", "--lake", s3_uri, "-n", "1"])
    assert shown.exit_code == 0, shown.output
    assert "entry-2" in shown.output and "sync-1" not in shown.output

    maintained = runner.invoke(app, ["maintain", "--lake", s3_uri, "--retention-hours", "0"])
    assert maintained.exit_code == 0, maintained.output
    assert "job_runs" in maintained.output and "files 1 -> 1, rows 2" in maintained.output


def test_the_monitoring_dashboard_renders_from_the_s3_lake(s3: S3Endpoint, s3_uri: str) -> None:
    from tradelib.dashboards.common import resolve_lake
    from tradelib.dashboards.monitoring import MonitoringDashboard, panel_texts
    from tradelib.dashboards.monitoring_queries import account_summary, job_health

    cfg = TradingConfig.from_mapping(
        {
            "storage": {
                "lake_uri": s3_uri,
                "endpoint_url": s3.url,
                "region": "us-east-1",
                "path_style": True,
                "allow_http": True,
            }
        }
    )
    writer = Lake.from_config(cfg)
    now = T0 + timedelta(hours=1)
    writer.append(
        "account_snapshots",
        [
            {
                "ts": T0,
                "account_masked": "DU*****67",
                "mode": "sim",
                "net_liquidation": 123_456.0,
                "init_margin": 20_000.0,
            }
        ],
    )
    writer.append("job_runs", [_run(1), _run(2, job="entry", status="failed")])

    lake = resolve_lake(None, cfg, env={})
    assert lake.root == s3_uri
    account = account_summary(lake, now)
    assert account["net_liquidation"].to_list() == [123_456.0]
    health = job_health(lake, now).filter(pl.col("job") == "entry")
    assert health["status"].to_list() == ["failed"] and health["failures_24h"].to_list() == [1]

    texts = panel_texts(MonitoringDashboard(lake, cfg, wallclock=lambda: now))
    joined = " ".join(texts.values())
    assert "123,456" in joined and "entry" in joined


# --- preflight probes the s3 lake -----------------------------------------------------------
def _preflight_lake_check(uri: str, endpoint: S3Endpoint) -> tuple[str, str]:
    import socket

    from tradelib.preflight import run_preflight

    with socket.socket() as sock:  # a port nobody listens on: the IB checks are skipped
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = TradingConfig.from_mapping(
        {
            "ib": {"mode": "paper", "connect_retries": 0, "connect_timeout_s": 1.0},
            "storage": {
                "lake_uri": uri,
                "endpoint_url": endpoint.url,
                "region": "us-east-1",
                "path_style": True,
                "allow_http": True,
            },
        }
    )
    report = run_preflight(cfg, host="127.0.0.1", port=port)
    check = report.get("lake")
    return str(check.status), check.detail


def test_preflight_passes_an_s3_lake_that_refuses_overwrites(s3: S3Endpoint, s3_uri: str) -> None:
    status, detail = _preflight_lake_check(s3_uri, s3)
    assert status == "pass" and "refuses overwrites" in detail


def test_preflight_fails_a_store_that_ignores_conditional_put(
    moto_server: MotoServer, s3: S3Endpoint
) -> None:
    s3.create_bucket("careless-preflight")
    careless = CarelessStore(moto_server.endpoint.url)
    try:
        status, detail = _preflight_lake_check("s3://careless-preflight/lake", careless.endpoint)
    finally:
        careless.stop()
    assert status == "fail" and "ignores conditional PUT" in detail


def test_preflight_names_an_unreachable_bucket(s3: S3Endpoint) -> None:
    status, detail = _preflight_lake_check("s3://no-such-bucket-here/lake", s3)
    assert status == "fail" and "s3://no-such-bucket-here" in detail and s3.url in detail


def test_daily_bars_imported_into_s3_come_back_as_the_files_held_them(s3_uri: str) -> None:
    from pathlib import Path

    import numpy as np

    from tradelib.backtest.history.files import load_daily_bars
    from tradelib.backtest.history_store import history_bars, import_history

    data = Path(__file__).parents[1] / "backtest" / "data"
    first = import_history(Lake(s3_uri), data)
    assert first.inserted == 4 * 753
    assert import_history(Lake(s3_uri), data).inserted == 0  # idempotent on S3 too
    (spy,), vix = history_bars(Lake(s3_uri), ["SPY"])  # a worker's own connection
    for bars, name in ((spy, "SPY.csv"), (vix, "VIX.csv")):
        f = load_daily_bars(data / name, vol_index=name == "VIX.csv")
        assert np.array_equal(bars.day, f.day) and np.array_equal(bars.close, f.close)
