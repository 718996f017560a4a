"""Issue 17: every command (but `gateway`, hardened separately) given bad values exits
non-zero with one clean `error: ...` line naming the problem, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelib.cli import COMMANDS, main

HUGE = "99999999999999999999999"

BAD_CALLS: list[tuple[list[str], str]] = [
    # lake
    (["lake", "show", "-n", HUGE, "orders"], "--limit"),
    (["lake", "show", "-n", "0", "orders"], "--limit"),
    (["lake", "show", "-n", "x", "orders"], "--limit"),
    (["lake", "show", "--lake", "/etc/passwd", "orders"], "not a folder"),
    (["lake", "show", "nosuchtable"], "unknown table"),
    (["lake", "ls", "--lake", "/etc/passwd"], "not a folder"),
    (["lake", "maintain", "--retention-hours", "-1"], "--retention-hours"),
    (["lake", "maintain", "--retention-hours", HUGE], "--retention-hours"),
    (["lake", "nosuch"], "No such command"),
    # schedule / tick
    (["schedule", "set", "sync", "99999999999999999999"], "every"),
    (["schedule", "set", "sync", "0"], "every"),
    (["schedule", "set", "sync", "-3"], "-3"),
    (["schedule", "set", "sync", "5", "--timeout", HUGE], "--timeout"),
    (["schedule", "set", "sync", "5", "--timeout", "0"], "--timeout"),
    (["schedule", "set", "nosuchjob", "5"], "unknown job"),
    (["schedule", "set", "../../etc/x", "5"], "invalid job name"),
    (["schedule", "run", "../x"], "invalid job name"),
    (["schedule", "run", "nosuchjob"], "nosuchjob"),
    (["schedule", "ls", "--config", "/nonexistent.yaml"], "config file not found"),
    (["tick", "--at", "2026-01-01T10:00"], "time zone"),
    (["tick", "--at", "yesterday"], "--at"),
    (["tick", "--config", "/etc/passwd"], "/etc/passwd"),
    # demo
    (["demo", "--day", "2026-13-45"], "--day"),
    (["book", "summary", "--lake", "/etc/passwd"], "not a folder"),
    (["book", "compare", "/etc/passwd", "/tmp"], "not a folder"),
    (["backtest", "--days", "0"], "--days"),
    (["backtest", "--days", HUGE], "--days"),
    (["backtest", "--cycles", "0"], "--cycles"),
    (["backtest", "--end", "2026-02-30"], "--end"),
    (["backtest", "--source", "nowhere"], "--source"),
    (["backtest", "--source", "history", "--history", "/etc/passwd"], "--history"),
    (["backtest", "--run-id", " "], "--run-id"),
    (["backtest", "--lake", "/etc/passwd"], "not a folder"),
    (["backtest", "--source", "lake"], "--day"),
    (["backtest", "--day", "2026-11-24"], "--day"),
    (["backtest", "--source", "lake", "--day", "2026-11-31"], "--day"),
    (["backtest", "--source", "lake", "--day", "2026-11-24"], "replayable days: none"),
    (["preflight", "--port", "70000"], "--port"),
    (["preflight", "--host", " "], "--host"),
    (["preflight", "--lake", "/etc/passwd"], "not a folder"),
    (["book", "check", "--config", "/nonexistent.yaml"], "config file not found"),
    (["alerts", "ls", "--hours", "nan"], "--hours"),
    (["alerts", "test", "--lake", "/etc/passwd"], "not a folder"),
    (["demo", "--days", "0"], "--days"),
    (["demo", "--days", HUGE], "--days"),
    (["demo", "--broker", "nope"], "--broker"),
    (["demo", "--lake", "/etc/passwd"], "not a folder"),
    # dashboards
    (["dashboards", "--port", "-5"], "--port"),
    (["dashboards", "--port", "70000"], "--port"),
    (["dashboards", "--lake", "/etc/passwd"], "not a folder"),
    # collect-futures
    (["collect-futures", "--minutes", "nan"], "--minutes"),
    (["collect-futures", "--minutes", "inf"], "--minutes"),
    (["collect-futures", "--minutes", "-1"], "--minutes"),
    (["collect-futures", "--poll-seconds", "0"], "--poll-seconds"),
    (["collect-futures", "--until", "99999-01-01"], "--until"),
    (["collect-futures", "--until", "0001-01-01"], "--until"),
    (["collect-futures", "--sim-start", "soon"], "--sim-start"),
    # breaker, config, sync
    (["breaker", "reset", "--by", " "], "needs a name"),
    (["breaker", "reset"], "--by"),
    (["breaker", "status", "--lake", "/etc/passwd"], "not a folder"),
    (["config", "check", "/nonexistent.yaml"], "not found"),
    (["config", "check", "/etc/passwd"], "/etc/passwd"),
    (["sync", "--lake", "/etc/passwd"], "not a folder"),
    # sweep
    (["sweep", "/nonexistent.yaml"], "does not exist"),
    (["sweep", "/etc/passwd"], "the top level must be a mapping"),
    (["sweep", "/etc/passwd", "--workers", "-1"], "--workers"),
    (["sweep", "/etc/passwd", "--lake", "/etc/passwd"], "not a folder"),
    (["nosuchcommand"], "No such command"),
]


def test_every_command_but_gateway_is_driven_with_bad_values() -> None:
    driven = {args[0] for args, _ in BAD_CALLS}
    assert driven >= set(COMMANDS) - {"gateway", "gateway-fault"}


@pytest.mark.parametrize(("args", "named"), BAD_CALLS, ids=[" ".join(a) for a, _ in BAD_CALLS])
def test_a_bad_value_is_one_clean_error_line_and_a_non_zero_exit(
    args: list[str],
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # an empty workspace: built-in defaults, a fresh lake
    monkeypatch.delenv("TRADELIB_CONFIG", raising=False)
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    assert info.value.code not in (0, None), out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    if args[:2] != ["config", "check"]:  # check prints its problem report as is
        assert lines[0].startswith("error: "), err
    assert named in lines[0], err
    assert "Traceback" not in out + err
