"""Import end-of-day option chains (CSV or Parquet, schema in ``schema``) into a ``ChainStore``.

Validation is row by row and total: every problem names the file, the row
(row 1 is the first row after the header; a CSV's line is row + 1), the
column and what is wrong; up to ``MAX_REPORTED`` are listed, with a count per
kind. Loading is vectorised (polars): a typed read first, a text read only
to explain a file that does not parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from tradelib.backtest.chains.schema import COLUMN_NAMES, DTYPES, GREEKS, KEY, REQUIRED
from tradelib.errors import BacktestDataError
from tradelib.markethours import MarketHours

MAX_REPORTED = 20
CHECK_ROWS = 250_000  # rows validated at a time
ALIASES: dict[str, str] = {
    "symbol": "underlying",
    "underlying_symbol": "underlying",
    "root": "underlying",
    "date": "quote_date",
    "quotedate": "quote_date",
    "expiration": "expiry",
    "expiration_date": "expiry",
    "expiry_date": "expiry",
    "type": "right",
    "option_type": "right",
    "call_put": "right",
    "cp": "right",
    "implied_volatility": "iv",
    "openinterest": "open_interest",
    "underlying_last": "underlying_price",
}
_RIGHTS = {"C": True, "CALL": True, "P": False, "PUT": False}
_EPOCH = date(1970, 1, 1)


@dataclass(slots=True, eq=False)
class ChainStore:
    """Validated chains, sorted by (underlying, quote_date, expiry, strike, right), as arrays.

    Days and expiries are int32 days since 1970-01-01; calls come before puts
    at each strike. ``columns``: bid/ask float64, iv/greeks/underlying_price
    float32, counts int32. Optional columns absent from every file are NaN
    (floats) or 0 (counts); ``has`` says which were given.
    """

    files: tuple[Path, ...]
    underlyings: tuple[str, ...]
    has: frozenset[str]
    symbol_code: npt.NDArray[np.int16]
    quote_day: npt.NDArray[np.int32]
    expiry_day: npt.NDArray[np.int32]
    strike: npt.NDArray[np.float64]
    is_call: npt.NDArray[np.bool_]
    columns: dict[
        str, np.ndarray
    ]  # bid, ask, iv, greeks, sizes, volume, open_interest, underlying_price
    _days: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.quote_day.size == 0:
            return
        key = self.symbol_code.astype(np.int64) << 32 | self.quote_day.astype(np.int64)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1])
        stops = np.concatenate([starts[1:], [key.size]])
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            self._days[(int(self.symbol_code[a]), int(self.quote_day[a]))] = (a, b)

    def __len__(self) -> int:
        return int(self.strike.size)

    @property
    def nbytes(self) -> int:
        """Return the memory held by the arrays."""
        arrays: list[np.ndarray] = [self.symbol_code, self.quote_day, self.expiry_day, self.strike]
        arrays.append(self.is_call)
        return sum(a.nbytes for a in [*arrays, *self.columns.values()])

    def code(self, underlying: str) -> int:
        """Return the index of ``underlying``; ``KeyError`` if it has no rows."""
        return self.underlyings.index(underlying)

    def days(self, underlying: str) -> list[date]:
        """Return the quote dates with a chain for ``underlying``, ascending."""
        c = self.code(underlying)
        return sorted(date.fromordinal(_EPOCH.toordinal() + d) for s, d in self._days if s == c)

    def day_rows(self, underlying: str, day: date) -> slice:
        """Return the rows of one underlying's chain on ``day`` (empty slice if none)."""
        a, b = self._days.get((self.code(underlying), (day - _EPOCH).days), (0, 0))
        return slice(a, b)

    def expiry_rows(self, underlying: str, day: date, expiry: date) -> slice:
        """Return the rows of one expiry of ``day``'s chain (empty slice if none)."""
        rows = self.day_rows(underlying, day)
        e = (expiry - _EPOCH).days
        ex = self.expiry_day[rows]
        lo = int(np.searchsorted(ex, e, side="left"))
        hi = int(np.searchsorted(ex, e, side="right"))
        return slice(rows.start + lo, rows.start + hi)

    def expiries(self, underlying: str, day: date) -> list[date]:
        """Return the expiries in ``day``'s chain, ascending."""
        ex = np.unique(self.expiry_day[self.day_rows(underlying, day)])
        return [date.fromordinal(_EPOCH.toordinal() + int(d)) for d in ex]

    def frame(self, underlying: str, day: date) -> pl.DataFrame:
        """Return one day's chain as a polars frame (for research and display)."""
        rows = self.day_rows(underlying, day)
        data: dict[str, object] = {
            "expiry": pl.Series(self.expiry_day[rows]).cast(pl.Date),
            "strike": self.strike[rows],
            "right": np.where(self.is_call[rows], "C", "P"),
        }
        data.update({k: v[rows] for k, v in self.columns.items()})
        return pl.DataFrame(data)


def _show(value: object) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def _row_label(row: int, csv: bool) -> str:
    return f"row {row} (line {row + 1})" if csv else f"row {row}"


def _read(path: Path, extra_columns: str) -> tuple[pl.DataFrame, bool, dict[str, str]]:
    """Return (frame with schema names, is_csv, schema name -> file column); typed when possible."""
    suffix = path.suffix.lower()
    csv = suffix == ".csv"
    if not path.exists():
        raise BacktestDataError(file=str(path), problem="no such file")
    if suffix not in (".csv", ".parquet", ".pq"):
        raise BacktestDataError(
            file=str(path), problem=f"unsupported file type {suffix!r} (use .csv or .parquet)"
        )
    header = pl.read_csv(path, n_rows=0).columns if csv else list(pl.read_parquet_schema(path))
    mapping: dict[str, str] = {}
    problems: list[str] = []
    for col in header:
        key = col.strip().lower()
        name = key if key in DTYPES else ALIASES.get(key)
        if name is None:
            if extra_columns != "ignore":
                problems.append(
                    f"unknown column {col!r} (schema: {', '.join(COLUMN_NAMES)}; "
                    "extra_columns='ignore' drops such columns)"
                )
        elif name in mapping:
            problems.append(f"columns {mapping[name]!r} and {col!r} both mean {name!r}")
        else:
            mapping[name] = col
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        problems.append(f"missing required column(s) {', '.join(missing)}")
    if problems:
        raise BacktestDataError(file=str(path), problem="; ".join(problems))
    if csv:
        try:
            df = pl.read_csv(
                path,
                columns=list(mapping.values()),
                schema_overrides={col: DTYPES[name] for name, col in mapping.items()},
            )
        except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError):
            df = pl.read_csv(path, columns=list(mapping.values()), infer_schema=False)
    else:
        df = pl.read_parquet(path, columns=list(mapping.values()))
    return df.rename({col: name for name, col in mapping.items()}), csv, mapping


def _typed(df: pl.DataFrame) -> tuple[pl.DataFrame, list[tuple[str, pl.Expr, str]]]:
    """Cast every column to its schema type; return unparseable-cell checks."""
    checks: list[tuple[str, pl.Expr, str]] = []
    exprs = []
    for name in df.columns:
        want = DTYPES[name]
        col = pl.col(name)
        if df.schema[name] == want:
            exprs.append(col)
            continue
        if want is pl.Date:
            cast = col.cast(pl.String).str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
            what = "is not a date (YYYY-MM-DD)"
        elif want is pl.String:
            cast = col.cast(pl.String)
            what = "is not text"
        else:
            cast = col.cast(pl.String).str.strip_chars().cast(want, strict=False)
            what = "is not a number"
        exprs.append(cast.alias(name))
        checks.append(
            (
                name,
                col.is_not_null() & (col.cast(pl.String).str.strip_chars() != "") & cast.is_null(),
                what,
            )
        )
    return df.with_columns(exprs) if exprs else df, checks


Check = tuple[str, pl.Expr, str]  # (column, flags the bad rows, what is wrong)
_NEGATIVE_IS_BAD = ("iv", "gamma", "vega", "volume", "open_interest", "bid_size", "ask_size")


def _value_rules(typed: pl.DataFrame) -> list[Check]:
    """The checks of parsed values: required cells, rights, signs, crossing, finiteness, ranges."""
    # Rights and symbols take a handful of values: normalise the distinct ones, not every row.
    spellings = typed["right"].drop_nulls().unique().to_list()
    unknown = [v for v in spellings if v.strip().upper() not in _RIGHTS]
    rules: list[Check] = [
        *[(c, pl.col(c).is_null(), "is missing") for c in REQUIRED],
        ("right", pl.col("right").is_in(unknown), "is not C, P, CALL or PUT"),
        ("strike", pl.col("strike") <= 0, "is not positive"),
        ("bid", pl.col("bid") < 0, "is negative"),
        ("ask", pl.col("ask") < 0, "is negative"),
        ("bid", pl.col("bid") > pl.col("ask"), "is above the ask (crossed)"),
        ("expiry", pl.col("expiry") < pl.col("quote_date"), "is before the quote date"),
    ]
    for c in ("strike", "bid", "ask", "iv", "delta", "gamma", "vega", "theta", "underlying_price"):
        if c in typed.columns:
            rules.append((c, ~pl.col(c).is_finite() & pl.col(c).is_not_null(), "is not finite"))
    bounds: dict[str, tuple[pl.Expr, str]] = {
        **{c: (pl.col(c) < 0, "is negative") for c in _NEGATIVE_IS_BAD[:1]},
        "delta": ((pl.col("delta") < -1) | (pl.col("delta") > 1), "is out of range"),
        **{c: (pl.col(c) < 0, "is negative") for c in _NEGATIVE_IS_BAD[1:]},
        "underlying_price": (pl.col("underlying_price") <= 0, "is not positive"),
    }
    rules.extend((c, expr, what) for c, (expr, what) in bounds.items() if c in typed.columns)
    return rules


def _calendar_rule(typed: pl.DataFrame, hours: MarketHours) -> list[Check]:
    """Quote dates that are not trading days of ``hours`` (none: no check)."""
    days = typed["quote_date"].unique().to_list()
    inside = [d for d in days if hours.first_day <= d <= hours.last_day]
    bad = sorted(
        {d for d in days if d not in inside} | {d for d in inside if not hours.is_trading_day(d)}
    )
    if not bad:
        return []
    return [
        ("quote_date", pl.col("quote_date").is_in(bad), f"is not a trading day on {hours.name}")
    ]


class _Findings:
    """Bad cells found so far: a count per kind and the first rows of each, labelled."""

    def __init__(self, csv: bool) -> None:
        self.csv = csv
        self.found: list[tuple[int, str]] = []
        self.counts: dict[str, int] = {}

    def collect(self, frame: pl.DataFrame, checks: list[Check]) -> None:
        if not checks:
            return
        # In slices of rows: the checks' temporaries stay small whatever the file's size.
        for start in range(0, frame.height, CHECK_ROWS):
            part = frame.slice(start, CHECK_ROWS)
            flags = part.select(
                [e.fill_null(False).alias(f"c{i}") for i, (_, e, _) in enumerate(checks)]
            )
            totals = flags.sum().row(0)
            for i, (col, _, what) in enumerate(checks):
                if not totals[i]:
                    continue
                kind = f"{col} {what}"
                self.counts[kind] = self.counts.get(kind, 0) + int(totals[i])
                if len(self.found) >= 4 * MAX_REPORTED:
                    continue
                hits = part.filter(flags[f"c{i}"]).head(MAX_REPORTED)
                for r, v in zip(hits["__row"].to_list(), hits[col].to_list(), strict=True):
                    label = f"{_row_label(r, self.csv)}, column {col}: {_show(v)} {what}"
                    self.found.append((r, label))

    def report(self) -> list[str]:
        if not self.counts:
            return []
        lines = [text for _, text in sorted(self.found)[:MAX_REPORTED]]
        summary = ", ".join(f"{n} x {kind}" for kind, n in self.counts.items())
        return [f"{sum(self.counts.values())} problem(s) ({summary}): " + "; ".join(lines)]


def _problems(path: Path, df: pl.DataFrame, csv: bool, hours: MarketHours | None) -> list[str]:
    """Every bad cell of ``df``: unparseable text first, then values, then the calendar."""
    raw = df.with_row_index("__row", offset=1)
    typed, parse_checks = _typed(raw.drop("__row"))
    typed = typed.with_columns(raw["__row"])
    findings = _Findings(csv)
    # Evaluated on the raw text: the cell had a value that did not parse.
    findings.collect(raw, list(parse_checks))
    if not findings.counts:
        findings.collect(typed, _value_rules(typed))
    if not findings.counts and hours is not None:
        findings.collect(typed, _calendar_rule(typed, hours))
    return findings.report()


def load_chains(
    paths: str | Path | Sequence[str | Path],
    *,
    hours: MarketHours | None = None,
    extra_columns: str = "error",
) -> ChainStore:
    """Read, validate and index end-of-day chain files; ``BacktestDataError`` on any problem.

    ``extra_columns``: "error" (default) refuses columns outside the schema,
    "ignore" drops them. With ``hours``, every quote_date must be a trading day.
    """
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise ValueError("load_chains needs at least one file")
    frames: list[pl.DataFrame] = []
    for i, path in enumerate(files):
        df, csv, _ = _read(path, extra_columns)
        problems = _problems(path, df, csv, hours)
        if problems:
            raise BacktestDataError(file=str(path), problem=problems[0])
        typed, _ = _typed(df)
        calls = [v for v in typed["right"].unique().to_list() if _RIGHTS[v.strip().upper()]]
        names = {v: v.strip().upper() for v in typed["underlying"].unique().to_list()}
        underlying = pl.col("underlying")
        if any(k != v for k, v in names.items()):
            underlying = underlying.replace_strict(names, return_dtype=pl.String)
        frames.append(
            typed.with_columns(
                pl.col("right").is_in(calls).alias("right"),
                underlying,
                pl.lit(i, pl.Int16).alias("__file"),
            ).with_row_index("__row", offset=1)
        )
        del df, typed  # keep only the normalised frame of each file
    has = frozenset(c for f in frames for c in f.columns if c in DTYPES)
    df = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    frames.clear()  # the combined frame is the only reference left: columns free as they convert
    if not _is_sorted(df):
        df = df.sort(list(KEY), descending=[False, False, False, False, True])
    _check_duplicates(df, files)
    symbols = tuple(df["underlying"].unique().sort().to_list())
    code = df["underlying"].cast(pl.Enum(list(symbols))).to_physical().to_numpy().astype(np.int16)
    epoch = pl.lit(_EPOCH)
    days = df.select(
        (pl.col("quote_date") - epoch).dt.total_days().cast(pl.Int32).alias("q"),
        (pl.col("expiry") - epoch).dt.total_days().cast(pl.Int32).alias("e"),
    )
    strike, is_call = df["strike"].to_numpy(), df["right"].to_numpy()
    n = df.height
    columns: dict[str, np.ndarray] = {}
    # Prices stay float64; model outputs and counts are stored narrower (float32 keeps ~7
    # significant digits, int32 counts to 2e9): ~40% less memory for 5 years of quotes.
    for name, dtype, empty in (
        *((c, np.float64, np.nan) for c in ("bid", "ask")),
        *((c, np.float32, np.nan) for c in (*GREEKS, "underlying_price")),
        *((c, np.int32, 0) for c in ("volume", "open_interest", "bid_size", "ask_size")),
    ):
        if name in df.columns:
            col = df[name]
            df = df.drop(name)
            columns[name] = col.fill_null(empty).to_numpy().astype(dtype, copy=False)
            del col
        else:
            columns[name] = np.full(n, empty, dtype=dtype)
    return ChainStore(
        files=tuple(files),
        underlyings=symbols,
        has=has,
        symbol_code=code,
        quote_day=days["q"].to_numpy(),
        expiry_day=days["e"].to_numpy(),
        strike=strike,
        is_call=is_call,
        columns=columns,
    )


def _is_sorted(df: pl.DataFrame) -> bool:
    """Return whether rows are already in store order (one pass; vendor files usually are)."""
    order = pl.lit(False)
    for name in reversed(KEY):
        col = pl.col(name).cast(pl.Int8) if name == "right" else pl.col(name)
        prev = col.shift(1)
        ahead = (col < prev) if name == "right" else (col > prev)  # calls (True) first
        order = ahead | ((col == prev) & order)
    equal = pl.all_horizontal([pl.col(c) == pl.col(c).shift(1) for c in KEY])
    ok = (order | equal).fill_null(True).all()
    return bool(df.select(ok).item())


def _check_duplicates(df: pl.DataFrame, files: list[Path]) -> None:
    same = pl.all_horizontal([pl.col(c) == pl.col(c).shift(1) for c in KEY])
    dup = df.with_columns(same.fill_null(False).alias("__dup"))
    hits = dup.filter(pl.col("__dup") | pl.col("__dup").shift(-1).fill_null(False)).head(
        2 * MAX_REPORTED
    )
    if hits.height == 0:
        return
    n = int(dup["__dup"].sum())
    lines = []
    for r in hits.iter_rows(named=True):
        right = "C" if r["right"] else "P"
        lines.append(
            f"{files[r['__file']].name} row {r['__row']}: {r['underlying']} {r['quote_date']} "
            f"{r['expiry']} {r['strike']:g} {right}"
        )
    raise BacktestDataError(
        file=", ".join(str(f) for f in files),
        problem=f"{n} duplicate quote(s) (same underlying, quote_date, expiry, strike, right): "
        + "; ".join(lines[:MAX_REPORTED]),
    )
