"""`tradelib dashboards`: serve the monitoring and futures dashboards with Voila on 127.0.0.1.

Voila serves the whole ``dashboards/`` folder, so both notebooks share one
server (each page load gets its own kernel); the command replaces itself with
Voila, so stopping it stops the server and its kernels. Kernels are preheated
(started, the notebook executed) so a page shows data at once; ``--pool-size 0``
falls back to progressive rendering (Voila's default mode hung on the second load
of a page whose Output widget holds a plotly figure, see TOOLCHAIN). The
dashboards read the lake only.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from tradelib.cli.params import ExistingLakeOption

HOST = "127.0.0.1"  # never all interfaces: the dashboards show account data
DEFAULT_PORT = 8866
NOTEBOOKS = ("monitoring.ipynb", "futures.ipynb")
DEFAULT_POOL = 1  # preheated kernels per notebook (each holds a dashboard: < 1 GiB)


def voila_executable() -> str:
    """The ``voila`` next to this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "voila"
    if beside.exists():
        return str(beside)
    found = shutil.which("voila")
    if found is None:
        raise typer.BadParameter("voila is not installed in this environment")
    return found


def voila_server_options(*, preheat: bool = True, pool_size: int = DEFAULT_POOL) -> list[str]:
    """Voila's render options: preheated kernels (the default) or progressive rendering.

    Preheat keeps ``pool_size`` kernels per notebook started with the notebook
    already executed, so a page shows data at once instead of after a kernel
    start and the imports (see docs/benchmarks.md); Voila does not allow it
    together with progressive rendering. Without preheat, progressive rendering
    (the default render mode hung on a second load with plotly in an Output widget).
    """
    if preheat and pool_size > 0:
        return ["--preheat_kernel=True", f"--pool_size={pool_size}"]
    return ["--progressive_rendering=True"]


def voila_command(
    folder: Path,
    port: int,
    voila: str = "voila",
    *,
    preheat: bool = True,
    pool_size: int = DEFAULT_POOL,
) -> list[str]:
    """The Voila command line that serves every notebook in ``folder`` on 127.0.0.1:``port``."""
    return [
        voila,
        str(folder),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={HOST}",
        *voila_server_options(preheat=preheat, pool_size=pool_size),
    ]


def dashboard_urls(port: int) -> dict[str, str]:
    """The page of each dashboard on a server started by ``voila_command``."""
    return {name: f"http://{HOST}:{port}/voila/render/{name}" for name in NOTEBOOKS}


def dashboards(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = DEFAULT_PORT,
    lake: ExistingLakeOption = None,
    config: Annotated[
        Path | None, typer.Option(help="Config file (default: config/trading_config.yaml).")
    ] = None,
    pool_size: Annotated[
        int,
        typer.Option(
            help="Preheated kernels per dashboard (0: none, start a kernel per page load "
            "with progressive rendering)."
        ),
    ] = DEFAULT_POOL,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the command and URLs; start nothing.")
    ] = False,
) -> None:
    """Serve both dashboards (monitoring, futures) with Voila on 127.0.0.1."""
    from tradelib.config import CONFIG_ENV, workspace_root
    from tradelib.dashboards.common import LAKE_ENV

    root = workspace_root()
    folder = root / "dashboards"
    if not folder.is_dir():
        raise typer.BadParameter(f"no dashboards/ folder under {root}")
    env = dict(os.environ)
    if lake:
        env[LAKE_ENV] = lake
    if config is not None:
        env[CONFIG_ENV] = str(config.resolve())
    command = voila_command(
        folder, port, "voila" if dry_run else voila_executable(), pool_size=pool_size
    )
    for name, url in dashboard_urls(port).items():
        typer.echo(f"{name.removesuffix('.ipynb'):>10}: {url}")
    if dry_run:
        typer.echo(" ".join(command))
        return
    typer.echo("Ctrl-C stops the server.")
    sys.stdout.flush()
    # Become Voila: Ctrl-C and SIGTERM then reach the server itself, which shuts
    # its kernels down (a parent waiting on it would leave them orphaned).
    os.chdir(root)
    os.execve(command[0], command, env)
