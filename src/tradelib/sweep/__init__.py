"""Parameter sweeps of backtests on dask.distributed (GRID.yaml -> one backtest per point).

``load_grid`` validates and expands a sweep definition; ``run_sweep`` runs the
points not yet stored (LocalCluster, an existing cluster, or this process) and
writes them to the backtest tables; ``tradelib.sweep.report`` reads them back.
"""

from tradelib.errors import GridError, SweepError
from tradelib.sweep.grid import SweepGrid, SweepPoint, build_grid, load_grid
from tradelib.sweep.runner import SweepResult, run_sweep

__all__ = [
    "GridError",
    "SweepError",
    "SweepGrid",
    "SweepPoint",
    "SweepResult",
    "build_grid",
    "load_grid",
    "run_sweep",
]
