"""Keep a simulated account between processes.

Each job runs in its own papermill kernel, so the embedded simulated broker
must outlive a process the way a real broker does: its ledger, orders and
fills are saved to a state file, and the market is rebuilt from its config
and clock (the simulated market is a pure function of seed and time). The
file also carries the market's memo (each session's starting path state and
the finished daily bars), so the next job does not regenerate every second
since the account's first day before it can answer.

``sim_session`` holds an exclusive lock on the state file for the whole job,
so two jobs never interleave on one simulated account, and saves the state
even when the job fails (orders it placed exist at the "broker" regardless).
"""

from __future__ import annotations

import fcntl
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradelib.backtest.tape import RecordingSource, TapeEntry
from tradelib.broker.port import EventHub
from tradelib.broker.sim import SimBroker
from tradelib.domain import Contract
from tradelib.domain.time import ensure_utc
from tradelib.errors import BrokerError
from tradelib.markethours import NEW_YORK, MarketHours
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.sim.market import MarketMemo

if TYPE_CHECKING:
    from tradelib.backtest.source import MarketSource

TapeSink = Callable[[list[TapeEntry]], None]

_FORMAT = 1
# Attributes rebuilt on load rather than saved: the market (regenerated from
# config + clock), event subscribers (belong to the process) and live streams.
_TRANSIENT = {"market", "events", "_hours", "_connected", "_streams"}


class SimStateError(BrokerError):
    template = "simulated account state {path}: {problem}"


@dataclass(frozen=True, slots=True)
class SimState:
    market_config: SimMarketConfig
    market_now: datetime
    broker: dict[str, Any]
    format: int = _FORMAT
    # derived, never needed: a state saved before it existed loads without it
    market_memo: MarketMemo | None = None


def snapshot_state(broker: SimBroker) -> SimState:
    """Capture everything needed to rebuild ``broker`` in another process."""
    saved = {k: v for k, v in vars(broker).items() if k not in _TRANSIENT}
    market = broker.market
    saved["_resolved"] = _unexpired(saved.get("_resolved", {}), market.now())
    config = getattr(market, "config", None)  # the simulated market's, or a replayed tape's
    if not isinstance(config, SimMarketConfig):
        raise SimStateError(
            path="-", problem=f"{market.name} is not the simulated market: nothing to save"
        )
    memo = market.memo() if isinstance(market, SimulatedMarket) else None
    return SimState(config, market.now(), saved, market_memo=memo)


def _unexpired(resolved: dict[str, Contract], now: datetime) -> dict[str, Contract]:
    """The broker's resolved-contract cache without contracts expired before today.

    The cache gains every contract of every chain the entry job looks at (~1,500 a
    day): kept whole, a paper account's state file grew by ~45 MB a year and every
    job spent seconds pickling it. An expired contract is never traded again.
    """
    today = now.astimezone(NEW_YORK).date()
    return {k: c for k, c in resolved.items() if c.expiry is None or c.expiry >= today}


def restore_state(
    state: SimState, calendar: MarketHours | None = None, market: MarketSource | None = None
) -> SimBroker:
    """Rebuild a (disconnected) broker and its market from ``state``.

    ``market`` replaces the rebuilt simulated market (a replay's recorded tape);
    it is moved to the state's time.
    """
    if market is None:
        market = SimulatedMarket(state.market_config, calendar=calendar)
        memo = getattr(state, "market_memo", None)  # absent from states saved before it
        if memo is not None:
            market.adopt(memo)
    market.advance_to(state.market_now)
    broker = SimBroker.__new__(SimBroker)
    vars(broker).update(state.broker)
    broker.market = market
    broker.events = EventHub()
    broker._hours = market.hours
    broker._connected = False
    broker._streams = {}
    return broker


_CONTRACT_FIELDS = tuple(f.name for f in fields(Contract) if f.name != "_key")
_CONTRACT_DEFAULTS = {f.name: f.default for f in fields(Contract)}


def _contract(names: tuple[str, ...], values: tuple[Any, ...]) -> Contract:
    """Rebuild a saved contract as it was (it was validated when first built).

    By field name, so a state saved before a field was added loads with its
    default; the cached key is left to be worked out again, never read from disk.
    """
    rebuilt = object.__new__(Contract)
    given = dict(zip(names, values, strict=True))
    for name, default in _CONTRACT_DEFAULTS.items():
        value = given.get(name, default)
        if value is MISSING:
            raise ValueError(f"a saved contract has no {name}")
        object.__setattr__(rebuilt, name, value)
    object.__setattr__(rebuilt, "_key", "")
    return rebuilt


class _StatePickler(pickle.Pickler):
    """Pickles contracts as plain tuples of their fields.

    The broker's caches hold tens of thousands of contracts; pickle's default for
    a slotted dataclass asks ``dataclasses.fields`` twice per object, which was most
    of the time every job spent saving and loading the simulated account.
    """

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is Contract:
            return _contract, (_CONTRACT_FIELDS, tuple([getattr(obj, n) for n in _CONTRACT_FIELDS]))
        return NotImplemented


def save_sim_broker(broker: SimBroker, path: Path) -> None:
    """Write ``broker``'s state atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            _StatePickler(fh, protocol=pickle.HIGHEST_PROTOCOL).dump(snapshot_state(broker))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_sim_state(path: Path) -> SimState:
    """Read a state saved by :func:`save_sim_broker`."""
    try:
        with path.open("rb") as fh:
            state = pickle.load(fh)
    except FileNotFoundError:
        raise SimStateError(path=path, problem="no such file") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ImportError,
        TypeError,
        ValueError,
    ) as exc:
        raise SimStateError(
            path=path, problem=f"unreadable ({exc}); delete it to start a fresh account"
        ) from None
    if not isinstance(state, SimState) or state.format != _FORMAT:
        raise SimStateError(
            path=path, problem="written by an incompatible version; delete it to start afresh"
        )
    return state


def load_sim_broker(
    path: Path, calendar: MarketHours | None = None, market: MarketSource | None = None
) -> SimBroker:
    """Load a broker saved by :func:`save_sim_broker` (over ``market`` when given)."""
    return restore_state(load_sim_state(path), calendar, market)


@contextmanager
def sim_session(
    path: Path,
    new_broker: Any,
    *,
    advance_to: datetime | None = None,
    calendar: MarketHours | None = None,
    market: MarketSource | None = None,
    tape: TapeSink | None = None,
) -> Iterator[SimBroker]:
    """Load (or create with ``new_broker()``) the simulated account, lock it, yield it connected.

    ``advance_to`` moves the simulated market forward first, through
    ``broker.wait`` so working orders fill and expiries settle on the way.
    The state is saved when the block exits, also on error. ``market`` runs
    the account over another source (a replay's tape). ``tape`` receives every
    answer the market gave during the session (the advance included) once the
    state is saved, so a day can be replayed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            broker: SimBroker = (
                load_sim_broker(path, calendar, market) if path.exists() else new_broker()
            )
            recorder = None
            if tape is not None:
                recorder = RecordingSource(broker.market)
                broker.market = recorder
            try:
                if advance_to is not None:
                    target = ensure_utc(advance_to, "advance_to")
                    gap = (target - broker.now()).total_seconds()
                    if gap > 0:
                        broker.wait(gap)
                broker.connect()
                try:
                    yield broker
                finally:
                    broker.disconnect()
            finally:
                if recorder is not None:
                    broker.market = recorder.inner  # the state holds the market, never the wrapper
                save_sim_broker(broker, path)
            if recorder is not None and tape is not None:
                tape(list(recorder.entries.values()))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
