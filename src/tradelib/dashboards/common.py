"""Pieces the dashboards and research notebooks share: the lake to show, a read cache,
masked HTML tables and notices, and a simulated lake for notebooks run on their own.

Everything a dashboard prints goes through ``cell_text`` / ``frame_html`` /
``notice_html``, which mask account ids and registered secrets, so no panel
can leak an account id even if a table ever stored one unmasked.
"""

from __future__ import annotations

import functools
import html
import json
import math
import os
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal, TypeVar

import polars as pl
import pyarrow as pa

from tradelib.config import TradingConfig, load_config, workspace_root
from tradelib.lake import Lake
from tradelib.secrets import mask_all

T = TypeVar("T")

LAKE_ENV = (
    "TRADELIB_LAKE"  # a lake URI that overrides storage.lake_uri for dashboards and notebooks
)
REFRESH_ENV = "TRADELIB_DASHBOARD_REFRESH_S"  # overrides the monitoring refresh interval
DEFAULT_REFRESH_S = 30.0

Level = Literal["ok", "info", "warn", "error"]
LEVEL_COLORS: dict[str, str] = {
    "ok": "#1b7f3b",
    "info": "#4a6fa5",
    "warn": "#a15c00",
    "error": "#b00020",
}
NO_DATA = "no data yet"
WRAPPED_COLUMNS = frozenset({"reason", "error", "detail", "legs"})


# --- where the data is ----------------------------------------------------------------
def resolve_lake(
    lake_uri: str | None = None,
    cfg: TradingConfig | None = None,
    env: Mapping[str, str] | None = None,
) -> Lake:
    """Open the lake to show: ``lake_uri``, else $TRADELIB_LAKE, else ``storage.lake_uri``.

    A relative ``storage.lake_uri`` resolves against the workspace root, because
    Voila and JupyterLab run a notebook from its own folder.
    """
    environ = os.environ if env is None else env
    cfg = cfg or load_config(env=environ)
    uri = lake_uri or environ.get(LAKE_ENV) or cfg.storage.resolved_uri(workspace_root())
    return Lake(
        uri,
        storage_options=cfg.storage.storage_options(environ),
        commit_retries=cfg.storage.commit_retries,
        expected_writers=cfg.storage.expected_writers,
    )


def refresh_interval(value: float | None = None, env: Mapping[str, str] | None = None) -> float:
    """The monitoring refresh interval: ``value``, else $TRADELIB_DASHBOARD_REFRESH_S, else 30 s."""
    if value is not None:
        return float(value)
    text = (os.environ if env is None else env).get(REFRESH_ENV)
    return float(text) if text else DEFAULT_REFRESH_S


class TTLCache:
    """Remember computed values for ``ttl_s`` seconds (``clock`` injectable for tests)."""

    def __init__(
        self, ttl_s: float = DEFAULT_REFRESH_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}  # key -> (expires at, value)
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Return the cached value of ``key``, computing it when absent or expired."""
        now = self._clock()
        hit = self._values.get(key)
        if hit is not None and hit[0] > now:
            value: T = hit[1]
            return value
        self.misses += 1
        fresh = compute()
        self._values[key] = (now + self.ttl_s, fresh)
        return fresh

    def clear(self) -> None:
        """Forget every value (the next read of each key recomputes)."""
        self._values.clear()


# --- the Delta log: what is in a table without opening its files ---------------------------------
_LOG_HANDLES: dict[str, Any] = {}  # table URI -> DeltaTable, refreshed before each use


def table_files(lake: Lake, table: str) -> pl.DataFrame:
    """The live files of ``table`` from its Delta log: partition values and per-file stats.

    Columns are deltalake's flattened add actions (``partition.date``,
    ``max.ts``, ``num_records``...); empty before the table's first write.
    Reading the log costs a few ms where scanning a month of small files for
    the newest date costs tens: the dashboards use it to find what to read.
    """
    from deltalake import DeltaTable

    uri = lake.uri(table)
    handle = _LOG_HANDLES.get(uri)
    if handle is None:
        if not DeltaTable.is_deltatable(uri, storage_options=lake.storage_options):
            return pl.DataFrame()
        handle = DeltaTable(uri, storage_options=lake.storage_options)
        _LOG_HANDLES[uri] = handle
    else:
        handle.update_incremental()
    # the add actions are metadata (no file data), so this is not the exit-crash read path
    actions = pl.from_arrow(pa.table(handle.get_add_actions(flatten=True)))
    assert isinstance(actions, pl.DataFrame)
    return actions


def newest_in_log(lake: Lake, table: str, column: str) -> Any:
    """The largest value of ``column`` in ``table``: a partition value, else the file stats.

    None when the table is empty or its files carry no statistics for ``column``.
    """
    files = table_files(lake, table)
    for name in (f"partition.{column}", f"max.{column}"):
        if name in files.columns:
            return files.get_column(name).max()
    return None


# --- HTML ---------------------------------------------------------------------------------
def cell_text(value: object, fmt: str | None = None) -> str:
    """One table cell as masked, escaped text (``fmt``: a ``format`` spec for numbers)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, datetime):
        text = f"{value:%Y-%m-%d %H:%M}"
    elif isinstance(value, float | int) and not isinstance(value, bool) and fmt:
        text = format(value, fmt)
    elif isinstance(value, float):
        text = f"{value:,.2f}"
    else:
        text = str(value)
    return html.escape(mask_all(text))


def notice_html(text: str, level: Level = "info") -> str:
    """A one-line notice with a coloured bar (``text`` is masked and escaped)."""
    color = LEVEL_COLORS[level]
    return (
        f"<div class='tl-notice tl-{level}' style='border-left:4px solid {color};"
        f"padding:4px 10px;margin:4px 0'>{html.escape(mask_all(text))}</div>"
    )


def no_data_html(what: str) -> str:
    """The standard notice for a panel whose table is empty or not written yet."""
    return notice_html(f"{what}: {NO_DATA}.", "info")


def frame_html(
    frame: pl.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    formats: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    empty: str = NO_DATA,
) -> str:
    """A small masked HTML table of ``frame`` (``columns`` picks and orders them)."""
    if frame.is_empty():
        return notice_html(empty, "info")
    names = list(columns or frame.columns)
    fmts, heads = formats or {}, labels or {}
    head = "".join(
        f"<th style='text-align:left;padding:2px 8px'>{html.escape(heads.get(c, c))}</th>"
        for c in names
    )
    # short cells stay on one line; free text (reasons, errors) wraps
    styles = {
        c: "padding:2px 8px" + ("" if c in WRAPPED_COLUMNS else ";white-space:nowrap")
        for c in names
    }
    body = "".join(
        "<tr>"
        + "".join(f"<td style='{styles[c]}'>{cell_text(row[c], fmts.get(c))}</td>" for c in names)
        + "</tr>"
        for row in frame.select(names).iter_rows(named=True)
    )
    return (
        "<table class='tl-table' style='border-collapse:collapse;font-size:13px'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def cards_html(items: Sequence[tuple[str, str]]) -> str:
    """Headline numbers as a row of labelled cards (values are masked and escaped)."""
    cards = "".join(
        "<div class='tl-card' style='display:inline-block;min-width:150px;margin:4px 12px 4px 0;"
        "padding:6px 10px;border:1px solid #d0d7de;border-radius:6px'>"
        f"<div style='font-size:12px;color:#57606a'>{html.escape(label)}</div>"
        f"<div style='font-size:20px;font-weight:600'>{html.escape(mask_all(value))}</div></div>"
        for label, value in items
    )
    return f"<div>{cards}</div>"


def money(value: float | None) -> str:
    """Dollars with a thousands separator (``–`` when missing)."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"${value:,.2f}" if value >= 0 else f"-${-value:,.2f}"


def percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal (``–`` when missing)."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.1%}"


# --- strategies ------------------------------------------------------------------------------------
def strategy_legs(strategies: pl.DataFrame) -> pl.DataFrame:
    """One row per leg of each ``strategies`` row, parsed from its ``legs_json``.

    Two leg shapes are stored: the sync's (with ``quantity``) and the order
    journal's (with ``ratio``); either gives the signed size.
    """
    rows: list[dict[str, Any]] = []
    for sid, text in strategies.select("strategy_id", "legs_json").iter_rows():
        try:
            legs = json.loads(text or "[]")
        except ValueError:
            continue  # a corrupt row must not take the panel down
        for leg in legs:
            expiry = leg.get("expiry")
            rows.append(
                {
                    "strategy_id": sid,
                    "con_id": leg.get("con_id"),
                    "underlying": leg.get("symbol"),
                    "expiry": date.fromisoformat(expiry) if expiry else None,
                    "strike": leg.get("strike"),
                    "right": leg.get("right"),
                    "leg_quantity": float(leg.get("quantity", leg.get("ratio")) or 0.0),
                }
            )
    schema = {
        "strategy_id": pl.String,
        "con_id": pl.Int64,
        "underlying": pl.String,
        "expiry": pl.Date,
        "strike": pl.Float64,
        "right": pl.String,
        "leg_quantity": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


# --- research: option chains and skew ---------------------------------------------------------
def smile_frame(
    snapshots: pl.DataFrame | pl.LazyFrame, underlying: str, as_of: datetime | None = None
) -> pl.DataFrame:
    """The newest chain of ``underlying`` (at or before ``as_of``) as a volatility smile.

    One row per quoted option with an IV: expiry, days to expiry, strike,
    right, IV, delta, moneyness (strike / spot) and ``otm`` (puts below spot,
    calls above: the side of the smile traders read).
    """
    rows = snapshots.lazy().filter(
        (pl.col("underlying") == underlying) & pl.col("iv").is_not_null() & (pl.col("iv") > 0)
    )
    if as_of is not None:
        rows = rows.filter(pl.col("ts") <= as_of)
    newest = rows.filter(pl.col("ts") == pl.col("ts").max())
    spot = pl.col("underlying_price").median()
    ny_day = pl.col("ts").dt.convert_time_zone("America/New_York").dt.date()
    return (
        newest.with_columns(
            (pl.col("expiry") - ny_day).dt.total_days().alias("dte"),
            (pl.col("strike") / spot).alias("moneyness"),
        )
        .with_columns(
            pl.when(pl.col("right") == "P")
            .then(pl.col("moneyness") < 1.0)
            .otherwise(pl.col("moneyness") >= 1.0)
            .alias("otm")
        )
        .select("ts", "expiry", "dte", "strike", "right", "iv", "delta", "moneyness", "otm")
        .sort("expiry", "strike", "right")
        .collect()
    )


def skew_history(
    snapshots: pl.DataFrame | pl.LazyFrame,
    underlying: str,
    cfg: TradingConfig | None = None,
    *,
    target_dte: int = 30,
) -> pl.DataFrame:
    """The skew ratio (put IV / call IV at the matching |delta|) at every recorded chain.

    At each snapshot time the expiry nearest ``target_dte`` days is read with
    ``SmartStrikeSelector.calculate_skew_ratio``, the measure entry uses.
    """
    from tradelib.entry import OptionChain, SmartStrikeSelector
    from tradelib.errors import ChainDataError

    cfg = cfg or TradingConfig()
    selector = SmartStrikeSelector.from_config(cfg)
    frame = snapshots.lazy().filter(pl.col("underlying") == underlying).collect()
    rows: list[dict[str, Any]] = []
    for (ts,), part in sorted(frame.partition_by("ts", as_dict=True).items()):
        try:
            chain = OptionChain.from_snapshot_frame(part, underlying, cfg.strategies.risk_free_rate)
        except ChainDataError:
            continue  # a snapshot without a spot cannot be read: skip it, do not guess
        expiry = min(
            (e.expiry for e in chain.expiries),
            key=lambda e: abs(chain.dte(e) - target_dte),
        )
        reading = selector.calculate_skew_ratio(chain, expiry)
        rows.append(
            {
                "ts": ts,
                "expiry": expiry,
                "dte": chain.dte(expiry),
                "skew_ratio": reading.ratio,
                "put_iv": reading.put_iv,
                "call_iv": reading.call_iv,
                "interpretation": reading.interpretation.value,
                "fallback": reading.fallback,
            }
        )
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "ts": pl.Datetime("us", "UTC"),
        "expiry": pl.Date,
        "dte": pl.Int64,
        "skew_ratio": pl.Float64,
        "put_iv": pl.Float64,
        "call_iv": pl.Float64,
        "interpretation": pl.String,
        "fallback": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema)


# --- research: strategy P&L -------------------------------------------------------------------------
def daily_equity(lake: Lake) -> pl.DataFrame:
    """Per trading day: the closing net liquidation, day P&L, and the day's low and high."""
    return (
        lake.read("account_snapshots", columns=["ts", "date", "net_liquidation", "day_pnl"])
        .sort("ts")
        .group_by("date")
        .agg(
            pl.col("net_liquidation").last().alias("close"),
            pl.col("net_liquidation").min().alias("low"),
            pl.col("net_liquidation").max().alias("high"),
            pl.col("day_pnl").last(),
            pl.len().cast(pl.Int64).alias("snapshots"),
        )
        .sort("date")
        .collect()
    )


def strategy_pnl(lake: Lake) -> pl.DataFrame:
    """P&L per strategy over the recorded positions, with its fills and commissions.

    A position group is the strategy the sync stamped on it, else the strategy
    whose legs name its contract, else its underlying and expiry. ``last_pnl`` is the group's unrealized P&L at the
    last snapshot it appears in (its final mark if it has since closed);
    ``open`` says whether it is in the newest snapshot. Fills and commissions
    come from ``executions`` through ``orders.strategy_id``.
    """
    claimed = (
        strategy_legs(lake.read("strategies").collect())
        .drop_nulls("con_id")
        .select("con_id", pl.col("strategy_id").alias("claimed_by"))
        .unique("con_id", keep="first")
    )
    positions = lake.read("positions").join(claimed.lazy(), on="con_id", how="left")
    positions = positions.with_columns(
        pl.coalesce(
            "strategy_id",
            "claimed_by",
            pl.concat_str(
                [
                    pl.col("underlying").fill_null(pl.col("symbol")),
                    pl.col("expiry").cast(pl.String),
                ],
                separator=" ",
                ignore_nulls=True,
            ),
        ).alias("strategy")
    )
    newest = positions.select(pl.col("snapshot_ts").max()).collect().item()
    per_snapshot = positions.group_by("strategy", "snapshot_ts").agg(
        pl.col("underlying").fill_null(pl.col("symbol")).first().alias("underlying"),
        pl.col("unrealized_pnl").sum(),
        pl.len().cast(pl.Int64).alias("legs"),
    )
    groups = (
        per_snapshot.sort("snapshot_ts")
        .group_by("strategy")
        .agg(
            pl.col("underlying").last(),
            pl.col("snapshot_ts").min().alias("first_seen"),
            pl.col("snapshot_ts").max().alias("last_seen"),
            pl.col("legs").last(),
            pl.col("unrealized_pnl").last().alias("last_pnl"),
            pl.col("unrealized_pnl").min().alias("worst_pnl"),
            pl.col("unrealized_pnl").max().alias("best_pnl"),
        )
        .with_columns((pl.col("last_seen") == newest).alias("open"))
        .collect()
    )
    fills = (
        lake.read("executions", columns=["order_ref", "commission"])
        .join(
            lake.read("orders", columns=["order_ref", "strategy_id"]),
            on="order_ref",
            how="left",
        )
        .drop_nulls("strategy_id")
        .group_by(pl.col("strategy_id").alias("strategy"))
        .agg(
            pl.len().cast(pl.Int64).alias("fills"),
            pl.col("commission").sum().alias("commission"),
        )
        .collect()
    )
    return (
        groups.join(fills, on="strategy", how="left")
        .with_columns(pl.col("fills").fill_null(0), pl.col("commission").fill_null(0.0))
        .sort("underlying", "first_seen")
    )


def pnl_by_underlying(strategies: pl.DataFrame) -> pl.DataFrame:
    """``strategy_pnl`` summed per underlying: strategies, open ones, P&L and commissions."""
    return (
        strategies.group_by("underlying")
        .agg(
            pl.len().cast(pl.Int64).alias("strategies"),
            pl.col("open").sum().cast(pl.Int64).alias("open"),
            pl.col("last_pnl").sum().alias("pnl"),
            pl.col("commission").sum(),
        )
        .sort("underlying")
    )


# --- figures in the browser -------------------------------------------------------------------
PLOTLY_MIME = "application/vnd.plotly.v1+json"


class FigurePane:
    """A plotly figure shown through an ``Output`` widget and plotly's JupyterLab mime renderer.

    A ``go.FigureWidget`` carries plotly.js (~5 MB) in its widget state, once per
    figure: Voila must send and evaluate all of it before the page shows anything.
    The mime renderer loads plotly.js once, as a static (cacheable) extension, and
    the widget state holds only the figure's JSON. ``figure`` is the last one shown.

    A ``held`` pane keeps its figures off the page until ``reveal()``: Voila shows a
    page once every output on it is drawn, and loading and drawing plotly took about
    a second of a dashboard's first paint; its numbers can come first (``PageShown``).
    """

    def __init__(self, *, held: bool = False) -> None:
        import ipywidgets as widgets  # type: ignore[import-untyped]

        self.output = widgets.Output()
        self.figure: Any = None
        self._output: dict[str, Any] = {}
        self.held = held

    def show(self, figure: Any) -> None:
        """Replace what the pane shows with ``figure`` (a ``go.Figure``) in one update.

        The figure is serialised here, also when held: a preheated kernel does it
        before the page is requested, and ``reveal`` then only sends it.
        """
        self.figure = figure
        self._output = _plotly_output(figure)
        if not self.held:
            self._draw()

    def reveal(self) -> None:
        """Draw the held figure now, and every later one as it is shown."""
        if self.held:
            self.held = False
            if self.figure is not None:
                self._draw()

    def _draw(self) -> None:
        self.output.outputs = (self._output,)


def _plotly_output(figure: Any) -> dict[str, Any]:
    """The display_data output plotly's mime renderer draws ``figure`` from."""
    spec = json.loads(figure.to_json())
    title = ((spec.get("layout") or {}).get("title") or {}).get("text") or "figure"
    return {
        "output_type": "display_data",
        "data": {PLOTLY_MIME: spec, "text/plain": f"<{title}>"},
        "metadata": {},
    }


@functools.cache
def _page_shown_class() -> type[Any]:
    import anywidget

    class PageShown(anywidget.AnyWidget):
        _esm = "export default { render({ model }) { model.send({ shown: true }); } };"

    return PageShown


def page_shown(on_shown: Callable[[], None]) -> Any:
    """An invisible widget whose view, once a browser draws it, calls ``on_shown`` in the kernel.

    Put it last on the page: Voila draws the page's widgets in order, so by the time
    its view exists the numbers above it are on screen. A kernel that never gets a
    browser (papermill, nbval, a preheated kernel waiting in the pool) never calls it.
    """
    widget = _page_shown_class()()

    def handle(_widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("shown"):
            on_shown()

    widget.on_msg(handle)
    return widget
