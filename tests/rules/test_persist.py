"""Decisions stored in a real Delta table: readable, complete, and never twice."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tradelib.config import TradingConfig
from tradelib.domain import Decision, DecisionAction, Urgency
from tradelib.lake import Lake, TableName
from tradelib.rules import DecisionEngine
from tradelib.stores.decisions import decision_rows, inputs_json, record_decisions

from .scenarios import NOW, iron_condor, market, put_spread, state_of

ENGINE = DecisionEngine.from_config(TradingConfig())


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def _cycle(now: datetime = NOW) -> list[Decision]:
    states = [
        state_of(replace(put_spread(credit=1.0), strategy_id="loser"), [3.25, 0.25]),
        state_of(replace(iron_condor(), strategy_id="winner"), [0.375, 0.25, 0.375, 0.25]),
        state_of(replace(put_spread(), strategy_id="quiet"), [0.9, 0.25]),
    ]
    return ENGINE.evaluate_all(states, market(), now)


def test_decisions_round_trip_with_reason_urgency_and_inputs(lake: Lake) -> None:
    decisions = _cycle()
    stats = record_decisions(lake, decisions)
    assert stats.inserted == 3
    rows = lake.read(TableName.DECISIONS).sort("strategy_id").collect()
    loser = rows.filter(pl.col("strategy_id") == "loser").row(0, named=True)
    assert loser["rule"] == "stop_loss" and loser["action"] == "close"
    assert loser["urgency"] == "IMMEDIATE" and loser["priority"] == 1.0
    assert loser["reason"] == "loss 2.00x credit >= stop 2.00x: debit 3.00 vs credit 1.00"
    assert loser["ts"] == NOW and loser["date"] == NOW.date()
    inputs = json.loads(loser["inputs_json"])
    assert inputs["debit_to_close"] == 3.0 and inputs["stop_loss_multiple"] == 2.0
    assert set(rows["rule"]) == {"stop_loss", "dynamic_take_profit", "hold"}


def test_recording_the_same_cycle_again_adds_no_row(lake: Lake) -> None:
    record_decisions(lake, _cycle())
    again = record_decisions(lake, _cycle())
    assert again.inserted == 0
    assert lake.read(TableName.DECISIONS).collect().height == 3


def test_a_later_cycle_adds_its_own_rows(lake: Lake) -> None:
    record_decisions(lake, _cycle())
    record_decisions(lake, _cycle(NOW + timedelta(minutes=5)))
    assert lake.read(TableName.DECISIONS).collect().height == 6


def test_missing_numbers_are_stored_as_json_null() -> None:
    d = Decision(
        "x:1:hold", "x", NOW, "hold", 9.0, DecisionAction.HOLD, Urgency.LOW, "r", {"pnl": math.nan}
    )
    (row,) = decision_rows([d])
    assert json.loads(row["inputs_json"]) == {"pnl": None}
    assert inputs_json({"b": 1, "a": "x"}) == '{"a": "x", "b": 1}'
