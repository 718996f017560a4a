"""The ``regime_readings`` table: one reading per market day, the hysteresis memory.

The detector needs yesterday's reading to hold a regime until a new one has
shown itself for long enough; every job reads it from here and writes the day's
reading back, so entry and monitoring (and every process) share one regime.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import polars as pl

from tradelib.domain import MarketRegime
from tradelib.lake import Lake, TableName
from tradelib.regime import RegimeReading

READINGS = TableName.REGIME_READINGS


def _regime(value: str | None) -> MarketRegime | None:
    return MarketRegime(value) if value else None


class RegimeStore:
    """Read and write the regime readings of a lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def previous(self, day: date) -> RegimeReading | None:
        """The last stored reading up to ``day``: an earlier cycle's of the same day counts,
        so a regime raised intraday holds for the rest of the day."""
        frame = (
            self.lake.read(READINGS, filter=pl.col("as_of") <= day).sort("as_of").tail(1).collect()
        )
        if frame.height == 0:
            return None
        row = frame.row(0, named=True)
        return RegimeReading(
            regime=_regime(row["regime"]),
            confidence=float(row["confidence"]),
            evidence=json.loads(row["evidence_json"]) if row["evidence_json"] else {},
            raw=_regime(row["raw"]),
            candidate=_regime(row["candidate"]),
            streak=int(row["streak"]),
            as_of=row["as_of"],
        )

    def store(self, reading: RegimeReading, now: datetime) -> None:
        """Keep ``reading`` as its day's (a commit only when hysteresis needs a change)."""
        if reading.as_of is None:
            return
        row = {
            "as_of": reading.as_of,
            "ts": now,
            "regime": reading.regime.value if reading.regime else None,
            "raw": reading.raw.value if reading.raw else None,
            "candidate": reading.candidate.value if reading.candidate else None,
            "streak": reading.streak,
            "confidence": reading.confidence,
            "evidence_json": json.dumps(dict(reading.evidence), sort_keys=True),
        }
        same = self.lake.read(
            READINGS,
            columns=["regime", "candidate", "streak"],
            filter=pl.col("as_of") == reading.as_of,
        ).collect()
        if same.height and same.row(0) == (row["regime"], row["candidate"], row["streak"]):
            return  # nothing hysteresis needs changed: spare the lake a commit
        self.lake.upsert(READINGS, [row])
