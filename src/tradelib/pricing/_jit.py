"""Numba compilation helpers: on-disk caching when possible, never a hard failure."""

from __future__ import annotations

import os
import tempfile
import types
from collections.abc import Callable
from typing import Any

import numba

_KernelT = Callable[..., Any]


def _ensure_cache_dir() -> None:
    """Point numba at a writable cache dir when the package folder is read-only."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    if os.access(here, os.W_OK):
        return
    # A read-only install (site-packages owned by root, a container image...):
    # numba would refuse cache=True at decoration time, so give it a user dir.
    fallback = os.path.join(tempfile.gettempdir(), f"tradelib-numba-{os.getuid()}")
    try:
        os.makedirs(fallback, exist_ok=True)
    except OSError:
        return
    os.environ["NUMBA_CACHE_DIR"] = fallback
    # numba may already be imported (and read its env): set the live value too.
    setattr(numba.config, "CACHE_DIR", fallback)  # noqa: B010


_ensure_cache_dir()


def variant(func: _KernelT, suffix: str) -> _KernelT:
    """Return a copy of ``func`` named ``<name>_<suffix>``, its own numba cache identity.

    numba names a function's cache files after its qualified name and first line
    only, not after compile options: two ``cache=True`` dispatchers of one function
    (serial and parallel) share one entry per signature, and each loads whatever
    the other stored. A renamed copy (same code) gets files of its own.
    """
    copy = types.FunctionType(
        func.__code__, func.__globals__, f"{func.__name__}_{suffix}", func.__defaults__
    )
    copy.__qualname__ = f"{func.__qualname__}_{suffix}"
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    copy.__annotations__ = dict(getattr(func, "__annotations__", {}))
    return copy


def njit_kernel(parallel: bool) -> Callable[[_KernelT], _KernelT]:
    """Compile with ``cache=True`` (or without, if no cache location is writable).

    The serial and the parallel kernel of one body are separate cache entries
    (``<body>_serial`` and ``<body>_parallel``), so neither loads the other's code.
    """

    def wrap(func: _KernelT) -> _KernelT:
        named = variant(func, "parallel" if parallel else "serial")
        try:
            return numba.njit(cache=True, parallel=parallel, nogil=True)(named)
        except RuntimeError:
            # "cannot cache function ...: no locator available": compile per process.
            return numba.njit(cache=False, parallel=parallel, nogil=True)(named)

    return wrap


def njit_device(func: _KernelT) -> _KernelT:
    """Compile a scalar helper that kernels inline; cached like the kernels."""
    try:
        return numba.njit(cache=True)(func)
    except RuntimeError:
        return numba.njit(cache=False)(func)
