"""A sweep definition (GRID.yaml): which backtests to run, checked before any of them runs.

A grid names config keys by their dotted path (``profit_targets.fixed``) with the
values to try; a key without a dot names a *group* whose values each set several
keys together (a DTE window: ``{strategies.dte_min: 20, strategies.dte_max: 30}``).
The points are the full product of the grid, or ``sample.n`` points drawn from it
(seeded), times the seeds, times the markets, times the periods (in-sample and
held-out when ``split`` is given). Every value, and then every point, is validated
by the trading config itself (``TradingConfig.with_overrides``): a bad key or value
is refused naming it, before anything runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tradelib.config import InvalidConfigError, TradingConfig, load_config, workspace_root
from tradelib.config.problems import problems_of
from tradelib.errors import GridError, TradelibError

if TYPE_CHECKING:
    from tradelib.lake import Lake

PERIODS = ("full", "in_sample", "held_out")
Period = Literal["full", "in_sample", "held_out"]
_SWEEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_POINTS = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SampleSpec(_Strict):
    """Draw ``n`` points from the grid instead of running its full product."""

    n: int = Field(gt=0, le=MAX_POINTS)
    seed: int = Field(default=0, ge=0)


class SplitSpec(_Strict):
    """Hold the end of each market's date range out: one run in-sample, one held-out."""

    held_out_fraction: float | None = Field(default=None, gt=0, lt=1)
    held_out_start: date | None = None  # first held-out trading day

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.held_out_fraction is None) == (self.held_out_start is None):
            raise ValueError("give exactly one of held_out_fraction or held_out_start")
        return self


class MarketSpec(_Strict):
    """One market the grid runs on: the simulated one, or modelled over daily bars.

    The bars of a history market come from ``folder`` (files every worker can read
    at the same path) or, without it, from a lake's ``market_history`` (``lake``,
    default the configured one; `tradelib lake import-history` fills it): what
    workers on other machines read, local or on S3.
    """

    source: Literal["sim", "history"] = "sim"
    days: int | None = Field(default=None, gt=0, le=252 * 30)  # sim: required
    end: date | None = None  # sim: required (a sweep must mean the same days tomorrow)
    start: date | None = None  # history only
    folder: str | None = None  # history: SYMBOL.csv files and VIX.csv
    lake: str | None = None  # history without folder: the lake holding the bars
    name: str | None = Field(default=None, max_length=64)  # label in reports

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.source == "sim":
            if self.days is None or self.end is None:
                raise ValueError("a sim market needs days and end (YYYY-MM-DD)")
            if self.folder is not None or self.start is not None or self.lake is not None:
                raise ValueError("folder, lake and start are for source: history")
        elif self.folder is not None and self.lake is not None:
            raise ValueError("a history market reads folder or lake, not both")
        return self

    @property
    def label(self) -> str:
        """A short name for reports: ``name``, else the source and its range."""
        if self.name:
            return self.name
        if self.source == "sim":
            return f"sim {self.days}d to {self.end}"
        if self.folder is None:
            return "history (lake)"
        return f"history {Path(self.folder).name}"


class GridFile(_Strict):
    """GRID.yaml as written by the user (validated, not yet expanded)."""

    sweep_id: str | None = None
    base_config: str | None = None  # trading config the grid changes; None = the usual one
    grid: dict[str, list[Any] | dict[str, Any]] = Field(default_factory=dict)
    sample: SampleSpec | None = None
    seeds: list[int] = Field(default_factory=list, max_length=10_000)
    markets: list[MarketSpec] = Field(default_factory=list, max_length=1000)
    split: SplitSpec | None = None
    cycles_per_day: int = Field(default=5, ge=1, le=78)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.sweep_id is not None and not _SWEEP_ID.match(self.sweep_id):
            raise ValueError(f"sweep_id {self.sweep_id!r}: letters, digits, '_', '.', '-' only")
        if any(s < 0 or s > 2**32 - 1 for s in self.seeds):
            raise ValueError("seeds must be in [0, 2**32 - 1]")
        if not self.markets:
            raise ValueError("markets: give at least one market (source: sim, days, end)")
        return self


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One backtest of the sweep: config overrides, seed, market and period."""

    run_id: str
    params: dict[str, Any]  # dotted config key -> value (groups flattened)
    seed: int
    market: MarketSpec
    period: Period
    cfg: TradingConfig
    days: int | None  # run_backtest's days/start/end for this period
    start: date | None
    end: date | None

    def record(self) -> dict[str, Any]:
        """What the sweep table keeps of this point (JSON-able)."""
        return {
            "run_id": self.run_id,
            "params": self.params,
            "seed": self.seed,
            "market": self.market.label,
            "period": self.period,
        }


@dataclass(frozen=True, slots=True)
class SweepGrid:
    """A validated, expanded sweep: its id, hash and points."""

    sweep_id: str
    grid_hash: str
    spec: GridFile
    base: TradingConfig
    points: tuple[SweepPoint, ...]
    root: Path  # where relative history folders resolve
    source: str

    @property
    def grid_json(self) -> str:
        return json.dumps(self.spec.model_dump(mode="json"), sort_keys=True)

    @property
    def keys(self) -> list[str]:
        """The dotted config keys the grid varies, in grid order."""
        seen: dict[str, None] = {}
        for p in self.points:
            for k in p.params:
                seen.setdefault(k, None)
        return list(seen)


# --- reading ---------------------------------------------------------------------------------
def read_grid_file(path: str | Path) -> dict[str, Any]:
    """GRID.yaml as a mapping; ``GridError`` naming the file on a YAML problem."""
    where = Path(path)
    if not where.is_file():
        raise GridError(source=str(where), problem="file not found")
    try:
        data = yaml.safe_load(where.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise GridError(source=str(where), problem=" ".join(str(exc).split())) from None
    if not isinstance(data, dict):
        raise GridError(source=str(where), problem="the top level must be a mapping")
    return data


def load_grid(
    path: str | Path,
    *,
    sweep_id: str | None = None,
    base: TradingConfig | None = None,
) -> SweepGrid:
    """Read, validate and expand ``path`` (relative folders resolve against its folder)."""
    where = Path(path).resolve()
    return build_grid(
        read_grid_file(where), sweep_id=sweep_id, base=base, root=where.parent, source=str(path)
    )


def build_grid(
    data: Mapping[str, Any],
    *,
    sweep_id: str | None = None,
    base: TradingConfig | None = None,
    root: Path | None = None,
    source: str = "<grid>",
) -> SweepGrid:
    """Validate and expand a grid given as a mapping; ``GridError`` names what is wrong."""
    try:
        spec = GridFile.model_validate(dict(data))
    except ValidationError as exc:
        raise GridError(source=source, problem="; ".join(problems_of(exc, GridFile))) from None
    folder = root or workspace_root()
    if base is None:
        config_path = spec.base_config
        if config_path is not None and not Path(config_path).is_absolute():
            config_path = str(_resolve(folder, config_path))
        try:
            base = load_config(config_path)
        except TradelibError as exc:
            raise GridError(source=source, problem=f"base_config: {exc}") from None
    combos = _combinations(spec, base, source)
    seeds = spec.seeds or [int(base.simulation.seed)]
    total = len(combos) * len(seeds) * len(spec.markets) * (2 if spec.split else 1)
    if total > MAX_POINTS:
        raise GridError(source=source, problem=f"{total} points is more than {MAX_POINTS}")
    digest = _grid_hash(spec, base)
    sid = sweep_id or spec.sweep_id or f"sw-{digest[:10]}"
    if not _SWEEP_ID.match(sid):
        raise GridError(source=source, problem=f"sweep id {sid!r}: letters, digits, '_.-' only")
    # a period's days depend on the market (and, for history, the seed), not the parameters
    periods = {
        (m, seed): _periods(spec, market, base, seed, folder, source)
        for m, market in enumerate(spec.markets)
        for seed in (seeds if market.source == "history" else seeds[:1])
    }
    points: list[SweepPoint] = []
    for params, cfg in combos:
        for seed in seeds:
            for m, market in enumerate(spec.markets):
                runs = periods[(m, seed if market.source == "history" else seeds[0])]
                for period, days, start, end in runs:
                    points.append(
                        SweepPoint(
                            run_id=point_run_id(sid, params, seed, market, period),
                            params=params,
                            seed=seed,
                            market=market,
                            period=period,
                            cfg=cfg,
                            days=days,
                            start=start,
                            end=end,
                        )
                    )
    return SweepGrid(sid, digest, spec, base, tuple(points), folder, source)


def _resolve(folder: Path, path: str) -> Path:
    """``path`` against the grid's folder, else against the workspace (as written)."""
    candidate = folder / path
    if candidate.exists():
        return candidate
    return workspace_root() / path


def _grid_hash(spec: GridFile, base: TradingConfig) -> str:
    text = json.dumps(
        {
            "grid": spec.model_dump(mode="json", exclude={"sweep_id"}),
            "base": base.model_dump(mode="json", exclude={"ib": {"account"}}),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def point_run_id(
    sweep_id: str, params: Mapping[str, Any], seed: int, market: MarketSpec, period: str
) -> str:
    """The run id of a point: the sweep id plus a hash of everything that defines the point."""
    key = json.dumps(
        {
            "params": dict(params),
            "seed": seed,
            "market": market.model_dump(mode="json"),
            "period": period,
        },
        sort_keys=True,
        default=str,
    )
    return f"{sweep_id}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


# --- expansion -------------------------------------------------------------------------------
def _dimensions(
    spec: GridFile, source: str
) -> list[tuple[str, list[dict[str, Any]] | dict[str, Any]]]:
    """Each grid entry as (name, [overrides per value]) or (name, {low, high}) for a range."""
    out: list[tuple[str, list[dict[str, Any]] | dict[str, Any]]] = []
    for name, values in spec.grid.items():
        if isinstance(values, dict):
            if "." not in name:
                raise GridError(source=source, problem=f"grid.{name}: a group takes a list")
            if set(values) != {"low", "high"} or spec.sample is None:
                raise GridError(
                    source=source,
                    problem=f"grid.{name}: give a list of values (a {{low, high}} range "
                    "needs sample: {n: ...})",
                )
            low, high = values["low"], values["high"]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
                raise GridError(source=source, problem=f"grid.{name}: low and high must be numbers")
            if not low < high:
                raise GridError(source=source, problem=f"grid.{name}: low must be below high")
            out.append((name, {"low": low, "high": high}))
            continue
        if not values:
            raise GridError(source=source, problem=f"grid.{name}: the list of values is empty")
        if "." in name:
            out.append((name, [{name: v} for v in values]))
            continue
        group: list[dict[str, Any]] = []
        for i, value in enumerate(values):
            if not isinstance(value, dict) or not value or not all("." in str(k) for k in value):
                raise GridError(
                    source=source,
                    problem=f"grid.{name}[{i}]: a group's values are mappings of dotted config "
                    f"keys (got {value!r}); a config key needs its section, e.g. "
                    "strategies.target_delta",
                )
            group.append({str(k): v for k, v in value.items()})
        out.append((name, group))
    return out


def _check_values(
    dims: Sequence[tuple[str, list[dict[str, Any]] | dict[str, Any]]],
    base: TradingConfig,
    source: str,
) -> None:
    """Each value alone must be a valid config change: the error names the key and value."""
    for name, values in dims:
        samples = (
            [{name: values["low"]}, {name: values["high"]}] if isinstance(values, dict) else values
        )
        for overrides in samples:
            try:
                base.with_overrides(overrides)
            except InvalidConfigError as exc:
                own = [p for p in exc.problems if any(p.startswith(f"{k}:") for k in overrides)]
                if not own:
                    continue  # only a cross-key rule (dte_min <= dte_max): judged per point
                shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
                raise GridError(
                    source=source,
                    problem=f"grid.{name}: {shown} is not a valid config value: "
                    + "; ".join(exc.problems),
                ) from None


def _combinations(
    spec: GridFile, base: TradingConfig, source: str
) -> list[tuple[dict[str, Any], TradingConfig]]:
    """The parameter combinations (product or sample), each with its validated config."""
    dims = _dimensions(spec, source)
    _check_values(dims, base, source)
    if spec.sample is None:
        lists = [v for _, v in dims if isinstance(v, list)]
        combos = [_merge(parts) for parts in itertools.product(*lists)] if lists else [{}]
    else:
        combos = _sample(dims, spec.sample)
    out = []
    for params in combos:
        try:
            cfg = base.with_overrides(params) if params else base
        except InvalidConfigError as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            raise GridError(
                source=source,
                problem=f"the point {{{shown}}} is not a valid config: "
                + "; ".join(exc.problems)
                + " (a group varies keys together: see docs/sweeps.md)",
            ) from None
        out.append((params, cfg))
    return out


def _merge(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


def _sample(
    dims: Sequence[tuple[str, list[dict[str, Any]] | dict[str, Any]]], sample: SampleSpec
) -> list[dict[str, Any]]:
    """``sample.n`` points, seeded: distinct combinations when every entry is a list."""
    rng = random.Random(sample.seed)
    if all(isinstance(v, list) for _, v in dims):
        lists = [v for _, v in dims if isinstance(v, list)]
        size = math.prod(len(v) for v in lists)
        picks = rng.sample(range(size), min(sample.n, size))
        out = []
        for flat in sorted(picks):
            chosen = []
            for values in reversed(lists):
                flat, i = divmod(flat, len(values))
                chosen.append(values[i])
            out.append(_merge(list(reversed(chosen))))
        return out
    points = []
    for _ in range(sample.n):
        parts: list[Mapping[str, Any]] = []
        for name, values in dims:
            if isinstance(values, list):
                parts.append(rng.choice(values))
            elif isinstance(values["low"], int) and isinstance(values["high"], int):
                parts.append({name: rng.randint(values["low"], values["high"])})
            else:
                value = rng.uniform(float(values["low"]), float(values["high"]))
                parts.append({name: float(f"{value:.4g}")})
        points.append(_merge(parts))
    return points


def _periods(
    spec: GridFile, market: MarketSpec, cfg: TradingConfig, seed: int, folder: Path, source: str
) -> list[tuple[Period, int | None, date | None, date | None]]:
    """(period, days, start, end) per run of ``market``: the whole range, or split in two."""
    if spec.split is None:
        return [("full", market.days, market.start, market.end)]
    days = market_days(market, cfg, seed, folder, source)
    if spec.split.held_out_start is not None:
        cut = sum(1 for d in days if d < spec.split.held_out_start)
    else:
        cut = len(days) - max(1, round(len(days) * (spec.split.held_out_fraction or 0.0)))
    if cut < 1 or cut >= len(days):
        raise GridError(
            source=source,
            problem=f"split: market {market.label!r} ({days[0]}..{days[-1]}, {len(days)} trading "
            "days) leaves no in-sample or no held-out day",
        )
    first, second = days[:cut], days[cut:]
    if market.source == "sim":
        return [
            ("in_sample", len(first), None, first[-1]),
            ("held_out", len(second), None, second[-1]),
        ]
    return [
        ("in_sample", None, first[0], first[-1]),
        ("held_out", None, second[0], second[-1]),
    ]


def history_folder(market: MarketSpec, folder: Path) -> Path:
    """The market's history folder (relative: to the grid's folder, else the workspace)."""
    return _resolve(folder, market.folder or "")


def history_lake_uri(market: MarketSpec, cfg: TradingConfig) -> str:
    """The lake a folder-less history market reads (absolute, or an object-store URI)."""
    from tradelib.lake.workspace import job_lake

    return str(job_lake(cfg, market.lake or "").root)


def history_of(market: MarketSpec, cfg: TradingConfig, folder: Path) -> Path | Lake:
    """Where a history market's bars are: its folder, or the lake they were imported into."""
    from tradelib.lake.workspace import job_lake

    if market.folder is not None:
        return history_folder(market, folder)
    return job_lake(cfg, history_lake_uri(market, cfg))


def market_days(
    market: MarketSpec, cfg: TradingConfig, seed: int, folder: Path, source: str
) -> list[date]:
    """The trading days ``market`` covers (what a split cuts in two)."""
    from tradelib.backtest.run import history_market, sim_days
    from tradelib.markethours import MarketHours

    try:
        if market.source == "sim":
            assert market.end is not None and market.days is not None
            return sim_days(MarketHours(cfg.scheduler.calendar), market.end, market.days)
        plan = history_market(
            cfg,
            history_of(market, cfg, folder),
            start=market.start,
            end=market.end,
            days=market.days,
            seed=seed,
        )
    except TradelibError as exc:
        raise GridError(source=source, problem=f"market {market.label!r}: {exc}") from None
    return plan.days
