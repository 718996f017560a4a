"""`tradelib lake ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="lake commands", no_args_is_help=True)
