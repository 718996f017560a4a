"""`tradelib lake ls | show | maintain` against a real lake."""

from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner

from tradelib.cli.lake_cmd import app
from tradelib.lake import Lake

from .rows import T0, order_row

runner = CliRunner()


def _lake_with_orders(lake: Lake) -> None:
    for n in range(3):
        lake.upsert("orders", [order_row(f"o-{n}", updated_at=T0 + timedelta(minutes=n))])


def test_ls_shows_rows_of_written_tables_and_marks_the_others(lake: Lake) -> None:
    _lake_with_orders(lake)
    result = runner.invoke(app, ["ls", "--lake", lake.root])
    assert result.exit_code == 0, result.output
    orders = next(line for line in result.output.splitlines() if line.startswith("orders"))
    assert orders.split()[1:4] == ["3", "3", "3"]  # rows, version, files
    positions = next(line for line in result.output.splitlines() if line.startswith("positions"))
    assert "not created yet" in positions


def test_show_prints_the_newest_rows_first(lake: Lake) -> None:
    _lake_with_orders(lake)
    result = runner.invoke(app, ["show", "orders", "--limit", "2", "--lake", lake.root])
    assert result.exit_code == 0, result.output
    assert "o-2" in result.output and "o-1" in result.output
    assert "o-0" not in result.output
    assert result.output.index("o-2") < result.output.index("o-1")


def test_show_of_an_unknown_table_exits_2_listing_the_known_ones(lake: Lake) -> None:
    result = runner.invoke(app, ["show", "ordres", "--lake", lake.root])
    assert result.exit_code == 2
    assert "unknown table 'ordres'" in result.output
    assert "orders" in result.output


def test_maintain_compacts_every_existing_table(lake: Lake) -> None:
    _lake_with_orders(lake)
    result = runner.invoke(app, ["maintain", "--lake", lake.root, "--retention-hours", "0"])
    assert result.exit_code == 0, result.output
    assert "orders" in result.output and "files 3 -> 1" in result.output
    assert lake.info("orders").files == 1
