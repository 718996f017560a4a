"""The sweep's exceptions (kept beside the package until tradelib.errors takes them in)."""

from __future__ import annotations

from tradelib.errors import TradelibError


class GridError(TradelibError):
    """A sweep definition that cannot run: names the file, the key and the problem."""

    template = "sweep grid {source}: {problem}"


class SweepError(TradelibError):
    """A sweep that cannot start or finish as asked (cluster unreachable, id clash)."""

    template = "sweep {sweep_id}: {problem}"
