"""The demo: one simulated trading day on the embedded market, recorded in the lake.

It opens a put credit spread per underlying (short leg nearest the configured
target delta inside the DTE window), then snapshots the account and positions
every ``snapshot_every_min`` simulated minutes and each underlying's option
chain once, until the close. Every write is idempotent, so running the demo
again for the same day adds nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tradelib.broker import Broker
from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.domain import (
    Contract,
    Leg,
    OrderIntent,
    OrderPurpose,
    OrderStatus,
    Right,
    make_order_ref,
    net_prices,
)
from tradelib.jobs.snapshot import ChainWindow, record_option_chain, run_snapshot
from tradelib.lake import Lake
from tradelib.markethours import MarketHours
from tradelib.sim import SimMarketConfig, SimulatedMarket, default_start

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class OpenedSpread:
    underlying: str
    short_strike: float
    long_strike: float
    expiry: date
    credit: float
    status: OrderStatus


@dataclass(slots=True)
class DemoSummary:
    day: date
    lake_uri: str
    broker: str = "sim"
    opened: list[OpenedSpread] = field(default_factory=list)
    snapshots: int = 0
    position_rows: int = 0
    option_rows: dict[str, int] = field(default_factory=dict)
    net_liq_start: float = math.nan
    net_liq_end: float = math.nan
    futures_lines: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"simulated day {self.day} ({self.broker}) -> lake {self.lake_uri}",
            f"  account snapshots: {self.snapshots}   position rows: {self.position_rows}",
            "  option chain rows: "
            + ", ".join(f"{u} {n}" for u, n in sorted(self.option_rows.items())),
            f"  net liquidation: {self.net_liq_start:,.2f} -> {self.net_liq_end:,.2f}",
        ]
        for s in self.opened:
            out.append(
                f"  {s.underlying} put credit spread {s.short_strike:g}/{s.long_strike:g} "
                f"exp {s.expiry} credit {s.credit:.2f}: {s.status.value}"
            )
        out.extend(f"  {line.strip()}" for line in self.futures_lines)
        out.append(f"  finished in {self.elapsed_s:.1f}s")
        return out


def _demo_strategy_id(underlying: str, day: date) -> str:
    return f"demo-{underlying}-pcs-{day:%Y%m%d}"


def open_put_credit_spread(
    broker: Broker, cfg: TradingConfig, underlying: str, day: date
) -> OpenedSpread | None:
    """Sell a put spread: short leg nearest the target delta in the DTE window, at natural."""
    st = cfg.strategies
    info = broker.option_chain(underlying)
    expiries = [e for e in info.expiries if st.dte_min <= (e - day).days <= st.dte_max]
    if not expiries:
        return None
    expiry = expiries[0]
    (spot_q,) = broker.snapshot([Contract.stock(underlying)])
    spot = spot_q.mark
    strikes = [k for k in info.strikes_for(expiry) if 0.7 * spot <= k < spot]
    puts = broker.snapshot([Contract.option(underlying, expiry, k, Right.PUT) for k in strikes])
    with_delta = [q for q in puts if q.greeks is not None and math.isfinite(q.greeks.delta)]
    if not with_delta:
        return None
    short_q = min(with_delta, key=lambda q: abs(abs(q.greeks.delta) - st.target_delta))  # type: ignore[union-attr]
    short_strike = float(short_q.contract.strike or 0.0)
    width = float(st.wing_widths.get(underlying, 5))
    long_strike = max((k for k in strikes if k <= short_strike - width), default=None)
    if long_strike is None:
        return None
    long_q = next(q for q in puts if q.contract.strike == long_strike)
    legs = (Leg(short_q.contract, -1), Leg(long_q.contract, 1))
    _, natural, _ = net_prices(legs, {short_q.contract.key: short_q, long_q.contract.key: long_q})
    if natural >= 0:  # no credit to collect
        return None
    ref = make_order_ref(_demo_strategy_id(underlying, day), OrderPurpose.OPEN)
    intent = OrderIntent(
        ref,
        _demo_strategy_id(underlying, day),
        OrderPurpose.OPEN,
        legs,
        1,
        round(natural, 2),
        broker.now(),
    )
    state = broker.place_order(intent)
    for _ in range(30):
        if state.status.is_terminal:
            break
        broker.wait(2)
        state = broker.order(ref) or state
    return OpenedSpread(underlying, short_strike, long_strike, expiry, -natural, state.status)


def run_demo(
    cfg: TradingConfig,
    *,
    lake: Lake | None = None,
    day: date | None = None,
    snapshot_every_min: int = 30,
    progress: Progress = print,
    broker_kind: str = "sim",
) -> DemoSummary:
    """Run one simulated trading day and record it in the lake.

    ``broker_kind`` "ib" drives the same day through ib_async and the
    simulated TWS gateway instead of SimBroker directly.
    """
    started = time.perf_counter()
    hours = MarketHours(cfg.scheduler.calendar)
    start = default_start(day, hours) if day is not None else default_start(date.today(), hours)
    market = SimulatedMarket(SimMarketConfig(seed=cfg.simulation.seed, start=start), calendar=hours)
    with demo_broker(SimBroker.from_config(cfg, market=market), broker_kind, cfg) as broker:
        return _run_day(
            cfg,
            broker,
            lake or Lake.from_config(cfg),
            hours,
            start,
            snapshot_every_min,
            progress,
            started,
            broker_kind,
        )


@contextmanager
def demo_broker(sim: SimBroker, broker_kind: str, cfg: TradingConfig) -> Iterator[Broker]:
    """The simulated broker directly ("sim"), or through ib_async and the simulated gateway ("ib")."""
    if broker_kind == "sim":
        sim.connect()
        try:
            yield sim
        finally:
            sim.disconnect()
    elif broker_kind == "ib":
        from tradelib.gateway.embedded import embedded_ib_broker

        with embedded_ib_broker(sim, line_budget=cfg.market_data.line_budget) as ib:
            yield ib
    else:
        raise ValueError(f"broker must be 'sim' or 'ib', got {broker_kind!r}")


def _run_day(
    cfg: TradingConfig,
    broker: Broker,
    lake: Lake,
    hours: MarketHours,
    start: datetime,
    snapshot_every_min: int,
    progress: Progress,
    started: float,
    broker_kind: str,
) -> DemoSummary:
    session_day = start.date()
    _, close = hours.session_bounds(session_day)
    summary = DemoSummary(day=session_day, lake_uri=str(lake.root), broker=broker_kind)
    progress(
        f"demo: simulated trading day {session_day} (seed {cfg.simulation.seed}, broker {broker_kind})"
    )

    summary.net_liq_start = broker.account().net_liquidation
    for underlying in cfg.strategies.underlyings:
        opened = open_put_credit_spread(broker, cfg, underlying, session_day)
        if opened is not None:
            summary.opened.append(opened)
            progress(
                f"  opened {underlying} {opened.short_strike:g}/{opened.long_strike:g}P: {opened.status.value}"
            )

    chains_done = False
    step = timedelta(minutes=snapshot_every_min)
    while True:
        result = run_snapshot(broker, lake)
        summary.snapshots += 1
        summary.position_rows += result.positions_written
        if not chains_done and broker.now() >= start + timedelta(hours=2):
            for underlying in cfg.strategies.underlyings:
                summary.option_rows[underlying] = record_option_chain(
                    broker, lake, underlying, ChainWindow()
                )
            chains_done = True
        now = broker.now()
        progress(
            f"  {now:%H:%M} UTC  net liq {result.account.net_liquidation:,.2f}  positions {result.positions_written}"
        )
        if now + step > close:
            break
        broker.wait(step.total_seconds())
    if not chains_done:
        for underlying in cfg.strategies.underlyings:
            summary.option_rows[underlying] = record_option_chain(
                broker, lake, underlying, ChainWindow()
            )
    summary.net_liq_end = broker.account().net_liquidation
    from tradelib.demo.futures import run_futures_demo  # the collector's simulated week

    futures = run_futures_demo(cfg, lake, end_day=session_day, progress=progress)
    summary.futures_lines = futures.lines()
    summary.elapsed_s = time.perf_counter() - started
    return summary
