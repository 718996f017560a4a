"""Run the daily report notebook, render it to one self-contained HTML file, archive, mail.

The scheduler runs ``notebooks/daily_report.ipynb`` (the thin job notebook) after
the close; its one call, ``daily_report_job``, executes the report notebook
``notebooks/reports/daily_report.ipynb`` with papermill, converts it with
nbconvert (inputs hidden) to ``<runs>/daily_report/<YYYY>/<MM>/<DD>/daily-report-<session>.html``
and, when ``alerts.mail_daily_report`` is on and an e-mail channel is set, mails it.
A mail failure is reported, never raised: the archived file is the record.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

from tradelib.config import ACCOUNT_ENV, TradingConfig, load_config, workspace_root
from tradelib.markethours import MarketHours
from tradelib.reports.daily import report_session
from tradelib.secrets import mask_all

log = logging.getLogger(__name__)

REPORT_NOTEBOOK = Path("notebooks") / "reports" / "daily_report.ipynb"
REPORT_JOB = "daily_report"
_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc=['\"]https?://[^>]*>\s*</script>", re.I)
_EXTERNAL_LINK = re.compile(r"<link[^>]*\bhref=['\"]https?://[^>]*>", re.I)


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What one daily report run produced."""

    session: date
    notebook: Path
    html: Path
    mailed: bool = False
    mail_error: str | None = None

    def lines(self) -> list[str]:
        mail = "mailed" if self.mailed else f"not mailed ({self.mail_error or 'mail off'})"
        return [f"daily report for {self.session}: {self.html} ({mail})"]


def notebook_to_html(notebook: Path, html: Path) -> Path:
    """Render an executed notebook to one HTML file: inputs hidden, nothing fetched, secrets masked."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")  # type: ignore[no-untyped-call]
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_filename(str(notebook))
    # the lab template links require.js and MathJax from a CDN: the report needs neither
    body = _EXTERNAL_SCRIPT.sub("", body)
    body = _EXTERNAL_LINK.sub("", body)
    account = os.environ.get(ACCOUNT_ENV, "").strip()
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(mask_all(body, [account] if account else []), encoding="utf-8")
    return html


def report_paths(runs_dir: Path, session: date) -> tuple[Path, Path]:
    """Return where the executed notebook and the HTML of ``session``'s report go."""
    folder = runs_dir / REPORT_JOB / f"{session:%Y}" / f"{session:%m}" / f"{session:%d}"
    stem = f"daily-report-{session:%Y-%m-%d}"
    return folder / f"{stem}.ipynb", folder / f"{stem}.html"


def mail_report(
    cfg: TradingConfig, session: date, html: Path, mailer: object | None = None
) -> str | None:
    """Mail the report through ``alerts.email``; return None when sent, else why not."""
    from tradelib.alerts import ChannelError, EmailChannel

    email = cfg.alerts.email
    if email is None:
        return "no e-mail channel configured"
    channel = mailer if isinstance(mailer, EmailChannel) else EmailChannel(email, os.environ)
    msg = EmailMessage()
    msg["Subject"] = f"[tradelib] Daily report {session}"
    msg["From"] = email.sender
    msg["To"] = ", ".join(email.recipients)
    msg.set_content(f"The tradelib daily report for {session} is attached (HTML).\n")
    body = html.read_text(encoding="utf-8")
    msg.add_alternative(body, subtype="html")
    msg.add_attachment(body.encode(), maintype="text", subtype="html", filename=html.name)
    try:
        channel.send_message(msg)
    except ChannelError as exc:
        return str(exc)
    return None


def run_daily_report(
    cfg: TradingConfig,
    *,
    root: Path | None = None,
    config_path: str = "",
    lake_uri: str = "",
    session: date | None = None,
    now: datetime | None = None,
    mail: bool | None = None,
    mailer: object | None = None,
    timeout_s: float = 600.0,
) -> ReportResult:
    """Execute the report notebook for ``session`` (default: the last closed one), render, archive, mail."""
    import papermill as pm

    at = now or datetime.now(UTC)
    root = (root or workspace_root()).resolve()
    day = session or report_session(at, MarketHours(cfg.scheduler.calendar))
    notebook, html = report_paths(cfg.storage.resolved_runs_dir(root), day)
    notebook.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(root / REPORT_NOTEBOOK),
        str(notebook),
        parameters={
            "config_path": config_path,
            "lake_uri": lake_uri,
            "session": day.isoformat(),
            "now": at.astimezone(UTC).isoformat(),
        },
        cwd=str(root),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=timeout_s,
    )
    notebook_to_html(notebook, html)
    wanted = cfg.alerts.mail_daily_report if mail is None else mail
    error = mail_report(cfg, day, html, mailer) if wanted else None
    if error:
        log.warning("daily report not mailed: %s", error)
    return ReportResult(day, notebook, html, mailed=wanted and error is None, mail_error=error)


def daily_report_job(config_path: str = "", lake_uri: str = "", now: str = "") -> ReportResult:
    """The scheduled job's one call: the report of the last closed session at ``now``."""
    from tradelib.jobs.context import parse_now

    cfg = load_config(config_path or None)
    return run_daily_report(cfg, config_path=config_path, lake_uri=lake_uri, now=parse_now(now))
