"""`tradelib collect-futures`: the long-running futures collector (one instance at a time).

In ``ib.mode: sim`` it collects from an embedded simulated market that starts
at the wall-clock time (or ``--sim-start``) and, unless ``--fast``, follows the
wall clock; otherwise it connects to IB with the ``futures`` client id. cron
keeps it alive: a second start while one runs exits at once (lock held).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradelib.cli.params import LakeOption, finite

if TYPE_CHECKING:
    from tradelib.broker.port import Broker
    from tradelib.config import TradingConfig
    from tradelib.lake import Lake

LOCK_NAME = "futures_collector.lock"
# the market calendars and the simulated market cover these years
MIN_TIME = datetime(1990, 1, 1)
MAX_TIME = datetime(2100, 1, 1)


def _parse_time(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date-time", param_hint=option) from None
    if not MIN_TIME <= value.replace(tzinfo=None) <= MAX_TIME:
        raise typer.BadParameter(
            f"{text!r} is outside {MIN_TIME:%Y} to {MAX_TIME:%Y}", param_hint=option
        )
    # a bare time is taken as UTC: the collector works in UTC throughout
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_time(option: str) -> Callable[[str | None], str | None]:
    """Return a callback that checks an ISO time at parse time (the value stays text)."""

    def check(value: str | None) -> str | None:
        if value is not None:
            _parse_time(value, option)
        return value

    return check


def collect_futures(
    config: Annotated[
        Path | None, typer.Option(help="Config file (default: config/trading_config.yaml).")
    ] = None,
    lake: LakeOption = None,
    once: Annotated[bool, typer.Option("--once", help="One poll and flush, then exit.")] = False,
    until: Annotated[
        str | None,
        typer.Option(
            help="Stop at this broker time (ISO; naive = UTC).", callback=_check_time("--until")
        ),
    ] = None,
    minutes: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many minutes of broker time.",
            callback=finite(0, 1_000_000, low_open=True),
        ),
    ] = None,
    poll_seconds: Annotated[
        float,
        typer.Option(
            help="Seconds between bar requests (IB pacing: >= 30 for 3 roots).",
            callback=finite(0, 3600, low_open=True),
        ),
    ] = 30.0,
    lock_file: Annotated[
        Path | None,
        typer.Option(help=f"Single-instance lock (default: <storage.runs_dir>/{LOCK_NAME})."),
    ] = None,
    sim_start: Annotated[
        str | None,
        typer.Option(
            help="Sim mode: simulated start time (default: now).",
            callback=_check_time("--sim-start"),
        ),
    ] = None,
    fast: Annotated[
        bool, typer.Option("--fast", help="Sim mode: run simulated time as fast as possible.")
    ] = False,
) -> None:
    """Collect front-month ES/NQ/RTY and their ETFs as 1-s bars into the lake."""
    import time

    from tradelib.config import load_config, workspace_root
    from tradelib.errors import CollectorAlreadyRunningError
    from tradelib.futures.collector import FuturesCollector, single_instance
    from tradelib.secrets import install_log_masking

    install_log_masking()
    cfg = load_config(config)
    root = workspace_root()
    target = _target_lake(cfg, lake, root)
    sim = cfg.ib.mode == "sim"
    _check_sim_options(sim, fast=fast, sim_start=sim_start, bounded=bool(once or until or minutes))
    lock = lock_file or cfg.storage.resolved_runs_dir(root) / LOCK_NAME
    stop_at = _parse_time(until, "--until") if until else None

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(single_instance(lock))
        except CollectorAlreadyRunningError as exc:
            # the normal case under cron's every-minute keep-alive: not an error
            typer.echo(f"futures collector: {exc.message}")
            raise typer.Exit(0) from None
        broker = stack.enter_context(_broker(cfg, sim, sim_start))
        if minutes is not None:
            later = broker.now() + timedelta(minutes=minutes)
            stop_at = later if stop_at is None else min(stop_at, later)
        collector = FuturesCollector.from_config(
            cfg,
            broker,
            target,
            pace=time.sleep if sim and not fast else None,
            poll_interval_s=poll_seconds,
        )
        with collector.stop_on_signals():
            report = collector.run(until=stop_at, cycles=1 if once else None)
    for line in report.lines():
        typer.echo(line)


def _target_lake(cfg: TradingConfig, lake: str | None, root: Path) -> Lake:
    """The lake to write: ``--lake``, else the configured storage."""
    from tradelib.lake import Lake

    if lake:
        return Lake(lake)
    return Lake(
        cfg.storage.resolved_uri(root),
        storage_options=cfg.storage.storage_options(),
        commit_retries=cfg.storage.commit_retries,
        expected_writers=cfg.storage.expected_writers,
    )


def _check_sim_options(sim: bool, *, fast: bool, sim_start: str | None, bounded: bool) -> None:
    """Refuse sim-only options outside sim mode, and a --fast run with no end."""
    if not sim and (fast or sim_start):
        raise typer.BadParameter("--fast and --sim-start apply to ib.mode: sim only")
    if sim and fast and not bounded:
        raise typer.BadParameter(
            "with --fast the simulated market never waits: give --until or --minutes"
        )


def _broker(
    cfg: TradingConfig, sim: bool, sim_start: str | None
) -> contextlib.AbstractContextManager[Broker]:
    """The connected broker to collect from: an embedded simulated market, or IB."""
    from tradelib.broker.factory import open_broker
    from tradelib.broker.sim import SimBroker
    from tradelib.markethours import MarketHours
    from tradelib.sim import SimMarketConfig, SimulatedMarket

    if not sim:
        return open_broker(cfg, role="futures")
    start = _parse_time(sim_start, "--sim-start") if sim_start else datetime.now(UTC)
    hours = MarketHours(cfg.scheduler.calendar)
    market = SimulatedMarket(SimMarketConfig(seed=cfg.simulation.seed, start=start), hours)
    return _connected(SimBroker(market))


@contextlib.contextmanager
def _connected(broker: Broker) -> Iterator[Broker]:
    """Connect ``broker`` for the block (the sim twin of ``open_broker``)."""
    broker.connect()
    try:
        yield broker
    finally:
        broker.disconnect()
