"""Preflight: is this IB set-up ready for the jobs? A table of checks, each with its fix.

``run_preflight(cfg)`` connects read-only (what-if orders only) and returns a
``PreflightReport``; ``report.go`` is the verdict, ``report.table()`` a polars
frame for a notebook, ``report.lines()`` what ``tradelib preflight`` prints.
"""

from tradelib.preflight.report import Check, CheckStatus, PreflightReport
from tradelib.preflight.run import run_preflight

__all__ = ["Check", "CheckStatus", "PreflightReport", "run_preflight"]
