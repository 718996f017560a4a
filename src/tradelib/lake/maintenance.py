"""Table maintenance: compact, checkpoint and vacuum each table, and report what it did.

``LakeMaintenance`` is a mixin of ``Lake``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from deltalake import DeltaTable

from tradelib.lake.schemas import TABLES

T = TypeVar("T")

DEFAULT_VACUUM_RETENTION_HOURS = 168


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """Result of compact + checkpoint + vacuum on one table."""

    table: str
    files_before: int
    files_after: int
    rows: int
    version: int
    vacuumed_files: int


class LakeMaintenance:
    """Compaction, checkpoints and vacuum of ``Lake`` (mixin; the handles live on the lake)."""

    if TYPE_CHECKING:

        def _handle(self, table: str) -> DeltaTable | None: ...
        def _require(self, table: str) -> DeltaTable: ...
        def _files(self, handle: DeltaTable) -> tuple[int, int, int]: ...
        def _with_retries(self, table: str, action: Callable[[], T]) -> T: ...

    # --- maintenance -------------------------------------------------------------
    def compact(self, table: str) -> dict[str, Any]:
        """Merge small files into larger ones; return deltalake's metrics."""
        handle = self._require(table)
        return self._with_retries(table, lambda: dict(handle.optimize.compact()))

    def checkpoint(self, table: str) -> None:
        """Write a checkpoint so readers need not replay the whole log."""
        handle = self._require(table)
        handle.create_checkpoint()
        # log entries older than the log retention are now covered by the checkpoint
        handle.cleanup_metadata()

    def vacuum(
        self, table: str, retention_hours: int = DEFAULT_VACUUM_RETENTION_HOURS
    ) -> list[str]:
        """Delete unreferenced files older than ``retention_hours``; return them.

        Unreferenced means removed by a compaction or merge, and also never committed:
        the data files of a writer killed before its commit (a "full" vacuum). Files
        younger than the retention are kept, so a live writer's are safe at the default.
        """
        if retention_hours < 0:
            raise ValueError(f"retention_hours must be >= 0, got {retention_hours}")
        handle = self._require(table)
        # retention is the caller's explicit choice; deltalake's own minimum would refuse < 168
        return self._with_retries(
            table,
            lambda: list(
                handle.vacuum(
                    retention_hours=retention_hours,
                    dry_run=False,
                    enforce_retention_duration=False,
                    full=True,
                )
            ),
        )

    def maintain(
        self, retention_hours: int = DEFAULT_VACUUM_RETENTION_HOURS
    ) -> list[MaintenanceReport]:
        """Compact, checkpoint and vacuum every existing table."""
        reports = []
        for name in TABLES:
            handle = self._handle(name)
            if handle is None:
                continue
            files_before, _, _ = self._files(handle)
            self.compact(name)
            self.checkpoint(name)
            vacuumed = self.vacuum(name, retention_hours)
            handle = self._require(name)
            files_after, rows, _ = self._files(handle)
            reports.append(
                MaintenanceReport(
                    name, files_before, files_after, rows, handle.version(), len(vacuumed)
                )
            )
        return reports
