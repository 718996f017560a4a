"""`tradelib sweep`: a bad grid exits 2 naming key and value before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelib.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRADELIB_CONFIG", raising=False)
    monkeypatch.delenv("TRADELIB_SWEEP_SCHEDULER", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (
            "grid:\n  strategies.target_delt: [0.1]\nmarkets: [{days: 2, end: 2026-11-25}]\n",
            "strategies.target_delt: unknown key 'target_delt' (did you mean 'target_delta'?)",
        ),
        (
            "grid:\n  rules.dte_exit: [14, x]\nmarkets: [{days: 2, end: 2026-11-25}]\n",
            "rules.dte_exit='x'",
        ),
        ("grid:\n  rules.dte_exit: [14]\nmarkets: [{days: 2}]\n", "needs days and end"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_a_bad_grid_exits_2_with_one_line_naming_the_problem(
    body: str, named: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = workspace / "GRID.yaml"
    grid.write_text(body)
    code, out, err = run(["sweep", str(grid), "--lake", str(workspace / "lake")], capsys)
    assert code == 2, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: sweep grid "), err
    assert named in lines[0], err
    assert not (workspace / "lake").exists()  # refused before anything ran or was written


def test_check_counts_the_points_and_runs_nothing(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = workspace / "GRID.yaml"
    grid.write_text(
        "sweep_id: small\n"
        "grid:\n  profit_targets.fixed: [0.4, 0.5]\n  strategies.target_delta: [0.1, 0.2]\n"
        "seeds: [1, 2]\nmarkets: [{days: 4, end: 2026-11-25}]\nsplit: {held_out_fraction: 0.5}\n"
    )
    code, out, _ = run(["sweep", str(grid), "--check", "--lake", str(workspace / "lake")], capsys)
    assert code == 0
    assert "sweep small: 16 points" in out
    assert not (workspace / "lake").exists()


def test_a_missing_grid_file_and_bad_options_are_usage_errors(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["sweep", str(workspace / "nope.yaml")], capsys)
    assert code == 2 and "does not exist" in err
    grid = workspace / "GRID.yaml"
    grid.write_text("grid: {}\nmarkets: [{days: 2, end: 2026-11-25}]\n")
    code, _, err = run(["sweep", str(grid), "--workers", "-1"], capsys)
    assert code == 2 and "--workers" in err


@pytest.mark.slow
def test_the_configured_scheduler_is_used_and_named_when_unreachable(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "grid.yaml").write_text(
        "grid:\n  rules.dte_exit: [14]\nmarkets: [{days: 2, end: 2026-11-25}]\n"
    )
    (workspace / "cfg.yaml").write_text(
        "sweeps:\n  scheduler: tcp://127.0.0.1:9\n  workers: 1\nstorage:\n  lake_uri: lake\n"
    )
    code, out, err = run(["sweep", "grid.yaml", "--config", "cfg.yaml", "-q"], capsys)
    assert code != 0
    assert "tcp://127.0.0.1:9" in out + err  # the config's address, not a LocalCluster


@pytest.mark.parametrize("address", ["127.0.0.1:8786", "http://host:8786", "tcp://a b:1"])
def test_a_scheduler_address_that_is_not_a_dask_address_is_refused(address: str) -> None:
    from tradelib.config import InvalidConfigError, TradingConfig

    with pytest.raises(InvalidConfigError, match=r"sweeps\.scheduler"):
        TradingConfig.from_mapping({"sweeps": {"scheduler": address}})
