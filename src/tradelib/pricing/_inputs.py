"""Validate and broadcast pricing arguments into flat float64 arrays for the kernels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tradelib.errors import PricingInputError

# Below this many elements a thread-pool launch costs more than it saves.
PARALLEL_MIN_SIZE = 4096


def _as_float(name: str, value: npt.ArrayLike) -> npt.NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PricingInputError(name=name, problem=f"not numeric ({exc})") from None
    return arr


def _as_bool(name: str, value: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    arr = np.asarray(value)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind in "iu" and np.all((arr == 0) | (arr == 1)):
        return arr.astype(np.bool_)
    raise PricingInputError(
        name=name, problem=f"expected bool (True = call, False = put), got dtype {arr.dtype}"
    )


def broadcast_inputs(
    floats: Sequence[tuple[str, npt.ArrayLike]],
    flag: tuple[str, npt.ArrayLike],
) -> tuple[tuple[int, ...], list[npt.NDArray[np.float64]], npt.NDArray[np.bool_]]:
    """Return the common shape, flat contiguous float arrays and the flat bool flag."""
    named: list[tuple[str, np.ndarray]] = [(n, _as_float(n, v)) for n, v in floats]
    named.append((flag[0], _as_bool(flag[0], flag[1])))
    shapes = {arr.shape for _, arr in named}
    if len(shapes - {()}) <= 1:
        # The usual call: scalars plus arrays of one shape (nothing to check pairwise).
        shape: tuple[int, ...] = max(shapes, key=len)
    else:
        shape = _common_shape(named)
    # Full-shape inputs pass through without a copy; broadcast ones are materialised
    # (a broadcast view is read-only, and numba compiles read-only arrays separately).
    flat = [_flat(a, shape) for _, a in named]
    return shape, flat[:-1], flat[-1]


def _common_shape(named: list[tuple[str, np.ndarray]]) -> tuple[int, ...]:
    shape: tuple[int, ...] = ()
    seen: list[str] = []
    for name, arr in named:
        try:
            shape = np.broadcast_shapes(shape, arr.shape)
        except ValueError:
            raise PricingInputError(
                name=name,
                problem=(
                    f"shape {arr.shape} does not broadcast with shape {shape} "
                    f"of ({', '.join(seen)})"
                ),
            ) from None
        seen.append(name)
    return shape


def _flat(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if a.shape == shape:
        return np.ascontiguousarray(a).reshape(-1)
    if a.ndim == 0:
        # A scalar fills a fresh array: what materialising its broadcast view gives, cheaper.
        return np.full(shape, a, dtype=a.dtype).reshape(-1)
    return np.array(np.broadcast_to(a, shape)).reshape(-1)
