"""Fill a lake with simulated futures and spot bars, for the demo and for tests.

The live collector polls a broker a minute at a time; replaying a week that
way through SimBroker would take minutes. ``collect_simulated_days`` reads
the same 1-s bars straight from the simulated market instead, day by day,
and writes them in the collector's row shape (``tradelib.stores.futures``), so
the lake looks exactly as if the collector had run through those days.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tradelib.lake import Lake
from tradelib.markethours import NEW_YORK, MarketHours, require_utc
from tradelib.sim import SimMarketConfig, SimulatedMarket, default_start
from tradelib.stores.futures import BARS_TABLE, SYMBOL, TS, bar_rows

if TYPE_CHECKING:
    from tradelib.config import TradingConfig

DEFAULT_SPOT_PAIRS = {"ES": "SPY", "NQ": "QQQ", "RTY": "IWM"}


@dataclass(slots=True)
class SimCollection:
    """What ``collect_simulated_days`` wrote."""

    days: list[date] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # symbol -> bars in the lake
    start: datetime | None = None  # first futures bar
    end: datetime | None = None  # market time when done
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        """A short human summary."""
        first, last = (self.days[0], self.days[-1]) if self.days else ("-", "-")
        counts = ", ".join(f"{s} {n:,}" for s, n in self.rows.items())
        return [
            f"futures: {len(self.days)} simulated trading days {first} .. {last} of 1-s bars",
            f"  {counts}",
            f"  written in {self.elapsed_s:.1f}s",
        ]


def _futures_rows(
    market: SimulatedMarket, root: str, start: datetime, end: datetime
) -> pl.DataFrame:
    bars = market.bars(root, start, end, 1)
    if bars.height == 0:
        return bar_rows(bars, root, root)
    # the front month changes at New York midnight: label each New York day with its contract
    ny_day = pl.col(TS).dt.convert_time_zone(str(NEW_YORK)).dt.date()
    firsts = bars.group_by(ny_day.alias("ny_day")).agg(pl.col(TS).min())
    local = {
        row["ny_day"]: market.futures_contract(root, row[TS]).local_symbol
        for row in firsts.iter_rows(named=True)
    }
    parts = [
        bar_rows(group.drop("ny_day"), root, local[key[0]])
        for key, group in bars.with_columns(ny_day.alias("ny_day")).group_by(
            "ny_day", maintain_order=True
        )
    ]
    return pl.concat(parts)


def collect_simulated_days(
    market: SimulatedMarket,
    lake: Lake,
    days: int = 7,
    symbols: Sequence[str] | None = None,
    *,
    spot_pairs: dict[str, str] | None = None,
    through: datetime | None = None,
) -> SimCollection:
    """Write ``days`` trading days of 1-s bars for futures ``symbols`` and their ETFs.

    Starts with the session that ``market.now()`` is in (or the next one) and
    advances the market to each session's close: futures bars from the
    previous close (the overnight session), ETF bars over regular hours.
    ``through`` (after the last close) also collects the futures' evening
    session up to that time, so an overnight signal has something to show.
    One idempotent append per day: running it again on the same lake and
    market adds nothing.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    began = time.perf_counter()
    hours = market.hours
    roots = list(symbols or market.config.futures)
    pairs = {**DEFAULT_SPOT_PAIRS, **(spot_pairs or {})}
    spots = [pairs[r] for r in roots if r in pairs]
    seed, lead = market.config.seed, market.config.futures_lead_s
    out = SimCollection(rows=dict.fromkeys([*roots, *spots], 0))

    close = hours.next_close(market.now())
    for _ in range(days):
        day = hours.session_for(close - timedelta(seconds=1))
        assert day is not None
        open_, close = hours.session_bounds(day)
        previous_close = hours.previous_close(open_)
        if market.now() < close:
            market.advance_to(close)
        frames = [_futures_rows(market, r, previous_close, close) for r in roots]
        frames += [bar_rows(market.bars(s, open_, close, 1), s, s) for s in spots]
        _write(lake, frames, f"sim-futures:{seed}:{lead}:{day}:{','.join(roots)}", out)
        out.days.append(day)
        out.start = out.start or previous_close
        close = hours.next_close(close + timedelta(seconds=1))

    last_close = hours.session_bounds(out.days[-1])[1]
    if through is not None and require_utc(through, "through") > last_close:
        if market.now() < through:
            market.advance_to(through)
        frames = [_futures_rows(market, r, last_close, through) for r in roots]
        _write(lake, frames, f"sim-futures:{seed}:{lead}:{last_close}:{through}:{roots}", out)
    out.end = market.now()
    out.elapsed_s = time.perf_counter() - began
    return out


def _write(lake: Lake, frames: list[pl.DataFrame], txn_id: str, out: SimCollection) -> None:
    rows = pl.concat(frames, how="vertical_relaxed")
    lake.append(BARS_TABLE, rows, txn_id=txn_id)
    for frame in frames:
        if frame.height:
            symbol = frame.get_column(SYMBOL)[0]
            out.rows[symbol] = out.rows.get(symbol, 0) + frame.height


def simulate_futures_lake(
    lake: Lake,
    *,
    end_day: date | None = None,
    days: int = 7,
    symbols: Sequence[str] = ("ES", "NQ", "RTY"),
    spot_pairs: dict[str, str] | None = None,
    seed: int = 7,
    lead_s: float = 2.0,
    evening_hours: float = 3.0,
    calendar: MarketHours | None = None,
) -> SimCollection:
    """Simulate the ``days`` trading days ending on ``end_day`` into ``lake``.

    ``end_day`` None means the latest trading day (New York); ``evening_hours``
    of futures after the last close give the overnight signal something to read.
    """
    hours = calendar or MarketHours()
    last = hours.trading_day_on_or_before(end_day or datetime.now(UTC).astimezone(NEW_YORK).date())
    first = last
    for _ in range(days - 1):
        first = hours.previous_trading_day(first)
    start = default_start(first, hours)
    market = SimulatedMarket(SimMarketConfig(seed=seed, start=start, futures_lead_s=lead_s), hours)
    _, last_close = hours.session_bounds(last)
    return collect_simulated_days(
        market,
        lake,
        days,
        symbols,
        spot_pairs=spot_pairs,
        through=last_close + timedelta(hours=evening_hours),
    )


def run_futures_demo(
    cfg: TradingConfig,
    lake: Lake,
    *,
    end_day: date | None = None,
    days: int | None = None,
    progress: Callable[[str], None] = print,
) -> SimCollection:
    """The demo's futures part: the collector's data for the days ending on ``end_day``.

    ``days`` defaults to the analysis minimum (``futures.min_days_for_analysis``)
    so that the futures dashboard concludes after the demo.
    """
    count = days or cfg.futures.min_days_for_analysis
    progress(
        f"futures demo: {count} simulated trading days of 1-s bars ending {end_day or 'today'}"
    )
    result = simulate_futures_lake(
        lake,
        end_day=end_day,
        days=count,
        symbols=cfg.futures.symbols,
        spot_pairs=dict(cfg.futures.spot_pairs),
        seed=cfg.simulation.seed,
        calendar=MarketHours(cfg.scheduler.calendar),
    )
    for line in result.lines():
        progress(line)
    return result


def research_lake(
    lake_uri: str | None = None, **simulation: Any
) -> tuple[Lake, str, tempfile.TemporaryDirectory[str] | None]:
    """The lake a research notebook reads: ``lake_uri``, or a fresh simulated one in a temp folder.

    Returns the lake, a sentence saying which it is, and the temp folder (kept
    alive by the caller; removed when it is garbage collected). ``simulation``
    goes to ``simulate_futures_lake``.
    """
    if lake_uri:
        lake = Lake(lake_uri)
        return lake, f"reading the lake at {lake.root}", None
    folder = tempfile.TemporaryDirectory(prefix="tradelib-futures-")
    lake = Lake(Path(folder.name) / "lake")
    made = simulate_futures_lake(lake, **simulation)
    first, last = made.days[0], made.days[-1]
    return lake, f"built {len(made.days)} simulated trading days ({first} .. {last})", folder
