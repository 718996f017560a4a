"""`tradelib gateway`: the simulated TWS gateway; `tradelib gateway-fault`: break a running one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

import typer

from tradelib.gateway.faults import FAULT_SPEC_HELP, FaultCommand

_FAULTS_DOC = "\n\n\b\n" + FAULT_SPEC_HELP  # \b: keep the syntax table's line breaks


def gateway(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port (IB paper TWS uses 7497; 0 = any free port).")
    ] = 7497,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 7,
    speed: Annotated[
        float, typer.Option(help="Market time per real second (1 = real pace).")
    ] = 1.0,
    clock: Annotated[
        str,
        typer.Option(
            help="sim: start at 09:45 New York of --day and run at --speed; "
            "wall: follow the wall clock with real exchange hours."
        ),
    ] = "sim",
    day: Annotated[
        str | None,
        typer.Option(
            help="Trading day to start on, YYYY-MM-DD (default: today, or the next trading day)."
        ),
    ] = None,
    faults: Annotated[
        str,
        typer.Option(
            help="Faults armed at start-up, a comma list (syntax above), "
            "e.g. line_limit=50,drop_after_order,reject_next_order=201,delay=0.5."
        ),
    ] = "",
    control_port: Annotated[
        int | None,
        typer.Option(
            help="Serve the fault control channel on 127.0.0.1 at this port "
            "(drive it with `tradelib gateway-fault --port P ...`; 0 = any free port)."
        ),
    ] = None,
) -> None:
    """Serve the TWS API socket protocol on a simulated market until SIGINT/SIGTERM."""
    import asyncio
    import logging

    from tradelib.gateway import parse_fault_spec
    from tradelib.secrets import install_log_masking

    start_day = date.fromisoformat(day) if day else None
    _check_clock(speed, clock, day)
    commands = parse_fault_spec(faults)  # a bad spec fails before anything starts
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    install_log_masking()
    asyncio.run(
        _serve(
            commands,
            seed=seed,
            day=start_day,
            wall_clock=clock == "wall",
            host=host,
            port=port,
            speed=speed,
            control_port=control_port,
        )
    )


def _check_clock(speed: float, clock: str, day: str | None) -> None:
    """Refuse a negative speed, an unknown clock, and --day or --speed with the wall clock."""
    if speed < 0:
        raise typer.BadParameter("speed must be >= 0")
    if clock not in ("sim", "wall"):
        raise typer.BadParameter(f"--clock must be sim or wall, got {clock!r}")
    if clock == "wall" and (day or speed != 1.0):
        raise typer.BadParameter("--clock wall follows the wall clock: drop --day and --speed")


async def _serve(
    commands: Sequence[FaultCommand],
    *,
    seed: int,
    day: date | None,
    wall_clock: bool,
    host: str,
    port: int,
    speed: float,
    control_port: int | None,
) -> None:
    """Build the gateway, arm ``commands``, serve until SIGINT/SIGTERM, then stop it."""
    import asyncio
    import signal

    from tradelib.gateway import build_gateway

    gw = build_gateway(
        seed=seed,
        day=day,
        wall_clock=wall_clock,
        host=host,
        port=port,
        speed=speed,
        control_port=control_port,
    )
    for command in commands:
        command.apply(gw.faults)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await gw.start()
    typer.echo(f"simulated TWS gateway listening on {host}:{gw.port} (Ctrl-C to stop)")
    if gw.control_port is not None:
        typer.echo(f"fault control channel on 127.0.0.1:{gw.control_port}")
    if commands:
        typer.echo("faults armed: " + ", ".join(c.name for c in commands))
    await stop.wait()
    await gw.stop()


gateway.__doc__ = (gateway.__doc__ or "") + _FAULTS_DOC


def gateway_fault(
    commands: Annotated[
        list[str],
        typer.Argument(help="Faults in the --faults syntax (one per argument), or 'stats'."),
    ],
    port: Annotated[int, typer.Option(help="The gateway's --control-port.")],
    host: Annotated[str, typer.Option(help="Host of the control channel.")] = "127.0.0.1",
) -> None:
    """Inject faults into a running `tradelib gateway --control-port P`; print each reply."""
    from tradelib.gateway.control import send_control

    try:
        replies = send_control(port, commands, host=host)
    except OSError as exc:
        typer.echo(
            f"error: cannot reach the gateway control channel on {host}:{port}: {exc}", err=True
        )
        raise typer.Exit(2) from None
    failed = False
    for command, reply in zip(commands, replies, strict=True):
        typer.echo(f"{command}: {reply}")
        failed = failed or reply.startswith("error")
    if failed:
        raise typer.Exit(2)


gateway_fault.__doc__ = (gateway_fault.__doc__ or "") + _FAULTS_DOC
