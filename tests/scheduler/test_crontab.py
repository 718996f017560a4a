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


def test_the_crontab_ticks_every_minute_and_keeps_the_collector_alive() -> None:
    (schedule, command), (keep_schedule, keep_command) = entries(TEMPLATE.read_text())
    assert croniter.is_valid(schedule)
    fires = croniter(schedule, datetime(2026, 11, 24, 9, 29, 30))
    assert [fires.get_next(datetime).strftime("%H:%M") for _ in range(3)] == [
        "09:30",
        "09:31",
        "09:32",
    ]
    assert command.startswith(f"cd {HOME_PLACEHOLDER} && ")
    assert ".venv/bin/tradelib tick >> runs/cron.log 2>&1" in command
    # the collector refuses to start twice (its own lock), so a per-minute keep-alive is safe
    assert croniter.is_valid(keep_schedule)
    assert keep_command.startswith(f"cd {HOME_PLACEHOLDER} && ")
    assert ".venv/bin/tradelib collect-futures >> runs/futures_collector.log 2>&1" in keep_command


def test_the_block_names_the_checkout_and_quotes_an_awkward_path(tmp_path: Path) -> None:
    home = tmp_path / "my work"
    block = render_block(TEMPLATE.read_text(), home)
    commands = [command for _, command in entries(block)]
    assert len(commands) == 2
    assert all(command.startswith(f"cd '{home}' && ") for command in commands)
    assert HOME_PLACEHOLDER not in block
    with pytest.raises(SchedulerError, match="placeholder"):
        render_block("* * * * * true\n", home)


def test_merging_keeps_other_lines_and_replaces_our_block_in_place(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    mine = "MAILTO=me@example.com\n0 3 * * * /usr/local/bin/backup\n"
    first = merge_crontab(mine, render_block(TEMPLATE.read_text(), home), home)
    assert first.startswith(mine)
    assert len(entries(first)) == 3
    again = merge_crontab(first, render_block(TEMPLATE.read_text(), home), home)
    assert again == first
    changed = merge_crontab(
        first, render_block("* * * * * cd __TRADELIB_HOME__ && x\n", home), home
    )
    assert changed.startswith(mine)
    assert entries(changed)[1] == ("* * * * *", f"cd {home} && x")
    other = tmp_path / "other"
    both = merge_crontab(first, render_block(TEMPLATE.read_text(), other), other)
    assert len(entries(both)) == 5


def test_a_block_without_its_end_marker_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    broken = render_block(TEMPLATE.read_text(), home).splitlines()[:-1]
    with pytest.raises(SchedulerError, match="end marker"):
        merge_crontab("\n".join(broken), render_block(TEMPLATE.read_text(), home), home)
