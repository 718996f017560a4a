"""The one command-line interface: ``tradelib``.

Each subsystem owns a module here with its own Typer app; this module only
mounts them.
"""

from __future__ import annotations

import typer

from tradelib.cli import config_cmd, demo_cmd, gateway_cmd, lake_cmd
from tradelib.errors import TradelibError

app = typer.Typer(
    name="tradelib",
    help="Autonomous options trading workspace for Interactive Brokers (simulated by default).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(lake_cmd.app, name="lake")
app.command("demo")(demo_cmd.demo)
if hasattr(gateway_cmd, "gateway"):
    app.command("gateway")(gateway_cmd.gateway)


def main() -> None:
    """Console entry point: tradelib errors become one clear line on stderr and exit 2."""
    try:
        app()
    except TradelibError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
