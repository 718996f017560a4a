"""Two runs' books side by side: what one lake traded that the other did not."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tradelib.book.compare import compare_lakes
from tradelib.cli import app
from tradelib.domain import utc
from tradelib.lake import Lake

T0 = utc(2026, 11, 2, 15)


def _fill(exec_id: str, price: float) -> dict[str, object]:
    return {
        "exec_id": exec_id,
        "order_ref": "tl:s1:open:1",
        "con_id": 7,
        "symbol": "SPY",
        "side": "SLD",
        "quantity": 1.0,
        "price": price,
        "commission": 0.65,
        "ts": T0,
        "synced_at": None,
    }


def _lake(root: Path, *fills: dict[str, object]) -> Lake:
    lake = Lake(root)
    lake.append("executions", list(fills))
    return lake


def test_identical_runs_are_the_same_book(tmp_path: Path) -> None:
    a = _lake(tmp_path / "a", _fill("e1", 1.25))
    b = _lake(tmp_path / "b", _fill("e1", 1.25))
    result = compare_lakes(a, b)
    assert result.same
    assert "the same book" in result.lines()[0]


def test_a_changed_fill_price_and_a_missing_fill_are_named(tmp_path: Path) -> None:
    a = _lake(tmp_path / "a", _fill("e1", 1.25), _fill("e2", 0.90))
    b = _lake(tmp_path / "b", _fill("e1", 1.26))
    result = compare_lakes(a, b)
    fills = next(t for t in result.tables if t.table == "executions")
    assert not result.same
    assert fills.only_a == ("e2",) and fills.only_b == ()
    assert fills.changed == ("e1: price 1.25 -> 1.26",)
    # tables neither lake holds compare equal (both empty)
    assert next(t for t in result.tables if t.table == "strategies").same


def test_the_cli_exits_non_zero_on_a_difference(tmp_path: Path) -> None:
    _lake(tmp_path / "a", _fill("e1", 1.25))
    _lake(tmp_path / "b", _fill("e1", 1.30))
    runner = CliRunner()
    same = runner.invoke(app, ["book", "compare", str(tmp_path / "a"), str(tmp_path / "a")])
    differ = runner.invoke(app, ["book", "compare", str(tmp_path / "a"), str(tmp_path / "b")])
    missing = runner.invoke(app, ["book", "compare", str(tmp_path / "a"), str(tmp_path / "x")])
    assert same.exit_code == 0, same.output
    assert differ.exit_code == 1 and "e1: price 1.25 -> 1.3" in differ.output
    assert missing.exit_code == 2 and "no lake at" in missing.output
