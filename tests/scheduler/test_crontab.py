"""scheduled/crontab parses with croniter and ticks every minute; installing keeps other lines."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from croniter import croniter

from tradelib.errors import SchedulerError
from tradelib.scheduler.cron import HOME_PLACEHOLDER, merge_crontab, render_block

ENV_LINE = re.compile(r"^\s*\w+\s*=")
TEMPLATE = Path(__file__).parents[2] / "scheduled" / "crontab"


def entries(text: str) -> list[tuple[str, str]]:
    """Return (schedule, command) of every active crontab line (not comments or settings)."""
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and not ENV_LINE.match(line):
            fields = line.split(maxsplit=5)
            out.append((" ".join(fields[:5]), fields[5]))
    return out


def test_the_crontab_has_one_line_that_ticks_every_minute() -> None:
    ((schedule, command),) = entries(TEMPLATE.read_text())
    assert croniter.is_valid(schedule)
    fires = croniter(schedule, datetime(2026, 11, 24, 9, 29, 30))
    assert [fires.get_next(datetime).strftime("%H:%M") for _ in range(3)] == [
        "09:30",
        "09:31",
        "09:32",
    ]
    assert command.startswith(f"cd {HOME_PLACEHOLDER} && ")
    assert ".venv/bin/tradelib tick >> runs/cron.log 2>&1" in command


def test_the_futures_keep_alive_is_a_valid_commented_line() -> None:
    commented = [
        line.lstrip("# ") for line in TEMPLATE.read_text().splitlines() if "collect-futures" in line
    ]
    ((schedule, command),) = entries("\n".join(commented))
    assert croniter.is_valid(schedule)
    fires = croniter(schedule, datetime(2026, 11, 24, 9, 31))
    assert fires.get_next(datetime) == datetime(2026, 11, 24, 9, 35)
    assert "tradelib collect-futures --if-not-running" in command


def test_the_block_names_the_checkout_and_quotes_an_awkward_path(tmp_path: Path) -> None:
    home = tmp_path / "my work"
    block = render_block(TEMPLATE.read_text(), home)
    ((_, command),) = entries(block)
    assert command.startswith(f"cd '{home}' && ")
    assert HOME_PLACEHOLDER not in block
    with pytest.raises(SchedulerError, match="placeholder"):
        render_block("* * * * * true\n", home)


def test_merging_keeps_other_lines_and_replaces_our_block_in_place(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    mine = "MAILTO=me@example.com\n0 3 * * * /usr/local/bin/backup\n"
    first = merge_crontab(mine, render_block(TEMPLATE.read_text(), home), home)
    assert first.startswith(mine)
    assert len(entries(first)) == 2
    again = merge_crontab(first, render_block(TEMPLATE.read_text(), home), home)
    assert again == first
    changed = merge_crontab(
        first, render_block("* * * * * cd __TRADELIB_HOME__ && x\n", home), home
    )
    assert changed.startswith(mine)
    assert entries(changed)[1] == ("* * * * *", f"cd {home} && x")
    other = tmp_path / "other"
    both = merge_crontab(first, render_block(TEMPLATE.read_text(), other), other)
    assert len(entries(both)) == 3


def test_a_block_without_its_end_marker_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    broken = render_block(TEMPLATE.read_text(), home).splitlines()[:-1]
    with pytest.raises(SchedulerError, match="end marker"):
        merge_crontab("\n".join(broken), render_block(TEMPLATE.read_text(), home), home)
