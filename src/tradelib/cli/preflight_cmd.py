"""`tradelib preflight`: check the IB set-up (read-only) before the jobs run; exit 0 on go."""

from __future__ import annotations

from typing import Annotated

import typer

from tradelib.cli.params import ConfigPathOption, LakeOption, check_name


def preflight(
    host: Annotated[
        str | None,
        typer.Option(
            help="TWS / IB Gateway host (default: ib.host).",
            callback=lambda v: None if v is None else check_name(v),
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="API port (default: ib.port).", min=1, max=65535)
    ] = None,
    config: ConfigPathOption = None,
    lake: LakeOption = None,
) -> None:
    """Connect read-only and check server, clock, account, permissions, data, lake and breaker."""
    from tradelib.config import load_config
    from tradelib.preflight import run_preflight
    from tradelib.secrets import install_log_masking

    install_log_masking()
    cfg = load_config(config)
    report = run_preflight(cfg, host=host, port=port, lake_uri=lake)
    for line in report.lines():
        typer.echo(line)
    if not report.go:
        raise typer.Exit(1)
