"""The one command-line interface: ``tradelib``.

Each subsystem owns a module here (``<name>_cmd.py``) exposing either a Typer
group ``app`` or a plain command function. ``COMMANDS`` below is the only place
that names them; a module is imported only when its command runs (or its own
``--help`` is asked for), so ``tradelib --help`` imports no pydantic, polars or
pyarrow. Adding a command is one line in ``COMMANDS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
import typer.core
import typer.main

# typer 0.29 ships its own copy of click; its exceptions are the ones raised here
from typer._click import exceptions as click_exc
from typer._click.core import Command, Context
from typer._click.formatting import HelpFormatter

from tradelib.errors import TradelibError


@dataclass(frozen=True, slots=True)
class CommandEntry:
    """Where a command lives: ``module`` in tradelib.cli, ``attr`` a Typer app or a function."""

    module: str
    attr: str
    help: str  # shown by `tradelib --help` without importing the module


# command name -> where it lives. A Typer ``app`` attribute becomes a group
# (`tradelib lake ls`); a function becomes a command (`tradelib tick`).
COMMANDS: dict[str, CommandEntry] = {
    "alerts": CommandEntry("alerts_cmd", "app", "Alerts: send a test message, list recent ones."),
    "backtest": CommandEntry(
        "backtest_cmd", "backtest", "Backtest the rules over simulated or historical days."
    ),
    "book": CommandEntry("book_cmd", "app", "Book invariants now, and what a run traded."),
    "breaker": CommandEntry("breaker_cmd", "app", "The circuit breaker: status and reset."),
    "collect-futures": CommandEntry(
        "futures_cmd", "collect_futures", "Collect ES, NQ, RTY bars into the lake."
    ),
    "config": CommandEntry("config_cmd", "app", "Check and show the trading configuration."),
    "dashboards": CommandEntry(
        "dashboards_cmd", "dashboards", "Serve the Voila dashboards on 127.0.0.1."
    ),
    "demo": CommandEntry("demo_cmd", "demo", "Simulate trading days on the embedded market."),
    "gateway": CommandEntry("gateway_cmd", "gateway", "Run the simulated TWS gateway."),
    "gateway-fault": CommandEntry(
        "gateway_cmd", "gateway_fault", "Inject a fault into a running simulated gateway."
    ),
    "lake": CommandEntry("lake_cmd", "app", "Inspect and maintain the Delta Lake tables."),
    "preflight": CommandEntry(
        "preflight_cmd", "preflight", "Go / no-go checks of an IB set-up before trading."
    ),
    "schedule": CommandEntry("schedule_cmd", "app", "The job schedule, manual runs, the crontab."),
    "sweep": CommandEntry(
        "sweep_cmd", "sweep", "Backtest a parameter grid on dask (LocalCluster or a cluster)."
    ),
    "sync": CommandEntry("sync_cmd", "sync", "Reconcile positions and orders with the broker."),
    "tick": CommandEntry("schedule_cmd", "tick", "Run the jobs that are due now (cron)."),
}


def _load(name: str, entry: CommandEntry) -> Command | None:
    """Import ``entry``'s module and return its click command, or None if it is absent."""
    try:
        module = importlib.import_module(f"tradelib.cli.{entry.module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"tradelib.cli.{entry.module}":
            return None  # a subsystem not in this build
        raise
    target: Any = getattr(module, entry.attr, None)
    command: Command
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    elif callable(target):
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    else:
        return None
    command.name = name
    return command


class LazyGroup(typer.core.TyperGroup):
    """The root group: lists commands from ``COMMANDS`` and imports one only to run it."""

    def list_commands(self, ctx: Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        entry = COMMANDS.get(cmd_name)
        return None if entry is None else _load(cmd_name, entry)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = [(name, COMMANDS[name].help) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="tradelib",
    cls=LazyGroup,
    help="Autonomous options trading workspace for Interactive Brokers (simulated by default).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Autonomous options trading workspace for Interactive Brokers (simulated by default)."""


def main(args: list[str] | None = None) -> None:
    """Console entry point: any bad input becomes one ``error: ...`` line on stderr.

    Usage errors (bad option values) exit 2, tradelib errors exit 2, ``Exit(n)`` exits n.
    """
    try:
        code = typer.main.get_command(app).main(args=args, standalone_mode=False)
    except click_exc.NoArgsIsHelpError as exc:
        help_text = exc.format_message()  # the rich formatter has printed it already
        if help_text.strip():
            typer.echo(help_text)
        raise SystemExit(exc.exit_code) from None
    except click_exc.UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx else ""
        typer.echo(f"error: {where}{_one_line(exc.format_message())}", err=True)
        raise SystemExit(exc.exit_code) from None
    except click_exc.ClickException as exc:
        typer.echo(f"error: {_one_line(exc.format_message())}", err=True)
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None
    except TradelibError as exc:
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        raise SystemExit(2) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())
