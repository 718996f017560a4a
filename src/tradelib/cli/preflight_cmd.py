"""`tradelib preflight`: check the IB set-up (read-only) before the jobs run; exit 0 on go."""

from __future__ import annotations

from typing import Annotated

import typer


def preflight(
    host: Annotated[
        str | None, typer.Option(help="TWS / IB Gateway host (default: ib.host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="API port (default: ib.port).")] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", help="Config file (default: $TRADELIB_CONFIG or the workspace's)."
        ),
    ] = None,
    lake: Annotated[
        str | None, typer.Option("--lake", help="Lake URI or folder (default: storage.lake_uri).")
    ] = None,
) -> None:
    """Connect read-only and check server, clock, account, permissions, data, lake and breaker."""
    from tradelib.config import load_config
    from tradelib.preflight import run_preflight
    from tradelib.secrets import install_log_masking

    install_log_masking()
    report = run_preflight(load_config(config), host=host, port=port, lake_uri=lake)
    for line in report.lines():
        typer.echo(line)
    if not report.go:
        raise typer.Exit(1)
