"""Open the broker the configuration asks for: the one place jobs get a broker from.

``sim`` (the default) gives the embedded SimBroker, kept between job runs in
``simulation.state_path``; ``paper``, ``live`` and ``readonly`` give IBBroker
over ib_async. Live trading refuses to start without the double opt-in
(``ib.allow_live: true`` and ``TRADELIB_ALLOW_LIVE=1``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tradelib.broker.modes import build_broker
from tradelib.broker.port import Broker
from tradelib.config import TradingConfig, workspace_root

if TYPE_CHECKING:
    from tradelib.broker.sim_state import TapeSink


def sim_state_path(cfg: TradingConfig, base: Path | None = None) -> Path:
    """Where the simulated account lives (relative paths resolve against the workspace)."""
    path = Path(cfg.simulation.state_path)
    return path if path.is_absolute() else (base or workspace_root()) / path


@contextmanager
def open_broker(
    cfg: TradingConfig,
    *,
    role: str = "jobs",
    advance_to: datetime | None = None,
    state_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    tape: TapeSink | None = None,
) -> Iterator[Broker]:
    """Yield a connected broker for ``cfg.ib.mode``; disconnect (and persist a sim) on exit.

    ``advance_to`` applies to the simulated market only (a driver such as the
    demo moves simulated time between jobs); ``role`` picks the IB client id.
    ``tape`` (simulation only) receives every answer the market gave the session.
    """
    mode = cfg.ib.mode
    if mode == "sim":
        from tradelib.broker.sim import SimBroker
        from tradelib.broker.sim_state import sim_session

        path = state_path or sim_state_path(cfg)
        with sim_session(
            path, lambda: SimBroker.from_config(cfg), advance_to=advance_to, tape=tape
        ) as broker:
            yield broker
        return
    ib_broker = build_broker(cfg, role=role, env=env)
    ib_broker.connect()
    try:
        yield ib_broker
    finally:
        ib_broker.disconnect()
