"""`tradelib config ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from tradelib.config import TradingConfig, load_config, resolve_config_path
from tradelib.config.ib import ACCOUNT_ENV
from tradelib.errors import ConfigError, LiveTradingNotAllowed
from tradelib.secrets import mask_account, mask_all

app = typer.Typer(help="config commands", no_args_is_help=True)

EXIT_INVALID = 2


@app.callback()
def _config() -> None:
    """Check and show the trading configuration."""


def render_config(config: TradingConfig, source: Path | None) -> str:
    """Return ``config`` as YAML that loads back to the same config, secrets masked."""
    data = config.model_dump(mode="json", exclude={"ib": {"account"}})
    account = config.ib.account_id()
    header = [
        f"# source: {source if source else 'built-in defaults'}",
        f"# ib.account ({ACCOUNT_ENV}): {mask_account(account) if account else 'not set'}",
    ]
    if config.ib.mode == "live":
        try:
            config.ensure_live_allowed()
            header.append("# live trading: allowed in this environment")
        except LiveTradingNotAllowed as exc:
            header.append(f"# {exc}")
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    # Belt and braces: nothing registered as secret, nor account-shaped, gets through.
    return mask_all("\n".join(header) + "\n" + body)


@app.command("check")
def check(
    path: Annotated[
        Path | None,
        typer.Argument(help="config file; default: $TRADELIB_CONFIG or config/trading_config.yaml"),
    ] = None,
) -> None:
    """Validate the configuration and print the effective values (exit 2 if invalid)."""
    try:
        source = resolve_config_path(path)
        config = load_config(path)
    except ConfigError as exc:
        typer.echo(mask_all(str(exc)), err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(render_config(config, source), nl=False)
