"""``MarketDataSlotManager``: stream the legs nearest an exit trigger, snapshot the rest.

IB allows a fixed number of concurrent streaming lines (error 101 beyond).
The manager keeps ``line_budget - reserved_lines`` of them for option legs
(the reserve is for futures and index streams) and, every cycle:

* ``rebalance(now)`` ranks the tracked strategies by their distance to an
  exit trigger (``tradelib.marketdata.priority``), streams the legs of the
  most urgent ones within the budget (a strategy's legs stream all or none)
  and snapshots the rest. It unstreams the demoted before streaming the
  promoted and checks the broker's own count first, so the budget is never
  exceeded, not even for a moment;
* ``refresh(now)`` snapshots every leg whose quote is older than its tier's
  refresh interval (streamed legs are kept fresh by the broker's quote
  events, and polled with ``latest()`` only when no event came) and returns
  the quotes it got.

``can_admit(strategy, now)`` answers, as a value, whether one more strategy
can be watched: it can when its legs get lines, or when snapshotting them
(as near-trigger, the worst case) keeps the snapshot load within
``market_data.snapshot_capacity_per_min``; it never can when it has more legs
than there are option lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from tradelib.broker.port import Broker, BrokerEvent, QuoteEvent
from tradelib.config import TradingConfig
from tradelib.domain import Contract, Quote, Strategy
from tradelib.domain.time import NEW_YORK, ensure_utc
from tradelib.errors import MarketDataLineLimitError
from tradelib.marketdata.priority import (
    SlotPolicy,
    SlotTier,
    TriggerDistance,
    plan_streams,
    rank,
    snapshot_load_per_min,
    trigger_distance,
)


class SlotMode(StrEnum):
    STREAM = "stream"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a new strategy can be watched, how, and why (a value, never an exception)."""

    admitted: bool
    mode: SlotMode | None
    reason: str
    lines_needed: int
    lines_free: int
    snapshot_load_per_min: float
    snapshot_capacity_per_min: float

    def __bool__(self) -> bool:
        return self.admitted


@dataclass(frozen=True, slots=True)
class RebalanceResult:
    """What one rebalance did."""

    ts: datetime
    streaming: tuple[str, ...]  # strategy ids whose legs stream
    promoted: tuple[str, ...]
    demoted: tuple[str, ...]
    lines_in_use: int
    line_errors: int  # budget refusals met (0 unless something else took lines)


@dataclass(frozen=True, slots=True)
class SlotUsage:
    """Line and snapshot use now (for the monitoring dashboard)."""

    lines_in_use: int
    option_lines: int
    streaming_strategies: int
    snapshot_strategies: int
    snapshot_load_per_min: float
    snapshot_capacity_per_min: float
    tiers: Mapping[str, int] = field(default_factory=dict)  # tier -> strategies


class MarketDataSlotManager:
    """Hybrid streaming/snapshot market data for the tracked strategies (see module doc)."""

    def __init__(self, broker: Broker, policy: SlotPolicy) -> None:
        self.broker = broker
        self.policy = policy
        self._strategies: dict[str, Strategy] = {}
        self._keys: dict[str, frozenset[str]] = {}  # strategy id -> leg keys
        self._contracts: dict[str, Contract] = {}  # leg key -> contract
        self._lines: dict[str, Contract] = {}  # leg key -> contract we stream
        self._streaming: list[str] = []  # strategy ids streaming, rank order
        self._tiers: dict[str, SlotTier] = {}
        self._max_profit: dict[str, float] = {}  # strategy id -> max profit per share per unit
        self._quotes: dict[str, Quote] = {}
        self._quoted_at: dict[str, datetime] = {}
        self.line_errors = 0
        self.snapshots_taken = 0
        self._unsubscribe: Callable[[], None] | None = broker.events.subscribe(self._on_event)

    @classmethod
    def from_config(cls, cfg: TradingConfig, broker: Broker) -> MarketDataSlotManager:
        """A manager whose option lines are the smaller of the config's and the broker's budget
        less the reserve."""
        policy = SlotPolicy.from_config(cfg)
        reserve = cfg.market_data.reserved_lines
        lines = max(min(policy.option_lines, broker.line_budget - reserve), 0)
        return cls(broker, _with_lines(policy, lines))

    # --- what is watched ----------------------------------------------------------------------
    def track(self, strategies: Iterable[Strategy]) -> None:
        """Watch exactly ``strategies`` (replacing the previous set); lines move at the next
        ``rebalance``."""
        self._strategies = {s.strategy_id: s for s in strategies}
        self._keys = {
            sid: frozenset(leg.contract.key for leg in s.legs)
            for sid, s in self._strategies.items()
        }
        self._contracts = {
            leg.contract.key: leg.contract for s in self._strategies.values() for leg in s.legs
        }
        self._tiers = {sid: t for sid, t in self._tiers.items() if sid in self._strategies}
        # The payoff profile does not change while a strategy is watched: work it out once.
        self._max_profit = {sid: s.profile.max_profit for sid, s in self._strategies.items()}

    @property
    def tracked(self) -> tuple[str, ...]:
        return tuple(sorted(self._strategies))

    @property
    def streaming_strategies(self) -> tuple[str, ...]:
        return tuple(self._streaming)

    def legs_of(self, strategy_id: str) -> frozenset[str]:
        """Contract keys of a tracked strategy's legs."""
        return self._keys.get(strategy_id, frozenset())

    def tier_of(self, strategy_id: str) -> SlotTier:
        """The strategy's tier at the last rebalance (NORMAL before the first)."""
        return self._tiers.get(strategy_id, SlotTier.NORMAL)

    def quote(self, contract: Contract) -> Quote | None:
        """The latest quote the manager holds for ``contract``."""
        return self._quotes.get(contract.key)

    def quoted_at(self, key: str) -> datetime | None:
        return self._quoted_at.get(key)

    # --- priorities and lines --------------------------------------------------------------------
    def priorities(self, now: datetime) -> list[TriggerDistance]:
        """Every tracked strategy scored from the quotes held, most urgent first."""
        today = ensure_utc(now, "now").astimezone(NEW_YORK).date()
        return rank(
            [
                trigger_distance(s, self._quotes, today, self.policy, self._max_profit[sid])
                for sid, s in self._strategies.items()
            ]
        )

    def rebalance(self, now: datetime) -> RebalanceResult:
        """Re-pick which strategies stream; never more lines than the budget at any moment."""
        ranked = self.priorities(now)
        self._tiers = {d.strategy_id: d.tier for d in ranked}
        chosen, wanted = plan_streams(
            [(d.strategy_id, self._keys[d.strategy_id]) for d in ranked], self.policy.option_lines
        )
        before = set(self._streaming)
        # Release first: lines freed by the demoted are what the promoted will use.
        drop = [self._lines[k] for k in sorted(set(self._lines) - wanted)]
        if drop:
            self.broker.unstream(drop)
            for c in drop:
                self._lines.pop(c.key, None)
        streaming: list[str] = []
        errors = 0
        for sid in chosen:
            new = sorted(self._keys[sid] - set(self._lines))
            if new and not self._room_for(len(new)):
                continue
            try:
                if new:
                    self.broker.stream([self._contracts[k] for k in new])
            except MarketDataLineLimitError:
                errors += 1  # something else took lines: this strategy stays on snapshots
                continue
            for k in new:
                self._lines[k] = self._contracts[k]
            streaming.append(sid)
        # Lines of strategies that no longer fit stay released (a kept strategy may share them).
        keep = set().union(*(self._keys[s] for s in streaming)) if streaming else set()
        extra = [self._lines[k] for k in sorted(set(self._lines) - keep)]
        if extra:
            self.broker.unstream(extra)
            for c in extra:
                self._lines.pop(c.key, None)
        self._streaming = streaming
        self.line_errors += errors
        after = set(streaming)
        return RebalanceResult(
            ts=ensure_utc(now, "now"),
            streaming=tuple(streaming),
            promoted=tuple(sorted(after - before)),
            demoted=tuple(sorted(before - after)),
            lines_in_use=len(self._lines),
            line_errors=errors,
        )

    def _room_for(self, n: int) -> bool:
        """True when ``n`` more lines fit both our share and the broker's whole budget."""
        if len(self._lines) + n > self.policy.option_lines:
            return False
        return len(self.broker.streaming()) + n <= self.broker.line_budget

    def release(self) -> None:
        """Stop every stream this manager opened and stop listening to quote events."""
        if self._lines:
            self.broker.unstream(list(self._lines.values()))
            self._lines.clear()
        self._streaming = []
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- quotes ------------------------------------------------------------------------------------
    def _on_event(self, event: BrokerEvent) -> None:
        if isinstance(event, QuoteEvent):
            key = event.quote.contract.key
            if key in self._lines:
                self._store(key, event.quote)

    def _store(self, key: str, quote: Quote, at: datetime | None = None) -> None:
        self._quotes[key] = quote
        # A snapshot is as fresh as the moment we asked for it, whatever stamp it carries.
        self._quoted_at[key] = quote.ts if at is None else min(quote.ts, at)

    def intervals(self) -> dict[str, float]:
        """Refresh interval per tracked leg key: the shortest among the strategies holding it."""
        out: dict[str, float] = {}
        for sid, keys in self._keys.items():
            seconds = self.policy.interval(self.tier_of(sid))
            for k in keys:
                out[k] = min(out.get(k, seconds), seconds)
        return out

    def _due(self, now: datetime, lookahead_s: float) -> list[str]:
        now = ensure_utc(now, "now")
        ahead = now + timedelta(seconds=lookahead_s)
        due = []
        for key, seconds in sorted(self.intervals().items()):
            last = self._quoted_at.get(key)
            # A live stream keeps quoting between cycles: only look ahead for snapshots.
            horizon = now if key in self._lines else ahead
            if last is None or last + timedelta(seconds=seconds) <= horizon:
                due.append(key)
        return due

    def due_snapshots(self, now: datetime, lookahead_s: float = 0.0) -> list[Contract]:
        """Legs to snapshot now: not streaming and older than their interval by ``now +
        lookahead_s`` (pass the cycle length so no quote ages past its interval before the
        next cycle)."""
        return [self._contracts[k] for k in self._due(now, lookahead_s) if k not in self._lines]

    def refresh(self, now: datetime, lookahead_s: float = 0.0) -> dict[str, Quote]:
        """Snapshot what is due (and poll streams that sent nothing); return the new quotes."""
        now = ensure_utc(now, "now")
        got: dict[str, Quote] = {}
        due = self._due(now, lookahead_s)
        for key in (k for k in due if k in self._lines):
            q = self.broker.latest(self._lines[key])
            if q is not None:
                self._store(key, q, now)
                got[key] = q
        # A stream that never answered is snapshotted like any other leg.
        wanted = [self._contracts[k] for k in due if k not in got]
        if wanted:
            for q in self.broker.snapshot(wanted):
                self._store(q.contract.key, q, now)
                got[q.contract.key] = q
            self.snapshots_taken += len(wanted)
        return got

    # --- load and admission ---------------------------------------------------------------------
    def _snapshot_intervals(
        self, streaming_keys: set[str], extra: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        intervals = {k: s for k, s in self.intervals().items() if k not in streaming_keys}
        for k, s in (extra or {}).items():
            if k not in streaming_keys:
                intervals[k] = min(intervals.get(k, s), s)
        return intervals

    def usage(self) -> SlotUsage:
        """Lines in use and the snapshot load at the current tiers."""
        tiers: dict[str, int] = {}
        for sid in self._strategies:
            t = self.tier_of(sid).value
            tiers[t] = tiers.get(t, 0) + 1
        load = snapshot_load_per_min(self._snapshot_intervals(set(self._lines)))
        return SlotUsage(
            lines_in_use=len(self._lines),
            option_lines=self.policy.option_lines,
            streaming_strategies=len(self._streaming),
            snapshot_strategies=len(self._strategies) - len(self._streaming),
            snapshot_load_per_min=load,
            snapshot_capacity_per_min=self.policy.snapshot_capacity_per_min,
            tiers=tiers,
        )

    def can_admit(self, strategy: Strategy, now: datetime, *, planned: bool = False) -> Admission:
        """Whether ``strategy`` can be watched too (see module doc); the reason is a value.

        ``planned``: judge against the lines a rebalance of the tracked strategies would
        hold (for a process that watches nothing itself, like the entry job), not the
        lines this manager streams now.
        """
        held = set(self._lines)
        if planned:
            ranked = self.priorities(now)
            _, held = plan_streams(
                [(d.strategy_id, self._keys[d.strategy_id]) for d in ranked],
                self.policy.option_lines,
            )
        keys = frozenset(leg.contract.key for leg in strategy.legs)
        needed = keys - held
        free = self.policy.option_lines - len(held)
        capacity = self.policy.snapshot_capacity_per_min
        if len(keys) > self.policy.option_lines:
            return Admission(
                False,
                None,
                f"{strategy.strategy_id} has {len(keys)} legs but only "
                f"{self.policy.option_lines} streaming lines exist for options",
                len(needed),
                free,
                0.0,
                capacity,
            )
        if len(needed) <= free:
            load = snapshot_load_per_min(self._snapshot_intervals(held))
            return Admission(
                True,
                SlotMode.STREAM,
                f"{len(needed)} free line(s) of {free}",
                len(needed),
                free,
                load,
                capacity,
            )
        # No free line: until it ranks high enough to stream, it is snapshotted, and a new
        # position is watched as if near a trigger (the worst case for the load).
        near = self.policy.interval(SlotTier.NEAR)
        load = snapshot_load_per_min(self._snapshot_intervals(held, dict.fromkeys(keys, near)))
        if load > capacity:
            return Admission(
                False,
                None,
                f"no free streaming line ({len(held)} of {self.policy.option_lines} in use) "
                f"and snapshotting its {len(keys)} legs every {near:g}s would raise the snapshot "
                f"load to {load:.0f}/min, over the capacity of {capacity:.0f}/min",
                len(needed),
                free,
                load,
                capacity,
            )
        return Admission(
            True,
            SlotMode.SNAPSHOT,
            f"no free streaming line; snapshotted every {near:g}s "
            f"(load {load:.0f}/min of {capacity:.0f}/min)",
            len(needed),
            free,
            load,
            capacity,
        )


def _with_lines(policy: SlotPolicy, lines: int) -> SlotPolicy:
    return replace(policy, option_lines=lines)
