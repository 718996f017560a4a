"""Property-based fuzzing of the config: mutate the default file and check that
`tradelib config check` accepts what is valid, rejects what is not with exit code 2
and the key named, and never shows a traceback."""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from tradelib.cli.config_cmd import app
from tradelib.config import TradingConfig, load_config
from tradelib.config.base import MAX_MAGNITUDE
from tradelib.config.problems import dotted

pytestmark = pytest.mark.slow  # hypothesis: hundreds of generated configs per test

runner = CliRunner()
DEFAULTS: dict[str, Any] = TradingConfig().model_dump(mode="json", exclude={"ib": {"account"}})
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _leaves(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], Any]]:
    if isinstance(node, dict) and node:
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(node, list) and node:
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*path, i))]
    return [(path, node)]


LEAVES = _leaves(DEFAULTS)

ODD_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 0.0, -0.0]),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**20, 10**4000]),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
    st.sampled_from(["", " ", "yes", "no", "on", "1", "../../etc/x", "NOPE", "\x00", "SPY"]),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _certainly_invalid(default: Any, value: Any) -> bool:
    """Return True for values no setting of ``default``'s kind may ever hold."""
    if isinstance(default, bool):
        return not isinstance(value, bool)
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True
        if isinstance(value, int):
            return abs(value) > MAX_MAGNITUDE
        return not math.isfinite(value) or abs(value) > MAX_MAGNITUDE
    if isinstance(default, str):
        return not isinstance(value, str) or not value.strip() or value != value.strip()
    return False


def _check(data: dict[str, Any]) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trading_config.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        result = runner.invoke(app, ["check", str(path)])
        if result.exit_code == 0:
            config = load_config(path)  # what check accepted really loads
            for _, leaf in _leaves(config.model_dump(mode="json")):
                assert not (isinstance(leaf, float) and not math.isfinite(leaf)), leaf
    # never a traceback: the only exception a clean exit leaves is SystemExit
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    return result


def _names(output: str, path: tuple[str | int, ...]) -> bool:
    """Return whether ``output`` names ``path``: the dotted key, or its section and name."""
    if dotted(path) in output:
        return True
    names = [p for p in path if isinstance(p, str)]
    return names[-1] in output and dotted(names[:-1]) in output


@FUZZ
@given(leaf=st.sampled_from(LEAVES), value=ODD_VALUES)
def test_a_mutated_value_is_accepted_or_rejected_naming_its_key(
    leaf: tuple[tuple[str | int, ...], Any], value: Any
) -> None:
    path, default = leaf
    data = copy.deepcopy(DEFAULTS)
    _set(data, path, value)
    result = _check(data)
    if _certainly_invalid(default, value):
        assert result.exit_code == 2, f"{dotted(path)}={value!r} accepted"
    if result.exit_code == 2:
        assert _names(result.output, path), result.output


@settings(FUZZ, max_examples=60)
@given(leaf=st.sampled_from(LEAVES))
def test_the_default_value_written_another_valid_way_is_accepted(
    leaf: tuple[tuple[str | int, ...], Any],
) -> None:
    path, default = leaf
    data = copy.deepcopy(DEFAULTS)
    # a whole float written as an int (2000 for 2000.0) is the same valid setting
    same = int(default) if isinstance(default, float) and default.is_integer() else default
    _set(data, path, same)
    assert _check(data).exit_code == 0


@settings(FUZZ, max_examples=60)
@given(
    section=st.sampled_from(sorted(DEFAULTS)),
    key=st.text(min_size=1, max_size=12),
    value=ODD_VALUES,
)
def test_an_unknown_key_is_rejected_by_name(section: str, key: str, value: Any) -> None:
    data = copy.deepcopy(DEFAULTS)
    if not isinstance(data[section], dict) or key in data[section]:
        return
    data[section][key] = value
    result = _check(data)
    assert result.exit_code == 2
    assert section in result.output


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_a_corrupted_file_never_crashes_the_loader(data: st.DataObject) -> None:
    text = bytearray(yaml.safe_dump(DEFAULTS, sort_keys=False).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        at = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
        text[at : at + 1] = data.draw(st.binary(min_size=0, max_size=4))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.yaml"
        path.write_bytes(bytes(text))
        result = runner.invoke(app, ["check", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code in (0, 2)
