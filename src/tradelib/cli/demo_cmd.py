"""`tradelib demo`: run the main job on the embedded simulated market."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from tradelib.cli.params import MAX_DEMO_DAYS, LakeOption, choice, parse_day

ConfigOpt = Annotated[
    Path | None, typer.Option(help="Config file (default: config/trading_config.yaml).")
]

DayOpt = Annotated[
    date | None,
    typer.Option(
        help="Last trading day to simulate, YYYY-MM-DD (default: today or the one before).",
        parser=parse_day,
        metavar="YYYY-MM-DD",
    ),
]

DaysOpt = Annotated[
    int,
    typer.Option(
        min=1,
        max=MAX_DEMO_DAYS,
        help="Trading days to simulate through the real jobs (21 = a month); 1 = the quick one-day demo.",
    ),
]

BrokerOpt = Annotated[
    str,
    typer.Option(
        parser=choice("sim", "ib"),
        help="sim: SimBroker directly; ib: the one-day demo through ib_async and the simulated TWS gateway.",
    ),
]

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")]

FreshOpt = Annotated[
    bool,
    typer.Option(
        "--fresh", help="Empty the lake first, even one the demo did not write (month demo)."
    ),
]


def demo(
    config: ConfigOpt = None,
    lake: LakeOption = None,
    day: DayOpt = None,
    days: DaysOpt = 21,
    broker: BrokerOpt = "sim",
    quiet: QuietOpt = False,
    fresh: FreshOpt = False,
) -> None:
    """Simulate trading days on the embedded market through the jobs and record them in the lake."""
    import yaml

    from tradelib.config import load_config, resolve_config_path, workspace_root
    from tradelib.demo.day import run_demo
    from tradelib.demo.month import run_demo_month
    from tradelib.lake import Lake
    from tradelib.secrets import install_log_masking

    install_log_masking()
    cfg = load_config(config)
    if cfg.ib.mode != "sim":
        raise typer.BadParameter(
            f"the demo runs on the simulated market only (ib.mode is {cfg.ib.mode!r})"
        )
    target = Lake(lake) if lake else Lake.from_config(cfg)
    last_day = day
    progress = (lambda _m: None) if quiet else typer.echo
    if days == 1 or broker == "ib":
        summary = run_demo(cfg, lake=target, day=last_day, broker_kind=broker, progress=progress)
        lines = summary.lines()
    else:
        root = workspace_root()
        runs = root / cfg.storage.runs_dir
        # The job notebooks load a config file: give them this run's (same lake, no secrets).
        demo_cfg = cfg.with_overrides({"storage.lake_uri": str(target.root)})
        demo_config = runs / "demo" / "trading_config.yaml"
        demo_config.parent.mkdir(parents=True, exist_ok=True)
        data = demo_cfg.model_dump(mode="json", exclude={"ib": {"account"}})
        demo_config.write_text(
            f"# written by `tradelib demo` from {resolve_config_path(config) or 'the defaults'}\n"
            + yaml.safe_dump(data, sort_keys=False)
        )
        month = run_demo_month(
            demo_cfg,
            root=root,
            lake=target,
            days=days,
            end=last_day,
            config_path=demo_config,
            progress=progress,
            fresh=fresh,
        )
        lines = month.lines()
    for line in lines:
        typer.echo(line)
    typer.echo("open the dashboards: make dashboards  (or: .venv/bin/tradelib dashboards)")
