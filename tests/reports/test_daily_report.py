"""The daily report: a papermill notebook rendered to one self-contained HTML file, archived, mailed.

The lake is the monitoring dashboard's scenario (a simulated demo day with a
failed job, an open breaker, closed predictions, a risk rejection) plus a trade
closed in the session and an alert raised in it.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tradelib.alerts import Alerter, LakeAlertStore, job_alert
from tradelib.alerts.channels import EmailChannel
from tradelib.config import (
    AlertsConfig,
    EmailChannelConfig,
    SchedulerConfig,
    TradingConfig,
    load_config,
    read_yaml,
)
from tradelib.dashboards.common import money
from tradelib.lake import Lake, TableName
from tradelib.markethours import MarketHours
from tradelib.reports import report_session, run_daily_report
from tradelib.reports.daily import SECTIONS, build_daily_report
from tradelib.scheduler import RunStatus
from tradelib.scheduler.runs import RunRecord
from tradelib.scheduler.tasks import JobRegistry, declared_parameters

from ..alerts.conftest import SMTP_PASSWORD, SMTP_USER, SmtpServer

pytestmark = pytest.mark.slow  # a demo session and papermill kernels

ROOT = Path(__file__).resolve().parents[2]


def _scenario() -> ModuleType:
    path = ROOT / "tests" / "dashboards" / "test_monitoring_queries.py"
    spec = importlib.util.spec_from_file_location("monitoring_scenario_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scenario = _scenario()
DAY: date = scenario.DAY
NOW = datetime(DAY.year, DAY.month, DAY.day, 23, 0, tzinfo=UTC)  # after the close


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = scenario.build_monitoring_lake(tmp_path_factory.mktemp("report") / "lake")
    closed_at = datetime(DAY.year, DAY.month, DAY.day, 19, 0, tzinfo=UTC)
    lake.upsert(
        TableName.PREDICTIONS,
        [
            {
                "prediction_id": "p-today",
                "strategy_id": "closed-today-ic",
                "strategy_type": "iron_condor",
                "underlying": "QQQ",
                "regime": "normal",
                "predicted_pnl": 90.0,
                "entered_at": closed_at - timedelta(days=12),
                "actual_pnl": 123.45,
                "days_held": 12.0,
                "exit_rule": "dynamic_take_profit",
                "closed_at": closed_at,
                "updated_at": closed_at,
            }
        ],
    )
    failed = RunRecord(
        "entry-x",
        "entry",
        closed_at,
        RunStatus.FAILED,
        closed_at,
        2.0,
        f"boom for {scenario.ACCOUNT}",
    )
    alert = job_alert(failed)
    assert alert is not None
    Alerter(AlertsConfig(), LakeAlertStore(lake), env={}).emit(alert)
    return lake


@pytest.fixture
def config(tmp_path: Path, lake: Lake) -> Path:
    data = read_yaml(ROOT / "config" / "trading_config.yaml")
    data["storage"] = {
        **data.get("storage", {}),
        "lake_uri": str(lake.root),
        "runs_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "trading_config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.sections.append(str(a["id"]))
        if tag == "script":
            self.scripts.append(a)
        if tag == "link":
            self.links.append(a)
        if tag == "svg":
            self.svgs += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_report_covers_the_session_in_one_self_contained_html_file(
    config: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELIB_IB_ACCOUNT", scenario.ACCOUNT)
    cfg = load_config(config)
    result = run_daily_report(cfg, root=ROOT, config_path=str(config), now=NOW, mail=False)

    assert result.session == DAY
    assert result.html.name == f"daily-report-{DAY}.html"
    assert (
        result.html.parent
        == cfg.storage.resolved_runs_dir(ROOT)
        / "daily_report"
        / f"{DAY:%Y}"
        / f"{DAY:%m}"
        / f"{DAY:%d}"
    )
    raw = result.html.read_text()
    page = _Html()
    page.feed(raw)
    text = " ".join(page.text)

    assert page.sections == list(SECTIONS)
    assert not [s for s in page.scripts if (s.get("src") or "").startswith("http")]
    assert not [ln for ln in page.links if (ln.get("href") or "").startswith("http")]
    assert page.svgs >= 1  # the equity curve, drawn inline
    assert "section_html(" not in raw and "build_daily_report" not in raw  # inputs hidden
    report = build_daily_report(lake, cfg, DAY, now=NOW)
    assert report.day_pnl is not None and money(report.day_pnl) in text
    assert "closed-today-ic" in text and "dynamic_take_profit" in text and "123.45" in text
    assert "OPEN: new entries halted" in text  # the scenario's breaker
    assert "Job entry failed" in text  # the alert raised in the session
    assert "entry" in text and "margin use" in text
    assert scenario.ACCOUNT not in raw


def test_the_report_is_mailed_when_asked(
    config: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(config)
    email = EmailChannelConfig(
        host=smtp_server.host,
        port=smtp_server.port,
        sender="bot@example.com",
        recipients=["me@example.com"],
    )
    cfg = cfg.model_copy(
        update={"alerts": cfg.alerts.model_copy(update={"email": email, "mail_daily_report": True})}
    )
    env = {"TRADELIB_SMTP_USER": SMTP_USER, "TRADELIB_SMTP_PASSWORD": SMTP_PASSWORD}
    mailer = EmailChannel(email, env, tls_context=smtp_server.client_tls)

    result = run_daily_report(cfg, root=ROOT, config_path=str(config), now=NOW, mailer=mailer)

    assert result.mailed and result.mail_error is None
    [mail] = smtp_server.mailbox.messages
    assert mail["Subject"] == f"[tradelib] Daily report {DAY}"
    parts: list[Message] = [p for p in mail.walk() if p.get_content_type() == "text/html"]
    assert parts and "Trades closed" in parts[0].get_payload(decode=True).decode()  # type: ignore[union-attr]


def test_the_report_runs_after_the_close_as_a_scheduled_job() -> None:
    task = SchedulerConfig().tasks["daily_report"]
    assert (task.every_minutes, task.market_hours_only) == (1440, False)
    spec = JobRegistry(ROOT).spec("daily_report")
    assert spec.exists
    assert declared_parameters(spec.notebook) == {"config_path", "lake_uri", "now"}
    hours = MarketHours(TradingConfig().scheduler.calendar)
    # at local midnight (its slot) and during the next morning: the session that closed last
    assert report_session(datetime(2026, 11, 25, 5, 0, tzinfo=UTC), hours) == date(2026, 11, 24)
    assert report_session(datetime(2026, 11, 25, 15, 0, tzinfo=UTC), hours) == date(2026, 11, 24)
    assert report_session(datetime(2026, 11, 30, 5, 0, tzinfo=UTC), hours) == date(
        2026, 11, 27
    )  # after a weekend


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_scheduler_runs_the_report_job_notebook_end_to_end(config: Path, lake: Lake) -> None:
    from tradelib.scheduler import Runner

    cfg = load_config(config)
    runner = Runner(cfg, root=ROOT, config_path=config, lake=lake)
    record = runner.run_job("daily_report", NOW)

    assert record.status is RunStatus.SUCCESS, record.error
    html = (
        cfg.storage.resolved_runs_dir(ROOT)
        / "daily_report"
        / f"{DAY:%Y/%m/%d}"
        / f"daily-report-{DAY}.html"
    )
    assert html.is_file() and "Trades closed" in html.read_text()
