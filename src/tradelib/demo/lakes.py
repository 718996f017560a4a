"""Lakes for notebooks run on their own: the configured one, or simulated days.

A research notebook opened in a fresh clone (no ``make demo`` yet) still runs
top to bottom: when the configured lake has no rows of the table it needs, it
gets a few simulated days built through the real jobs in a temp folder.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

from tradelib.config import TradingConfig
from tradelib.dashboards.common import resolve_lake
from tradelib.lake import Lake
from tradelib.markethours import MarketHours


def recent_trading_days(cfg: TradingConfig, days: int, end: date | None = None) -> list[date]:
    """The last ``days`` trading days on or before ``end`` (default: yesterday, New York)."""
    hours = MarketHours(cfg.scheduler.calendar)
    day = hours.trading_day_on_or_before(end or (date.today() - timedelta(days=1)))
    out = [day]
    while len(out) < days:
        day = hours.previous_trading_day(day)
        out.append(day)
    return sorted(out)


def build_demo_lake(
    root: str | Path,
    cfg: TradingConfig | None = None,
    *,
    days: int = 3,
    end: date | None = None,
    snapshot_every_min: int = 30,
) -> Lake:
    """Run the simulated demo day over the last ``days`` trading days into a lake at ``root``."""
    from tradelib.demo.day import run_demo  # the simulator is only needed here

    cfg = cfg or TradingConfig()
    lake = Lake(root)
    for day in recent_trading_days(cfg, days, end):
        run_demo(
            cfg, lake=lake, day=day, snapshot_every_min=snapshot_every_min, progress=lambda _m: None
        )
    return lake


def research_lake(
    table: str,
    *,
    lake_uri: str | None = None,
    cfg: TradingConfig | None = None,
    days: int = 3,
) -> tuple[Lake, str]:
    """The configured lake when ``table`` has rows, else a simulated one in a temp folder.

    Returns the lake and a sentence saying which one it is, so a notebook run
    in a fresh clone (no ``make demo`` yet) still runs top to bottom.
    """
    lake = resolve_lake(lake_uri, cfg)
    if lake.exists(table) and lake.read(table).head(1).collect().height:
        return lake, f"reading the configured lake at {lake.root}"
    folder = Path(tempfile.mkdtemp(prefix="tradelib-research-")) / "lake"
    demo = build_demo_lake(folder, cfg, days=days)
    return demo, f"the configured lake has no {table} rows: built {days} simulated days instead"
