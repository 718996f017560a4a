"""A market rebuilt in another process adopts what the last one worked out, and answers the same.

Each papermill job of a simulated account rebuilds the market from its config; before the
memo it regenerated every second since the account's first day (most of a job's time).
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import SimState, load_sim_broker, restore_state, save_sim_broker
from tradelib.markethours import NEW_YORK
from tradelib.sim import SimMarketConfig, SimulatedMarket
from tradelib.sim import market as market_module

START = datetime(2026, 11, 2, 9, 45, tzinfo=NEW_YORK).astimezone(UTC)
SYMBOLS = ("SPY", "QQQ", "IWM", "VIX", "ES")


def walked(seed: int = 5, sessions: int = 6) -> SimulatedMarket:
    """A market advanced ``sessions`` trading days, asked daily bars along the way."""
    m = SimulatedMarket(SimMarketConfig(seed=seed, start=START))
    for _ in range(sessions):
        m.advance(86_400)
        for symbol in SYMBOLS:
            m.bars(symbol, START - timedelta(days=60), m.now(), 86_400)
    return m


def answers(m: SimulatedMarket) -> list[object]:
    now = m.now()
    daily = [m.bars(s, START - timedelta(days=60), now, 86_400) for s in SYMBOLS]
    minute = [m.bars(s, now - timedelta(hours=3), now, 60) for s in ("SPY", "VIX")]
    expiry = m.expiries("SPY")[3]
    strikes = m.strikes("SPY", expiry)
    strike = float(strikes[len(strikes) // 2])
    return [
        *(m.spot(s) for s in SYMBOLS),
        *(m.spot("SPY", now - timedelta(days=d)) for d in (1, 3, 5)),
        m.regime(),
        *(f.rows() for f in (*daily, *minute)),
        m.option_quote("SPY", expiry, strike, "P"),
        m.option_chain("SPY", expiry).bid.tolist(),
    ]


def count_generated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    generated: list[int] = []
    real = market_module.generate_block

    def counting(*args: object, **kwargs: object) -> object:
        generated.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(market_module, "generate_block", counting)
    return generated


def test_a_market_that_adopts_the_memo_answers_exactly_as_one_that_regenerates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = walked()
    memo = source.memo()
    assert len(memo.days) >= 6 and len(memo.days) <= len(memo.states) <= len(memo.days) + 1
    assert memo.session_bars  # the finished sessions' daily bars travel too

    fresh = SimulatedMarket(source.config)
    fresh.advance_to(source.now())
    expected = answers(fresh)

    generated = count_generated(monkeypatch)
    adopted = SimulatedMarket(pickle.loads(pickle.dumps(memo)).config)
    assert adopted.adopt(pickle.loads(pickle.dumps(memo))) is True
    adopted.advance_to(source.now())
    assert answers(adopted) == expected
    # only the sessions asked at 1-second resolution are generated (today, and the three
    # past sessions of the spot probes), straight from their memorised starting states
    assert len(generated) == 4


def test_without_the_memo_every_session_since_the_first_is_regenerated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = walked()
    generated = count_generated(monkeypatch)
    fresh = SimulatedMarket(source.config)
    fresh.advance_to(source.now())
    answers(fresh)
    assert len(generated) >= 6  # what the memo saves every job


@pytest.mark.parametrize("other", ["seed", "start", "calendar"])
def test_a_memo_of_another_market_is_ignored_and_answers_stay_right(other: str) -> None:
    source = walked(seed=5, sessions=3)
    memo = source.memo()
    if other == "seed":
        target = SimulatedMarket(SimMarketConfig(seed=6, start=START))
    elif other == "start":
        target = SimulatedMarket(SimMarketConfig(seed=5, start=START + timedelta(days=1)))
    else:  # same config, sessions that disagree with the memo's (a tampered or stale memo)
        target = SimulatedMarket(SimMarketConfig(seed=5, start=START))
        bounds = list(memo.bounds)
        start, open_, close = bounds[1]
        bounds[1] = (start, open_ + 60, close)
        memo = replace(memo, bounds=tuple(bounds))
    reference = SimulatedMarket(target.config)
    assert target.adopt(memo) is False
    target.advance_to(source.now())
    reference.advance_to(source.now())
    assert answers(target) == answers(reference)


def test_a_memo_whose_first_state_differs_is_ignored() -> None:
    source = walked(sessions=2)
    memo = source.memo()
    first = memo.states[0]
    moved = type(first)(
        first.log_level + np.array([1e-6, 0.0, 0.0]),
        first.regime,
        first.trend_sign,
        first.log_vix,
        first.rv2,
    )
    stale = replace(memo, states=(moved, *memo.states[1:]))
    assert SimulatedMarket(source.config).adopt(stale) is False


def test_a_memo_the_calendar_or_the_model_no_longer_agrees_with_is_ignored_not_an_error() -> None:
    source = walked(sessions=4)
    memo = source.memo()
    market = SimulatedMarket(source.config)
    saturday = date(2026, 11, 7)
    days = list(memo.days)
    days[2] = saturday  # a closure the calendar gained since: not a session any more
    assert market.adopt(replace(memo, days=tuple(days))) is False
    # a session the calendar has between two of the memo's (a holiday it no longer keeps)
    skipped = replace(
        memo,
        days=(memo.days[0], *memo.days[2:]),
        bounds=(memo.bounds[0], (memo.bounds[0][2], *memo.bounds[2][1:]), *memo.bounds[3:]),
        states=(memo.states[0], memo.states[1], *memo.states[3:]),
    )
    assert market.adopt(skipped) is False
    assert market.adopt(replace(memo, model_version=memo.model_version + 1)) is False
    assert market.adopt(replace(memo, history="another calendar's history")) is False
    assert market.adopt(replace(memo, bounds=memo.bounds[:-1])) is False  # lengths disagree
    assert market.adopt(memo) is True


def test_the_saved_account_carries_the_memo_and_the_next_process_needs_no_old_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = SimBroker(walked())
    path = tmp_path / "broker.pkl"
    save_sim_broker(broker, path)

    generated = count_generated(monkeypatch)
    again = load_sim_broker(path)
    assert again.market.spot("SPY") == broker.market.spot("SPY")
    assert len(generated) == 1  # today's session only


def test_a_state_saved_before_the_memo_existed_still_loads(tmp_path: Path) -> None:
    broker = SimBroker(walked(sessions=2))
    path = tmp_path / "broker.pkl"
    save_sim_broker(broker, path)
    with path.open("rb") as fh:
        saved: SimState = pickle.load(fh)
    # what an older version pickled: the four fields before market_memo
    old = SimState.__new__(SimState)
    old.__setstate__((saved.market_config, saved.market_now, saved.broker, saved.format))
    restored = restore_state(old)
    assert restored.market.spot("SPY") == broker.market.spot("SPY")
    assert isinstance(restored.market.bars("SPY", START, restored.now(), 86_400), pl.DataFrame)
