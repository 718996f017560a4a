"""Run a backtest: the real jobs, day by day, in memory; results written once per run.

``run_backtest`` builds a ``SimBroker`` over the market source, a
``MemoryLake`` for everything the jobs read and write, and drives the trading
days through ``tradelib.backtest.engine`` (the loop the demo uses), checking
the book invariants after every day. At the end the trade list, the daily
equity and the run record (config and its hash, code version, source, seed,
range, wall time, statistics) go to the results lake in one write per table,
keyed by the run id: a run id already stored is refused, never mixed.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tradelib import alerts
from tradelib.backtest.engine import DayResult, day_slots, run_day
from tradelib.backtest.source import MarketSource
from tradelib.broker.sim import SimBroker
from tradelib.config import TradingConfig
from tradelib.domain import Contract, order_ref_prefix
from tradelib.domain.pnl import realized_pnl
from tradelib.domain.time import NEW_YORK
from tradelib.errors import BacktestError
from tradelib.jobs.context import JobContext
from tradelib.jobs.portfolio import BENCHMARK, DAY_BAR_S
from tradelib.lake import Lake, TableName
from tradelib.lake.memory import MemoryLake
from tradelib.markethours import MarketHours
from tradelib.sim import SimMarketConfig, SimulatedMarket

Progress = Callable[[str], None]
RESULT_TABLES = (TableName.BACKTEST_RUNS, TableName.BACKTEST_TRADES, TableName.BACKTEST_EQUITY)


@dataclass(slots=True)
class BacktestResult:
    """What one run did: its record, trades and daily equity (also written to the lake)."""

    run_id: str
    source: str
    source_name: str
    modelled: bool
    seed: int | None
    cycles_per_day: int = 5
    days: list[DayResult] = field(default_factory=list)
    trades: pl.DataFrame = field(default_factory=pl.DataFrame)
    equity: pl.DataFrame = field(default_factory=pl.DataFrame)
    stats: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    written: dict[str, int] = field(default_factory=dict)

    @property
    def days_per_s(self) -> float:
        return len(self.days) / self.wall_s if self.wall_s > 0 else math.nan

    def lines(self) -> list[str]:
        """The headline: what ran, on what, and how it did."""
        first, last = (self.days[0].day, self.days[-1].day) if self.days else ("-", "-")
        quotes = "MODELLED option quotes" if self.modelled else "recorded option quotes"
        out = [
            f"backtest {self.run_id}: {self.source_name} ({quotes}), {len(self.days)} trading days "
            f"{first} .. {last}",
            f"  {len(self.days) / max(self.wall_s, 1e-9):.2f} days/s ({self.wall_s:.1f} s wall); "
            "book invariants held every day",
        ]
        s = self.stats
        if s:
            out.append(
                f"  return {_fmt(s['total_return'], '+.2%')} (annualised "
                f"{_fmt(s['annual_return'], '+.2%')}), vol {_fmt(s['annual_volatility'], '.2%')}, "
                f"Sharpe {_fmt(s['sharpe'], '.2f')}, Sortino {_fmt(s['sortino'], '.2f')}, "
                f"max drawdown {_fmt(s['max_drawdown'], '.2%')} over {s['max_drawdown_days']} days"
            )
            out.append(
                f"  trades closed {s['trades']} ({s['open_trades']} open at the end), win rate "
                f"{_fmt(s['win_rate'], '.0%')}, avg win {_fmt(s['avg_win'], ',.2f')}, "
                f"avg loss {_fmt(s['avg_loss'], ',.2f')}, "
                f"profit factor {_fmt(s['profit_factor'], '.2f')}"
            )
            out.append(f"  buy-and-hold {BENCHMARK}: {_fmt(s['benchmark_return'], '+.2%')}")
        return out


def _fmt(value: float | None, spec: str) -> str:
    """``value`` formatted, or a dash when there is none (no closed trade, no loss...)."""
    if value is None or not math.isfinite(value):
        return "-"
    return format(value, spec)


def code_version(root: Path | None = None) -> str:
    """The git commit of the code that ran (``unknown`` outside a checkout)."""
    where = root or Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def config_hash(cfg: TradingConfig) -> tuple[str, str]:
    """The config as stable JSON (no secrets: the account comes from the environment) and its hash."""
    text = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16], text


def sim_days(hours: MarketHours, end: date, count: int) -> list[date]:
    """The last ``count`` trading days up to ``end`` (or the trading day before it)."""
    if count < 1:
        raise BacktestError(problem=f"days must be >= 1, got {count}")
    last = hours.trading_day_on_or_before(end)
    days = hours.trading_days(last - timedelta(days=2 * count + 10), last)
    return days[-count:]


def _benchmark_closes(broker: SimBroker, days: list[date], hours: MarketHours) -> dict[date, float]:
    first_open, _ = hours.session_bounds(days[0])
    _, last_close = hours.session_bounds(days[-1])
    bars = broker.bars(
        Contract.stock(BENCHMARK), first_open - timedelta(days=1), last_close, DAY_BAR_S
    )
    if bars.height == 0:
        return {}
    stamped = bars.with_columns(
        pl.col("ts").dt.convert_time_zone(str(NEW_YORK)).dt.date().alias("day")
    )
    return dict(zip(stamped["day"].to_list(), stamped["close"].to_list(), strict=True))


@dataclass(frozen=True, slots=True)
class MarketPlan:
    """The market a run trades in and the trading days it covers."""

    market: MarketSource  # what SimBroker reads: simulated, modelled over history, recorded
    days: list[date]
    hours: MarketHours
    source: str
    name: str
    modelled: bool


def sim_market(cfg: TradingConfig, seed: int, days: int, end: date | None) -> MarketPlan:
    """The simulated market over the last ``days`` trading days up to ``end`` (default: yesterday)."""
    hours = MarketHours(cfg.scheduler.calendar)
    end_day = end or (datetime.now(UTC).astimezone(NEW_YORK).date() - timedelta(days=1))
    trading_days = sim_days(hours, end_day, days)
    first_open, _ = hours.session_bounds(trading_days[0])
    market = SimulatedMarket(
        SimMarketConfig(seed=seed, start=first_open - timedelta(minutes=5)), calendar=hours
    )
    return MarketPlan(market, trading_days, hours, "sim", f"simulated market (seed {seed})", True)


@dataclass(frozen=True, slots=True)
class HistoryLake:
    """Daily bars imported into ``lake``, read as of table ``version`` (None: the latest)."""

    lake: Lake
    version: int | None = None


History = Path | Lake | HistoryLake


def history_source(
    history: History, symbols: list[str], *, seed: int, start: date | None = None
) -> MarketSource:
    """Option quotes modelled over daily bars from a folder of files or the lake's import."""
    from tradelib.backtest.history.source import HistoricalSource, HistoryModel, calendar_for

    model = HistoryModel(seed=seed)
    if isinstance(history, Path):
        return HistoricalSource.from_dir(history, symbols, model=model, start=start)
    from tradelib.backtest.history_store import history_bars

    held = history if isinstance(history, HistoryLake) else HistoryLake(history)
    rough, rough_index = history_bars(held.lake, symbols, version=held.version)
    every = [*rough, rough_index]
    hours = calendar_for(min(b.first_day for b in every), max(b.last_day for b in every))
    bars, index = history_bars(held.lake, symbols, hours=hours, version=held.version)
    return HistoricalSource(bars, index, model=model, start=start, hours=hours)


def history_market(
    cfg: TradingConfig,
    directory: History,
    *,
    start: date | None,
    end: date | None,
    days: int | None,
    seed: int,
) -> MarketPlan:
    """Option quotes modelled over the daily bars and volatility index in ``directory``.

    ``directory`` is a folder of files or a lake holding them (``market_history``). Without ``start`` the run begins once the regime detector and the correlation
    lookback have their warm-up bars; ``days`` caps the run's length.
    """
    from tradelib.regime import EnhancedMarketRegimeDetector

    symbols = sorted({*cfg.strategies.underlyings, BENCHMARK})
    probe = history_source(directory, symbols, seed=seed)
    available = probe.trading_days()
    warmup = max(
        EnhancedMarketRegimeDetector.from_config(cfg).warmup,
        cfg.risk.correlation_lookback_days + 1,
    )
    if start is None:
        if len(available) <= warmup:
            raise BacktestError(
                problem=f"{probe.name}: {len(available)} trading days, the warm-up alone needs "
                f"{warmup} (data {available[0]}..{available[-1]})"
            )
        start = available[warmup]
    trading_days = probe.trading_days(start, end)  # DataRangeError names the data's range
    if days is not None:
        trading_days = trading_days[:days]
    if not trading_days:
        raise BacktestError(problem=f"no trading day in {start}..{end}")
    source = history_source(directory, symbols, seed=seed, start=trading_days[0])
    return MarketPlan(source, trading_days, source.hours, "history", source.name, True)


def run_backtest(
    cfg: TradingConfig,
    *,
    days: int | None = 252,
    end: date | None = None,
    start: date | None = None,
    seed: int | None = None,
    history: History | None = None,
    cycles_per_day: int = 5,
    run_id: str | None = None,
    results: Lake | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Backtest ``cfg`` day by day through the real jobs.

    The market is the simulated one (``days`` trading days ending on ``end``),
    or, with ``history`` (a folder of daily OHLC files and a volatility index, or
    a lake they were imported into), option quotes modelled over that history
    from ``start`` to ``end``.
    ``seed`` (default ``simulation.seed``) seeds the market, the model and the
    fills. ``results`` receives the run's tables (nothing is written when None);
    ``progress`` gets a line every 21 days (days done, days/s, equity).
    """
    started = time.perf_counter()
    seed = int(cfg.simulation.seed if seed is None else seed)
    cfg = cfg.model_copy(
        update={
            "simulation": cfg.simulation.model_copy(update={"seed": seed}),
            # a backtest never sends an alert: they are stored with the run's tables
            "alerts": cfg.alerts.model_copy(update={"enabled": False}),
        }
    )
    if history is None:
        plan = sim_market(cfg, seed, 252 if days is None else days, end)
    else:
        plan = history_market(cfg, history, start=start, end=end, days=days, seed=seed)
    trading_days, hours = plan.days, plan.hours
    run_id = (
        run_id or f"bt-{plan.source}-s{seed}-{trading_days[0]:%Y%m%d}-{trading_days[-1]:%Y%m%d}"
    )
    if results is not None and results.exists(TableName.BACKTEST_RUNS):
        held = results.read(TableName.BACKTEST_RUNS, filter=pl.col("run_id") == run_id).collect()
        if held.height:
            raise BacktestError(problem=f"run id {run_id!r} is already in {results.root}")
    broker = SimBroker.from_config(cfg, market=plan.market)
    broker.connect()
    lake = MemoryLake(run_id)
    ctx = JobContext.of(broker, lake, cfg, hours)
    previous_alerter = alerts.install(alerts.Alerter.from_config(cfg, lake))
    cash = broker.account().cash
    result = BacktestResult(run_id, plan.source, plan.name, plan.modelled, seed, cycles_per_day)
    try:
        for n, day in enumerate(trading_days, start=1):
            slots = day_slots(hours, day, monitoring_cycles=cycles_per_day)
            result.days.append(run_day(ctx, day, slots, starting_cash=cash))
            if progress is not None and (n % 21 == 0 or n == len(trading_days)):
                rate = n / max(time.perf_counter() - started, 1e-9)
                progress(
                    f"  {day}  day {n}/{len(trading_days)}  {rate:.2f} days/s  "
                    f"net liq {result.days[-1].net_liquidation:,.2f}"
                )
        closes = _benchmark_closes(broker, trading_days, hours)
    finally:
        alerts.install(previous_alerter)
        broker.disconnect()
    result.equity = equity_frame(run_id, result.days, closes, lake)
    result.trades = trade_frame(run_id, lake)
    result.stats = headline_stats(result.equity, result.trades)
    result.wall_s = time.perf_counter() - started
    if results is not None:
        result.written = write_results(results, result, cfg, trading_days, cycles_per_day)
    return result


def _regimes(lake: MemoryLake) -> dict[date, str | None]:
    frame = lake.frame(TableName.REGIME_READINGS)
    return dict(zip(frame["as_of"].to_list(), frame["regime"].to_list(), strict=True))


def equity_frame(
    run_id: str, days: list[DayResult], closes: dict[date, float], lake: MemoryLake
) -> pl.DataFrame:
    """One row per day: equity, drawdown from the running peak, margin use, regime."""
    regimes = _regimes(lake)
    rows: list[dict[str, Any]] = []
    peak = -math.inf
    open_by_day = _open_counts(lake, [d.day for d in days])
    for d in days:
        peak = max(peak, d.net_liquidation)
        rows.append(
            {
                "run_id": run_id,
                "day": d.day,
                "net_liquidation": d.net_liquidation,
                "cash": d.cash,
                "init_margin": d.init_margin,
                "margin_use": d.init_margin / d.net_liquidation if d.net_liquidation > 0 else 0.0,
                "drawdown": 1.0 - d.net_liquidation / peak if peak > 0 else 0.0,
                "day_pnl": d.day_pnl,
                "benchmark_close": closes.get(d.day),
                "regime": regimes.get(d.day),
                "open_strategies": open_by_day.get(d.day, 0),
                "entered": d.entered,
                "closed": d.closed,
            }
        )
    return pl.DataFrame(rows, schema=_schema(TableName.BACKTEST_EQUITY))


def _schema(table: TableName) -> pl.Schema:
    from tradelib.lake import TABLES

    return TABLES[table].polars_schema


def _open_counts(lake: MemoryLake, days: list[date]) -> dict[date, int]:
    s = lake.frame(TableName.STRATEGIES)
    out: dict[date, int] = {}
    for day in days:
        eod = datetime.combine(day, datetime.max.time(), tzinfo=NEW_YORK).astimezone(UTC)
        out[day] = s.filter(
            (pl.col("opened_at") <= eod)
            & (pl.col("closed_at").is_null() | (pl.col("closed_at") > eod))
        ).height
    return out


def trade_frame(run_id: str, lake: MemoryLake) -> pl.DataFrame:
    """Every strategy traded: entry, exit rule, realized P&L from its fills, its prediction."""
    strategies = lake.frame(TableName.STRATEGIES)
    predictions = lake.frame(TableName.PREDICTIONS)
    fills = lake.frame(TableName.EXECUTIONS)
    orders = lake.frame(TableName.ORDERS)
    pred = {r["strategy_id"]: r for r in predictions.iter_rows(named=True)}
    rows: list[dict[str, Any]] = []
    for s in strategies.iter_rows(named=True):
        sid = s["strategy_id"]
        prefix = order_ref_prefix(sid)
        own = fills.filter(pl.col("order_ref").str.starts_with(prefix))
        own_orders = orders.filter(pl.col("order_ref").str.starts_with(prefix))
        commissions = float(own["commission"].fill_null(0.0).sum()) if own.height else 0.0
        closed = s["status"] != "open"
        p = pred.get(sid, {})
        rows.append(
            {
                "run_id": run_id,
                "strategy_id": sid,
                "strategy_type": s["strategy_type"],
                "underlying": s["underlying"],
                "opened_at": s["opened_at"],
                "closed_at": s["closed_at"],
                "status": s["status"],
                "exit_rule": p.get("exit_rule") or s["close_reason"],
                "regime": p.get("regime"),
                "quantity": float(s["quantity"] or 0.0),
                "credit": s["credit"],
                "pnl": realized_pnl(own.iter_rows(named=True), {}, 100.0) if closed else None,
                "predicted_pnl": p.get("predicted_pnl"),
                "prob_profit": p.get("prob_profit"),
                "max_loss": p.get("max_loss"),
                "commissions": round(commissions, 2),
                "slippage": _slippage(own_orders),
            }
        )
    return pl.DataFrame(rows, schema=_schema(TableName.BACKTEST_TRADES))


def _slippage(orders: pl.DataFrame) -> float | None:
    """Dollars given up against the first limit of each walk (the mid it started at)."""
    total = 0.0
    seen = False
    for purpose, part in orders.group_by(pl.col("intent")):
        del purpose
        filled = part.filter(pl.col("filled_quantity") > 0)
        if filled.height == 0:
            continue
        first = part.sort("created_at")["limit_price"][0]
        for row in filled.iter_rows(named=True):
            if first is None or row["avg_fill_price"] is None:
                continue
            seen = True
            total += (
                (float(row["avg_fill_price"]) - float(first)) * float(row["filled_quantity"]) * 100
            )
    return round(total, 2) if seen else None


def headline_stats(equity: pl.DataFrame, trades: pl.DataFrame) -> dict[str, Any]:
    """The statistics a trader reads first (``tradelib.backtest.summary``)."""
    from tradelib.backtest.summary import headline

    return headline(equity, trades)


def write_results(
    lake: Lake,
    result: BacktestResult,
    cfg: TradingConfig,
    days: list[date],
    cycles_per_day: int,
) -> dict[str, int]:
    """The run's three tables, one write each (trades and equity first, the run row last)."""
    digest, text = config_hash(cfg)
    written = {
        str(TableName.BACKTEST_TRADES): lake.append(TableName.BACKTEST_TRADES, result.trades),
        str(TableName.BACKTEST_EQUITY): lake.append(TableName.BACKTEST_EQUITY, result.equity),
    }
    run_row = {
        "run_id": result.run_id,
        "created_at": datetime.now(UTC),
        "source": result.source,
        "source_name": result.source_name,
        "modelled": result.modelled,
        "seed": result.seed,
        "start": days[0],
        "end": days[-1],
        "days": len(days),
        "cycles_per_day": cycles_per_day,
        "config_hash": digest,
        "config_json": text,
        "code_version": code_version(),
        "wall_s": round(result.wall_s, 3),
        "stats_json": json.dumps(result.stats, sort_keys=True, default=str),
    }
    written[str(TableName.BACKTEST_RUNS)] = lake.append(TableName.BACKTEST_RUNS, [run_row])
    return written
