"""The futures collector: front-month ES/NQ/RTY and their ETFs as 1-s bars in the lake.

Written against the ``Broker`` port only, so it runs unchanged on SimBroker
and IBBroker.

**Where the bars come from.** The collector polls ``Broker.bars`` every
``poll_interval_s`` for the seconds since its last poll, rather than
aggregating streamed quotes: both brokers serve historical bars, the venue's
bars carry real OHLC and volume (quotes would give a last price per tick and
no volume), and no streaming line is taken from the budget the trading jobs
share. Only complete bars are asked for (``end`` = the current second). With
three roots and three ETFs every 30 s that is 12 requests a minute, within
IB's pacing rule for small bars (60 requests per 10 minutes per contract type
is the classic limit; one contract is asked once per poll).

**Buffer and writes.** Polled bars wait in memory and are appended to
``futures_bars`` every ``flush_interval_s`` as one commit; each commit carries
a transaction id derived from its rows, so a retried flush writes nothing
twice. On start the collector resumes after the newest bar in the lake (within
``resume_window_s``), so a restart never writes a bar twice either.

**Stops and drops.** SIGTERM/SIGINT only ask the loop to stop; it then polls
once more and flushes, so nothing buffered is lost. When the broker drops the
connection (a network fault, or TWS / IB Gateway's nightly restart, which
refuses sessions for a few minutes), the buffer is flushed at once and an open
gap is recorded; the collector reconnects with backoff, collects the bars of the seconds before the
drop that it had not polled yet, and closes the gap at the reconnect time. The
gap itself is never filled. A collector that was not running for longer than
``resume_window_s`` records that period as a gap too.

**One at a time.** ``single_instance`` takes an exclusive ``flock`` on a lock
file for the process lifetime; a second collector refuses to start.

This module is the collector's loop (polling, writing, reconnecting); its
settings and report are in ``futures.collector_settings``, the lock in
``futures.single_instance``. All three are importable from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

import polars as pl

from tradelib.broker.port import Broker, BrokerEvent, ConnectionEvent
from tradelib.domain import Contract
from tradelib.domain.time import NEW_YORK
from tradelib.errors import (
    BrokerError,
    ContractError,
    LakeError,
    NotConnectedError,
)
from tradelib.futures.collector_settings import CollectorReport, CollectorSettings
from tradelib.futures.roll import future_candidates, should_hold
from tradelib.futures.single_instance import single_instance
from tradelib.lake import Lake
from tradelib.markethours import MarketHours
from tradelib.stores.futures import (
    BARS_TABLE,
    GAP_START,
    GAP_SYMBOL,
    GAPS_TABLE,
    SYMBOL,
    TS,
    bar_rows,
    gap_row,
    last_bar_times,
)

if TYPE_CHECKING:
    from tradelib.config import TradingConfig

__all__ = ["CollectorReport", "CollectorSettings", "FuturesCollector", "single_instance"]

log = logging.getLogger(__name__)

# Errors that mean "the session is gone", as opposed to one request failing.
_DISCONNECTS: tuple[type[Exception], ...] = (NotConnectedError, ConnectionError)
# ... and any broker error at all, where only the time is asked.
_NO_TIME: tuple[type[Exception], ...] = (*_DISCONNECTS, BrokerError)


@dataclass(slots=True)
class _Feed:
    """One collected symbol: its contract and the start of the next bar to fetch."""

    symbol: str
    contract: Contract
    cursor: datetime
    is_future: bool


def _floor(ts: datetime, seconds: int) -> datetime:
    epoch = math.floor(ts.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def _ceil(ts: datetime, seconds: int) -> datetime:
    floor = _floor(ts, seconds)
    return floor if floor == ts else floor + timedelta(seconds=seconds)


def _txn_id(rows: pl.DataFrame) -> str:
    """A transaction id that names exactly these rows (symbol, ts keys)."""
    keys = rows.select(SYMBOL, pl.col(TS).dt.epoch("us")).sort(SYMBOL, TS)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(keys.get_column(SYMBOL).str.join("|").item().encode())
    digest.update(keys.get_column(TS).to_numpy().tobytes())
    return f"futures-collector:{rows.height}:{digest.hexdigest()}"


class FuturesCollector:
    """Poll front-month futures and their ETFs into ``futures_bars``; see the module doc.

    ``pace`` (optional) is called after every broker wait with the seconds
    waited: a simulated broker runs as fast as it can, so a CLI that wants it
    to follow the wall clock passes ``time.sleep``.
    """

    def __init__(
        self,
        broker: Broker,
        lake: Lake,
        settings: CollectorSettings | None = None,
        hours: MarketHours | None = None,
        *,
        pace: Callable[[float], None] | None = None,
    ) -> None:
        self.broker = broker
        self.lake = lake
        self.settings = settings or CollectorSettings()
        self.hours = hours or MarketHours()
        self.report = CollectorReport()
        self._pace = pace
        self._feeds: dict[str, _Feed] = {}  # symbol -> feed
        self._buffer: list[pl.DataFrame] = []
        self._dirty_gaps: dict[tuple[str, datetime], dict[str, Any]] = {}  # (symbol, start) -> row
        self._stop_reason: str | None = None
        self._disconnected_at: datetime | None = None
        self._disconnect_reason = ""
        self._last_flush: datetime | None = None
        self._last_now: tuple[datetime, float] | None = None  # (broker time, monotonic) last seen
        self._unsubscribe: Callable[[], None] | None = None

    @classmethod
    def from_config(
        cls,
        cfg: TradingConfig,
        broker: Broker,
        lake: Lake,
        *,
        pace: Callable[[float], None] | None = None,
        **overrides: Any,
    ) -> FuturesCollector:
        """Build from ``cfg.futures`` and the scheduler calendar; overrides go to the settings."""
        return cls(
            broker,
            lake,
            CollectorSettings.from_config(cfg, **overrides),
            MarketHours(cfg.scheduler.calendar),
            pace=pace,
        )

    # --- state -----------------------------------------------------------------------
    @property
    def buffered(self) -> int:
        """Bars polled but not yet written."""
        return sum(f.height for f in self._buffer)

    @property
    def connected(self) -> bool:
        return self._disconnected_at is None and self.broker.is_connected

    def contract(self, symbol: str) -> Contract:
        """The contract currently collected for ``symbol`` (a root or an ETF)."""
        return self._feeds[symbol].contract

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the run loop to stop after a last poll and flush (safe from a signal handler)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Connect if needed, resolve the contracts and find where to resume."""
        if self._unsubscribe is None:
            self._unsubscribe = self.broker.events.subscribe(self._on_event)
        if not self.broker.is_connected:
            self.broker.connect()
        if self._feeds:  # already started: cursors and buffer must survive
            return
        now = self._now()
        self.report.started_at = self.report.started_at or now
        self._last_flush = now
        symbols = [*self.settings.roots, *self.settings.spots]
        window = timedelta(seconds=self.settings.resume_window_s)
        # look a week back for the last bar: enough to see across a weekend or holiday
        last = last_bar_times(self.lake, symbols, now, max(window, timedelta(days=7)))
        step = timedelta(seconds=self.settings.bar_seconds)
        here = _floor(now, self.settings.bar_seconds)
        for symbol in symbols:
            cursor = here
            previous = last.get(symbol)
            if previous is not None:
                resume = previous + step
                if here - resume <= window:
                    # a resume point after "now" (a lake ahead of this clock) waits for it
                    cursor = resume
                else:
                    self._record_gap(symbol, resume, here, "collector not running")
            is_future = symbol in self.settings.roots
            contract = (
                self._resolve(symbol) if is_future else self.broker.resolve(Contract.stock(symbol))
            )
            self._feeds[symbol] = _Feed(symbol, contract, cursor, is_future)
            if is_future:
                self.report.contracts[symbol] = contract.local_symbol
        log.info(
            "futures collector started at %s: %s",
            now.isoformat(),
            ", ".join(f"{f.symbol} from {f.cursor:%H:%M:%S}" for f in self._feeds.values()),
        )

    def run(self, *, until: datetime | None = None, cycles: int | None = None) -> CollectorReport:
        """Collect until ``until`` (broker time), ``cycles`` polls, or a stop request.

        Always ends with a last poll and a flush; returns the run's report.
        """
        self.start()
        done = 0
        try:
            while not self.stopping:
                try:
                    if self._disconnected_at is not None or not self.broker.is_connected:
                        self._reconnect()
                        continue
                    now = self._now()
                    if until is not None and now >= until:
                        self.request_stop("reached --until")
                        break
                    target = now + timedelta(seconds=self.settings.poll_interval_s)
                    if until is not None:
                        target = min(target, until)
                    self._wait_until(target)
                    if self.stopping or self._disconnected_at is not None:
                        continue
                    self.poll()
                except _DISCONNECTS as exc:
                    self._mark_disconnected(f"{type(exc).__name__}: {exc}")
                    continue
                done += 1
                if self._flush_due():
                    self._flush_or_keep()
                if cycles is not None and done >= cycles:
                    self.request_stop(f"{cycles} cycle(s) done")
        finally:
            self.close()
        return self.report

    def close(self) -> None:
        """Poll the last complete bars (if connected), flush everything, stop listening."""
        try:
            if self.connected and self._feeds:
                self.poll()
        except Exception:  # the final flush below matters more than one late poll
            log.exception("futures collector: last poll before stopping failed")
        finally:
            try:
                self.flush()  # raises if the lake refuses: the caller must hear about lost bars
            finally:
                if self._unsubscribe is not None:
                    self._unsubscribe()
                    self._unsubscribe = None
                self.report.stopped_at = self._now()
                self.report.stop_reason = self._stop_reason or "closed"

    @contextlib.contextmanager
    def stop_on_signals(
        self, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
    ) -> Iterator[None]:
        """Within the block, SIGTERM/SIGINT ask for a clean stop instead of killing the process."""
        previous: dict[signal.Signals, Any] = {}

        def handler(signum: int, _frame: FrameType | None) -> None:
            self.request_stop(f"signal {signal.Signals(signum).name}")

        try:
            for sig in signals:
                previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: leave signals alone
            log.warning("futures collector: signal handlers need the main thread; not installed")
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # --- polling -----------------------------------------------------------------------------
    def poll(self) -> int:
        """Fetch the complete bars since each symbol's cursor into the buffer; return how many."""
        if not self._feeds:
            self.start()
        now = self._now()
        end = _floor(now, self.settings.bar_seconds)
        got = 0
        for feed in self._feeds.values():
            try:
                if feed.is_future:
                    got += self._roll_if_due(feed, now)
                got += self._fetch(feed, end)
            except _DISCONNECTS as exc:
                self._mark_disconnected(f"{type(exc).__name__}: {exc}")
                break
            except BrokerError as exc:
                if not self.broker.is_connected:
                    self._mark_disconnected(str(exc))
                    break
                # one request failing (e.g. IB 162) is retried at the next poll
                log.warning("futures collector: bars for %s failed: %s", feed.symbol, exc)
        self.report.polls += 1
        return got

    def _fetch(self, feed: _Feed, end: datetime) -> int:
        if end <= feed.cursor:
            return 0
        bars = self.broker.bars(feed.contract, feed.cursor, end, self.settings.bar_seconds)
        bars = bars.filter((pl.col(TS) >= feed.cursor) & (pl.col(TS) < end))
        feed.cursor = end
        if bars.height == 0:
            return 0
        local = feed.contract.local_symbol or feed.symbol
        self._buffer.append(bar_rows(bars, feed.symbol, local))
        return bars.height

    def _resolve(self, root: str) -> Contract:
        today = self._now().astimezone(NEW_YORK).date()
        problems: list[str] = []
        for candidate in future_candidates(root, today, self.settings.roll_days, self.hours):
            try:
                return self.broker.resolve(candidate)
            except ContractError as exc:
                problems.append(str(exc))
        raise ContractError(f"no front month found for {root}: {'; '.join(problems)}")

    def _roll_if_due(self, feed: _Feed, now: datetime) -> int:
        """Move ``feed`` to the next contract once the roll day starts; return bars fetched.

        The seconds before the roll day's New York midnight still belong to the
        old contract: they are fetched with it first. A broker that no longer
        serves the old month (the simulated market lists only the front) gets
        them asked from the new one instead.
        """
        expiry = feed.contract.expiry
        local = now.astimezone(NEW_YORK)
        today: date = local.date()
        if expiry is not None and should_hold(expiry, today, self.settings.roll_days):
            return 0
        got = 0
        boundary = datetime.combine(today, datetime.min.time(), tzinfo=NEW_YORK).astimezone(UTC)
        if feed.cursor < boundary:
            try:
                got = self._fetch(feed, min(boundary, _floor(now, self.settings.bar_seconds)))
            except ContractError as exc:
                log.info(
                    "futures collector: old month gone, its last bars come from the new: %s", exc
                )
        new = self._resolve(feed.symbol)
        if new.key != feed.contract.key:
            self.report.rolls.append(
                f"{today:%Y-%m-%d} {feed.contract.local_symbol} -> {new.local_symbol}"
            )
            log.info("futures collector: rolled %s", self.report.rolls[-1])
        feed.contract = new
        self.report.contracts[feed.symbol] = new.local_symbol
        return got

    # --- writing ---------------------------------------------------------------------------
    def _flush_due(self) -> bool:
        now = self._now()
        last = self._last_flush or now
        return (now - last).total_seconds() >= self.settings.flush_interval_s

    def _flush_or_keep(self) -> None:
        try:
            self.flush()
        except LakeError as exc:
            # keep the buffer: the next flush (or the one at stop) tries again
            log.error("futures collector: flush failed, %d bars kept: %s", self.buffered, exc)

    def flush(self) -> int:
        """Write buffered bars (one idempotent commit) and pending gap rows; return bars written.

        On a lake error the buffer is kept and the error raised.
        """
        self._last_flush = self._now()
        written = 0
        if self._buffer:
            rows = pl.concat(self._buffer, how="vertical_relaxed")
            self.lake.append(BARS_TABLE, rows, txn_id=_txn_id(rows))
            self._buffer.clear()
            written = rows.height
            self.report.rows_written += written
        if self._dirty_gaps:
            self.lake.upsert(GAPS_TABLE, list(self._dirty_gaps.values()))
            self._dirty_gaps.clear()
        self.report.flushes += 1
        return written

    def _record_gap(self, symbol: str, start: datetime, end: datetime | None, reason: str) -> None:
        row = gap_row(symbol, start, end, reason)
        self._dirty_gaps[(symbol, start)] = row
        self.report.gaps = [
            g for g in self.report.gaps if (g[GAP_SYMBOL], g[GAP_START]) != (symbol, start)
        ]
        self.report.gaps.append(row)

    # --- connection ------------------------------------------------------------------------
    def _on_event(self, event: BrokerEvent) -> None:
        if isinstance(event, ConnectionEvent) and not event.connected:
            self._mark_disconnected(event.reason or "connection lost")

    def _mark_disconnected(self, reason: str) -> None:
        # No broker call here: this runs inside the broker's event dispatch, and a
        # disconnected broker cannot tell the time anyway. The drop is dated from the
        # last broker time seen plus the wall time since (never later than the drop).
        if self._disconnected_at is not None:
            return
        self._disconnected_at = self._estimated_now()
        self._disconnect_reason = reason
        log.warning("futures collector: disconnected at %s: %s", self._disconnected_at, reason)

    def _reconnect(self) -> None:
        """Flush, record open gaps, reconnect with backoff, catch up to the drop, close the gaps."""
        if self._disconnected_at is None:
            self._mark_disconnected("broker reports not connected")
        assert self._disconnected_at is not None
        gap_start = _floor(self._disconnected_at, self.settings.bar_seconds)
        reason = f"disconnected: {self._disconnect_reason}"
        for symbol in self._feeds:
            self._record_gap(symbol, gap_start, None, reason)
        self._flush_or_keep()  # what was polled before the drop is safe even if we die now
        delays = self.settings.reconnect_delays_s
        attempt = 0
        while not self.stopping:
            self._wait(delays[min(attempt, len(delays) - 1)])
            if self.stopping:
                return
            attempt += 1
            try:
                self.broker.connect()
            except (BrokerError, OSError, TimeoutError) as exc:
                log.warning("futures collector: reconnect attempt %d failed: %s", attempt, exc)
                continue
            if self.broker.is_connected:
                break
        if self.stopping:
            return
        back = _ceil(self._now(), self.settings.bar_seconds)
        self._disconnected_at = None
        self.report.reconnects += 1
        log.info("futures collector: reconnected at %s after %d attempt(s)", back, attempt)
        for feed in self._feeds.values():
            try:
                if feed.is_future:
                    feed.contract = self._resolve(feed.symbol)
                # the seconds before the drop that were never polled are real bars: keep them
                self._fetch(feed, gap_start)
            except _DISCONNECTS as exc:
                self._mark_disconnected(f"{type(exc).__name__}: {exc}")
                return
            except BrokerError as exc:
                log.warning("futures collector: catching up %s failed: %s", feed.symbol, exc)
            feed.cursor = max(feed.cursor, back)
            self._record_gap(feed.symbol, gap_start, back, reason)
        self._flush_or_keep()

    # --- time --------------------------------------------------------------------------------
    def _now(self) -> datetime:
        """The broker's time; while it cannot answer, the estimate from the last answer."""
        try:
            now = self.broker.now()
        except _NO_TIME:
            if self._last_now is None:
                raise
            return self._estimated_now()
        self._last_now = (now, time.monotonic())
        return now

    def _estimated_now(self) -> datetime:
        if self._last_now is None:
            return self.broker.now()
        seen, at = self._last_now
        return seen + timedelta(seconds=time.monotonic() - at)

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            self.broker.wait(seconds)
        except _DISCONNECTS:
            # a broker that cannot wait while disconnected: let the wall clock pass instead
            time.sleep(seconds)
            return
        if self._pace is not None:
            self._pace(seconds)

    def _wait_until(self, target: datetime) -> None:
        while not self.stopping and self._disconnected_at is None:
            left = (target - self._now()).total_seconds()
            if left <= 0:
                return
            self._wait(min(left, self.settings.step_s))
