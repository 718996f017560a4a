"""The ``predictions`` table: entry predictions written once, exits ordered by time.

The values and the rule deciding what an exit does to a stored row are pure
(``tradelib.variance.predictions``); this store only reads and writes rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from tradelib.domain.time import ensure_utc
from tradelib.lake import Lake, TableName
from tradelib.variance.predictions import ExitRecord, Outcome, Prediction, apply_exit

PREDICTIONS = TableName.PREDICTIONS


class StrategyPredictionsTable:
    """Read and write the ``predictions`` table.

    Writers: the entry workflow (``record_entry``) and the monitoring workflow
    (``record_exit``). Entries are guarded by a Delta app transaction, so two
    runs racing to record the same batch still write it once; exits assume one
    writer per prediction at a time (the scheduler never runs a job twice at once).
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    # --- entries ---------------------------------------------------------------------
    def record_entry(self, prediction: Prediction) -> bool:
        """Store one entry prediction; return False when it was already stored."""
        return self.record_entries([prediction]) == 1

    def record_entries(self, predictions: Iterable[Prediction]) -> int:
        """Store entry predictions not stored yet (first of a repeated id wins); return how many."""
        batch: dict[str, Prediction] = {}
        for prediction in predictions:
            batch.setdefault(prediction.prediction_id, prediction)
        if not batch:
            return 0
        stored = set(self._existing_ids(batch))
        new = [p for pid, p in batch.items() if pid not in stored]
        if not new:
            return 0
        digest = hashlib.sha256("\n".join(sorted(p.prediction_id for p in new)).encode())
        return self.lake.append(
            PREDICTIONS,
            [p.row() for p in new],
            txn_id=f"predictions:entry:{digest.hexdigest()[:32]}",
        )

    def _existing_ids(self, ids: Iterable[str]) -> list[str]:
        wanted = list(ids)
        frame = self.lake.read(
            PREDICTIONS, columns=["prediction_id"], filter=pl.col("prediction_id").is_in(wanted)
        ).collect()
        return [str(v) for v in frame["prediction_id"].to_list()]

    # --- exits -----------------------------------------------------------------------
    def record_exit(
        self,
        prediction_id: str,
        actual_pnl: float,
        exit_rule: str,
        closed_at: datetime,
        *,
        recorded_at: datetime | None = None,
    ) -> ExitRecord:
        """Store the actual outcome of a prediction; never replaces a newer one.

        ``actual_pnl`` is the realized P&L in dollars for the whole position.
        """
        outcome = Outcome(prediction_id, actual_pnl, exit_rule, closed_at, recorded_at)
        return self.record_exits([outcome])[0]

    def record_exits(self, outcomes: Sequence[Outcome]) -> list[ExitRecord]:
        """Store several outcomes in one write; one ``ExitRecord`` per outcome, in order.

        Within the batch, outcomes of the same prediction are applied in order,
        so only the newest of them is written.
        """
        if not outcomes:
            return []
        rows = {
            str(r["prediction_id"]): r
            for r in self.lake.read(
                PREDICTIONS,
                filter=pl.col("prediction_id").is_in([o.prediction_id for o in outcomes]),
            )
            .collect()
            .to_dicts()
        }
        changed: dict[str, dict[str, Any]] = {}
        records: list[ExitRecord] = []
        for outcome in outcomes:
            current = changed.get(outcome.prediction_id) or rows.get(outcome.prediction_id)
            record, updated = apply_exit(current, outcome)
            records.append(record)
            if updated is not None:
                changed[outcome.prediction_id] = updated
        if changed:
            self.lake.upsert(PREDICTIONS, list(changed.values()))
        return records

    # --- reads -----------------------------------------------------------------------
    def get(self, prediction_id: str) -> dict[str, Any] | None:
        """Return the stored row of one prediction, or None."""
        rows = (
            self.lake.read(PREDICTIONS, filter=pl.col("prediction_id") == prediction_id)
            .collect()
            .to_dicts()
        )
        return rows[0] if rows else None

    def frame(self, *, closed_since: datetime | None = None) -> pl.DataFrame:
        """Return the predictions, all or (``closed_since``) those closed at or after a time."""
        flt = None
        if closed_since is not None:
            flt = pl.col("closed_at") >= ensure_utc(closed_since, "closed_since")
        return self.lake.read(PREDICTIONS, filter=flt).collect()
