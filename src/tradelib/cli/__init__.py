"""The one command-line interface: ``tradelib``.

Each subsystem owns a module here (``<name>_cmd.py``) exposing either a Typer
group ``app`` or plain command functions; this module only mounts them. Command
modules import heavy dependencies inside their functions so the CLI starts fast.
"""

from __future__ import annotations

import importlib

import typer

from tradelib.errors import TradelibError

app = typer.Typer(
    name="tradelib",
    help="Autonomous options trading workspace for Interactive Brokers (simulated by default).",
    no_args_is_help=True,
    add_completion=False,
)

# group name -> module exposing a Typer ``app``
_GROUPS = {
    "config": "config_cmd",
    "lake": "lake_cmd",
    "breaker": "breaker_cmd",
    "schedule": "schedule_cmd",
}
# command name -> (module, function)
_COMMANDS = {
    "demo": ("demo_cmd", "demo"),
    "gateway": ("gateway_cmd", "gateway"),
    "gateway-fault": ("gateway_cmd", "gateway_fault"),
    "preflight": ("preflight_cmd", "preflight"),
    "sync": ("sync_cmd", "sync"),
    "collect-futures": ("futures_cmd", "collect_futures"),
    "tick": ("schedule_cmd", "tick"),
    "dashboards": ("dashboards_cmd", "dashboards"),
}


def _module(name: str) -> object | None:
    try:
        return importlib.import_module(f"tradelib.cli.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"tradelib.cli.{name}":
            return None
        raise


for _group, _mod_name in _GROUPS.items():
    _mod = _module(_mod_name)
    if _mod is not None and isinstance(getattr(_mod, "app", None), typer.Typer):
        app.add_typer(_mod.app, name=_group)  # type: ignore[attr-defined]
for _cmd, (_mod_name, _fn) in _COMMANDS.items():
    _mod = _module(_mod_name)
    if _mod is not None and callable(getattr(_mod, _fn, None)):
        app.command(_cmd)(getattr(_mod, _fn))


def main() -> None:
    """Console entry point: tradelib errors become one clear line on stderr and exit 2."""
    try:
        app()
    except TradelibError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
