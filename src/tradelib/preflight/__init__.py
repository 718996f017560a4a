"""Preflight: is this IB set-up ready for the jobs? A table of checks, each with its fix.

``run_preflight(cfg)`` connects read-only (what-if orders only) and returns a
``PreflightReport``; ``report.go`` is the verdict, ``report.table()`` a polars
frame for a notebook, ``report.lines()`` what ``tradelib preflight`` prints.
``run_preflight`` is imported on first use: the scheduler reads reports on every
tick and must not pay for the IB client's import when no preflight runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradelib.preflight.report import Check, CheckStatus, PreflightReport

if TYPE_CHECKING:
    from tradelib.preflight.run import run_preflight

__all__ = ["Check", "CheckStatus", "PreflightReport", "run_preflight"]


def __getattr__(name: str) -> Any:
    if name == "run_preflight":
        from tradelib.preflight.run import run_preflight

        return run_preflight
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
