"""Reports rendered from the lake: the daily report (HTML, archived under runs/, optionally mailed)."""

from tradelib.reports.daily import DailyReport, build_daily_report, report_session
from tradelib.reports.publish import (
    REPORT_NOTEBOOK,
    ReportResult,
    daily_report_job,
    notebook_to_html,
    run_daily_report,
)

__all__ = [
    "REPORT_NOTEBOOK",
    "DailyReport",
    "ReportResult",
    "build_daily_report",
    "daily_report_job",
    "notebook_to_html",
    "report_session",
    "run_daily_report",
]
