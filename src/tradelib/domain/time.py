"""Time helpers: every timestamp in tradelib is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")


def ensure_utc(ts: datetime, name: str = "timestamp") -> datetime:
    """Return ``ts`` converted to UTC; a naive datetime is an error naming ``name``."""
    if not isinstance(ts, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(ts).__name__}")
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {ts.isoformat()}")
    return ts.astimezone(UTC)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """Build a UTC datetime (a convenience for tests and scenarios)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Build a New York wall-clock time, converted to UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)
