"""`tradelib gateway`: the simulated TWS gateway."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer


def gateway(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port (IB paper TWS uses 7497; 0 = any free port).")
    ] = 7497,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 7,
    speed: Annotated[
        float, typer.Option(help="Market time per real second (1 = real pace).")
    ] = 1.0,
    day: Annotated[
        str | None,
        typer.Option(
            help="Trading day to start on, YYYY-MM-DD (default: today, or the next trading day)."
        ),
    ] = None,
) -> None:
    """Serve the TWS API socket protocol on a simulated market until SIGINT/SIGTERM."""
    import asyncio
    import logging
    import signal

    from tradelib.gateway import build_gateway
    from tradelib.secrets import install_log_masking

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    install_log_masking()
    start_day = date.fromisoformat(day) if day else None
    if speed < 0:
        raise typer.BadParameter("speed must be >= 0")

    async def serve() -> None:
        gw = build_gateway(seed=seed, day=start_day, host=host, port=port, speed=speed)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await gw.start()
        typer.echo(f"simulated TWS gateway listening on {host}:{gw.port} (Ctrl-C to stop)")
        await stop.wait()
        await gw.stop()

    asyncio.run(serve())
