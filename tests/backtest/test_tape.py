"""The market tape: recorded answers come back exact, errors come back raised, misses are named."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tradelib.backtest.tape import (
    RecordingSource,
    TapeMissError,
    TapeSource,
    entries_from_frame,
    tape_frame,
)
from tradelib.errors import LakeError
from tradelib.lake import Lake
from tradelib.markethours import MarketHours
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.stores.replay import (
    ReplayDataError,
    read_checkpoint,
    read_tape,
    replayable_days,
    write_tape,
)

DAY = date(2026, 11, 24)


def _market() -> SimulatedMarket:
    hours = MarketHours()
    open_, _ = hours.session_bounds(DAY)
    return SimulatedMarket(
        SimMarketConfig(seed=3, start=open_ + timedelta(minutes=30)), calendar=hours
    )


def _ask_everything(source: RecordingSource | TapeSource) -> list[object]:
    expiry = source.expiries("SPY")[2]
    strikes = source.strikes("SPY", expiry)
    chain = source.option_chain("SPY", expiry)
    strike = float(strikes[len(strikes) // 2])
    quote = source.option_quote("SPY", expiry, strike, "P")
    cid = source.con_id("SPY", expiry=expiry, strike=strike, right="P")
    now = source.now()
    bars = source.bars("SPY", now - timedelta(days=5), now, 86_400)
    return [
        source.spot("SPY"),
        source.quote("QQQ"),
        source.is_open("IWM"),
        expiry,
        strikes,
        chain,
        quote,
        cid,
        source.instrument(cid),
        bars,
    ]


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return bool(np.array_equal(a, b))  # type: ignore[arg-type]
    if isinstance(a, pl.DataFrame):
        return a.equals(b)  # type: ignore[arg-type]
    if hasattr(a, "__dataclass_fields__"):
        return all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


def test_a_tape_answers_the_recorded_questions_bit_for_bit_and_refuses_others() -> None:
    recorder = RecordingSource(_market())
    start = recorder.now()
    live = _ask_everything(recorder)
    recorder.advance(600)
    later = recorder.spot("SPY")
    with pytest.raises(Exception) as raised:
        recorder.option_quote("SPY", date(2031, 1, 17), 1.0, "P")  # no such expiry listed
    frame = tape_frame(recorder.entries.values())

    tape = TapeSource(entries_from_frame(pl.concat([frame, frame])), start=start)  # duplicates
    replayed = _ask_everything(tape)
    assert all(_same(a, b) for a, b in zip(live, replayed, strict=True))
    tape.advance(600)
    assert tape.spot("SPY") == later
    with pytest.raises(type(raised.value), match=str(raised.value)[:30]):
        tape.option_quote("SPY", date(2031, 1, 17), 1.0, "P")  # the error comes back too
    with pytest.raises(TapeMissError, match=r"spot\(DIA\)"):
        tape.spot("DIA")  # never asked
    with pytest.raises(TapeMissError, match="spot"):
        tape.spot("SPY", tape.now() - timedelta(seconds=1))  # asked, but not at that time
    assert tape.hours.name == "XNYS" and tape.underlyings == recorder.underlyings


def test_the_tape_round_trips_through_a_delta_lake_one_day_at_a_time(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    recorder = RecordingSource(_market())
    start = recorder.now()
    spot = recorder.spot("SPY")
    frame = tape_frame(recorder.entries.values())
    assert write_tape(lake, DAY, frame) == 2
    assert write_tape(lake, DAY, frame) == 2  # a second session asking the same: kept once on read
    write_tape(lake, DAY + timedelta(days=1), frame)
    back = read_tape(lake, DAY)
    assert back.height == 2 and back["value"].dtype == pl.Binary
    assert TapeSource(entries_from_frame(back), start=start).spot("SPY") == spot


def test_a_day_without_a_checkpoint_is_refused_naming_the_replayable_days(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    assert replayable_days(lake) == []
    with pytest.raises(ReplayDataError, match="replayable days: none"):
        read_checkpoint(lake, DAY)


def test_reading_a_version_that_does_not_exist_names_the_table(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    with pytest.raises(LakeError, match="market_tape"):
        lake.read_version("market_tape", 0)
    write_tape(lake, DAY, tape_frame(RecordingSource(_market()).entries.values()))
    write_tape(lake, DAY, tape_frame(RecordingSource(_market()).entries.values()))
    now = lake.version("market_tape")
    assert now is not None
    assert lake.read_version("market_tape", now).collect().height == 2
    assert lake.read_version("market_tape", now - 1).collect().height == 1  # before the last write
    with pytest.raises(LakeError, match=f"version {now + 5}"):
        lake.read_version("market_tape", now + 5).collect()
