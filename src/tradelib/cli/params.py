"""Typed, range-checked option values shared by the commands.

Every value a user types is checked here, at parse time, so a bad one is a one-line
usage error (exit 2) naming the option, never a traceback from deep inside a job.
Kept free of heavy imports: command modules load it before doing any work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

# 30 days: the longest interval or timeout a scheduled task may have (as in the config).
MAX_TASK_MINUTES = 43_200
MAX_SHOW_ROWS = 100_000
MAX_RETENTION_HOURS = 24 * 365 * 10
MAX_DEMO_DAYS = 260  # about a year of trading days
_URI_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_JOB_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def finite(
    low: float, high: float, *, low_open: bool = False
) -> Callable[[float | None], float | None]:
    """Return a callback accepting finite floats in [low, high] (or (low, high])."""

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        ok = math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
        if not ok:
            bracket = "(" if low_open else "["
            raise typer.BadParameter(f"{value!r} is not a finite number in {bracket}{low}, {high}]")
        return value

    return check


def choice(*names: str) -> Callable[[str], str]:
    """Return a parser accepting only ``names``."""

    def parse(value: str) -> str:
        if value not in names:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(names)}")
        return value

    return parse


def parse_day(value: str | None) -> date | None:
    """Parse YYYY-MM-DD (callback for ``--day``)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def parse_utc_time(value: str | None) -> datetime | None:
    """Parse an ISO 8601 date-time; a naive one is taken as UTC."""
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 date-time") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def check_lake(value: str | None) -> str | None:
    """Refuse a local lake path that is not a folder (``--lake /etc/passwd``)."""
    if value is None or _is_remote(value):
        return value
    if not value.strip() or "\x00" in value:
        raise typer.BadParameter(f"{value!r} is not a folder or URI")
    path = Path(value.removeprefix("file://")).expanduser()
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{value} is not a folder (a lake is a folder of tables)")
    return value


def _is_remote(value: str) -> bool:
    return bool(_URI_SCHEME.match(value)) and not value.startswith("file://")


def check_existing_lake(value: str | None) -> str | None:
    """Like ``check_lake``, and a local folder must already exist (read-only commands)."""
    checked = check_lake(value)
    if checked is None or _is_remote(checked):
        return checked
    if not Path(checked.removeprefix("file://")).expanduser().is_dir():
        raise typer.BadParameter(f"no lake at {checked} (no such folder)")
    return checked


def check_job(value: str) -> str:
    """Refuse a job name that cannot be a job (the runner checks it is a known one)."""
    if not _JOB_NAME.fullmatch(value):
        raise typer.BadParameter(
            f"invalid job name {value!r}: use lowercase letters, digits, '_' or '-'"
        )
    return value


def check_name(value: str) -> str:
    """Refuse a blank name or one with control characters."""
    if not value.strip() or any(ord(ch) < 32 for ch in value):
        raise typer.BadParameter(f"needs a name (non-blank printable text), got {value!r}")
    return value


LakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        help="Lake URI or folder (default: storage.lake_uri from the config).",
        callback=check_lake,
    ),
]
ExistingLakeOption = Annotated[
    str | None,
    typer.Option(
        "--lake",
        help="Lake URI or folder (default: storage.lake_uri from the config).",
        callback=check_existing_lake,
    ),
]


def _required_lake(value: str) -> str:
    checked = check_existing_lake(value)
    assert checked is not None
    return checked


ExistingLakePath = Annotated[
    str,
    typer.Argument(help="A lake URI or folder that exists.", callback=_required_lake),
]
ConfigPathOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Config file (default: $TRADELIB_CONFIG or config/trading_config.yaml).",
        dir_okay=False,
    ),
]
