"""What every job runs with, and the one way a job is opened.

Every job is ``run_<job>(ctx, ...)`` over a ``JobContext``: the config, the
lake, a connected broker and the market calendar. Time is the broker's
(``ctx.now()``), so the same call runs at wall-clock time against IB, at
simulated time in the demo, and day after day in a backtest.

The scheduled notebooks call ``<job>_job(config_path, lake_uri, ...)``, which
loads the config, opens the lake and the configured broker with
``job_context`` and runs the job once; drivers that already hold a broker and a
lake (the demo, the backtest, tests) build a ``JobContext`` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, TypeVar

from tradelib import alerts
from tradelib.broker.port import Broker
from tradelib.config import TradingConfig, load_config
from tradelib.domain.time import NEW_YORK, ensure_utc
from tradelib.errors import TradelibError
from tradelib.lake import Lake
from tradelib.lake.workspace import job_lake
from tradelib.markethours import MarketHours

if TYPE_CHECKING:
    from tradelib.backtest.tape import TapeEntry

R = TypeVar("R")
log = logging.getLogger(__name__)


@dataclass(slots=True)
class LakeContext:
    """The config, the lake and the time: enough for the jobs that trade nothing (variance)."""

    cfg: TradingConfig
    lake: Lake
    clock: Callable[[], datetime]
    _hours: MarketHours | None = field(default=None, kw_only=True, repr=False)

    @classmethod
    def at_time(cls, cfg: TradingConfig, lake: Lake, when: datetime) -> LakeContext:
        """A context whose clock stands at ``when`` (a scheduled run's time, a replayed day)."""
        fixed = ensure_utc(when, "when")
        return cls(cfg, lake, lambda: fixed)

    @property
    def hours(self) -> MarketHours:
        """The exchange calendar of ``scheduler.calendar`` (built once per context)."""
        if self._hours is None:
            self._hours = MarketHours(self.cfg.scheduler.calendar)
        return self._hours

    def now(self) -> datetime:
        """The context's time: the broker's when there is one (simulated or wall clock)."""
        return self.clock()

    def at(self, when: datetime | None) -> datetime:
        """``when`` as UTC, or the context's time when None."""
        return self.now() if when is None else ensure_utc(when, "at")


@dataclass(slots=True)
class JobContext(LakeContext):
    """A ``LakeContext`` with a connected broker, whose time is the broker's."""

    broker: Broker = field(kw_only=True)

    @classmethod
    def of(
        cls,
        broker: Broker,
        lake: Lake,
        cfg: TradingConfig | None = None,
        hours: MarketHours | None = None,
    ) -> JobContext:
        """A context over a broker and lake already open (the default config when none given)."""
        return cls(cfg or TradingConfig(), lake, broker.now, _hours=hours, broker=broker)


@contextmanager
def job_context(
    cfg: TradingConfig,
    *,
    lake: Lake | None = None,
    lake_uri: str = "",
    advance_to: datetime | None = None,
) -> Iterator[JobContext]:
    """Open the lake and the configured broker for one job run; disconnect afterwards.

    ``advance_to`` moves a simulated market forward first (drivers such as the
    demo use it). Alerts go to the configured channels and the ``alerts`` table.
    """
    from tradelib.broker.factory import open_broker  # the broker stack loads only for a job

    store = lake or job_lake(cfg, lake_uri)
    alerts.configure(cfg, store)
    tape = tape_sink(store) if cfg.simulation.record_tape else None
    with open_broker(cfg, advance_to=advance_to, tape=tape) as broker:
        yield JobContext.of(broker, store, cfg)


def tape_sink(lake: Lake, day: date | None = None) -> Callable[[list[TapeEntry]], None]:
    """Where a simulated session's market answers go: ``lake``'s tape, for ``day``.

    ``day`` None: the New York date of the session's last answer (a job's own day).
    """
    from tradelib.backtest.tape import tape_frame
    from tradelib.stores.replay import write_tape

    def sink(entries: list[TapeEntry]) -> None:
        if len(entries) <= 1:  # the header alone: the market was never asked anything
            return
        when = day or max(e.ts for e in entries).astimezone(NEW_YORK).date()
        try:
            write_tape(lake, when, tape_frame(entries))
        except (TradelibError, OSError) as exc:  # the job's work is done and saved: say it
            log.warning(
                "market tape of %s not recorded (the day cannot be replayed): %s", when, exc
            )

    return sink


def run_once(
    job: Callable[[JobContext], R],
    cfg: TradingConfig,
    *,
    lake: Lake | None = None,
    lake_uri: str = "",
    advance_to: datetime | None = None,
) -> R:
    """Open a context for ``cfg``, run ``job`` in it once and close it."""
    with job_context(cfg, lake=lake, lake_uri=lake_uri, advance_to=advance_to) as ctx:
        return job(ctx)


def load_job_config(config_path: str = "") -> TradingConfig:
    """The notebook's config: ``config_path``, else $TRADELIB_CONFIG or the workspace file."""
    return load_config(config_path or None)


def parse_now(now: str = "") -> datetime:
    """An ISO-8601 time (a naive one is taken as UTC), or the current UTC time when empty."""
    if not now.strip():
        return datetime.now(UTC)
    ts = datetime.fromisoformat(now.strip())
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
