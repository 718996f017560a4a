"""The ``maintenance`` job: compact, checkpoint and vacuum every lake table.

Run by ``notebooks/maintenance.ipynb`` (so it gets the scheduler's lock, timeout,
archive and ``job_runs`` row like every other job), or directly from Python.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from tradelib.jobs.context import LakeContext, load_job_config
from tradelib.lake import MaintenanceReport
from tradelib.lake.store import DEFAULT_VACUUM_RETENTION_HOURS
from tradelib.lake.workspace import job_lake


def run_maintenance(
    ctx: LakeContext, *, retention_hours: int = DEFAULT_VACUUM_RETENTION_HOURS
) -> list[MaintenanceReport]:
    """Compact, checkpoint and vacuum every existing table of the context's lake."""
    return ctx.lake.maintain(retention_hours)


def maintenance_job(
    config_path: str = "",
    lake_uri: str = "",
    *,
    retention_hours: int = DEFAULT_VACUUM_RETENTION_HOURS,
) -> list[MaintenanceReport]:
    """The scheduled notebook's one call: load the config, open the lake, maintain it."""
    cfg = load_job_config(config_path)
    return run_maintenance(
        LakeContext.at_time(cfg, job_lake(cfg, lake_uri), datetime.now(UTC)),
        retention_hours=retention_hours,
    )


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
