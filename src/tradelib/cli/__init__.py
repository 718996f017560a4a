"""The one command-line interface: ``tradelib``.

Each subsystem owns a module here with its own Typer app; this module only
mounts them.
"""

from __future__ import annotations

import typer

from tradelib.cli import config_cmd, demo_cmd, lake_cmd

app = typer.Typer(
    name="tradelib",
    help="Autonomous options trading workspace for Interactive Brokers (simulated by default).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(lake_cmd.app, name="lake")
app.command("demo")(demo_cmd.demo)


def main() -> None:  # pragma: no cover - console entry point
    app()
