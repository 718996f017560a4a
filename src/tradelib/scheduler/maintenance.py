"""The ``maintenance`` job: compact, checkpoint and vacuum every lake table.

Run by ``notebooks/maintenance.ipynb`` (so it gets the scheduler's lock, timeout,
archive and ``job_runs`` row like every other job), or directly from Python.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tradelib.config import load_config, workspace_root
from tradelib.lake import MaintenanceReport
from tradelib.lake.store import DEFAULT_VACUUM_RETENTION_HOURS
from tradelib.scheduler.runner import open_lake


def run_maintenance(
    config_path: str | Path | None = None,
    *,
    retention_hours: int = DEFAULT_VACUUM_RETENTION_HOURS,
    root: Path | None = None,
) -> list[MaintenanceReport]:
    """Compact, checkpoint and vacuum every existing table of the configured lake."""
    cfg = load_config(config_path)
    lake = open_lake(cfg, root or workspace_root())
    return lake.maintain(retention_hours)


def reports_frame(reports: list[MaintenanceReport]) -> pl.DataFrame:
    """Return the maintenance reports as a table (one row per lake table)."""
    return pl.DataFrame(
        [
            {
                "table": r.table,
                "files_before": r.files_before,
                "files_after": r.files_after,
                "rows": r.rows,
                "version": r.version,
                "vacuumed_files": r.vacuumed_files,
            }
            for r in reports
        ],
        schema={
            "table": pl.String,
            "files_before": pl.Int64,
            "files_after": pl.Int64,
            "rows": pl.Int64,
            "version": pl.Int64,
            "vacuumed_files": pl.Int64,
        },
    )
