"""The simulated account survives between processes (each job is its own kernel)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tradelib.broker.factory import open_broker
from tradelib.broker.sim import SimBroker
from tradelib.broker.sim_state import SimStateError, load_sim_broker, save_sim_broker, sim_session
from tradelib.config import TradingConfig
from tradelib.domain import Contract, Leg, OrderIntent, OrderPurpose, Right, make_order_ref, utc
from tradelib.sim import SimMarketConfig, SimulatedMarket

START = utc(2026, 11, 24, 15)


def new_broker() -> SimBroker:
    return SimBroker(SimulatedMarket(SimMarketConfig(seed=3, start=START)))


def sell_put(broker: SimBroker, sid: str) -> str:
    expiry = next(e for e in broker.option_chain("SPY").expiries if (e - START.date()).days >= 30)
    (spot,) = broker.snapshot([Contract.stock("SPY")])
    contract = Contract.option("SPY", expiry, round(spot.mark * 0.95), Right.PUT)
    (quote,) = broker.snapshot([contract])
    ref = make_order_ref(sid, OrderPurpose.OPEN)
    broker.place_order(
        OrderIntent(
            ref, sid, OrderPurpose.OPEN, (Leg(contract, -1),), 1, -quote.bid + 0.0, broker.now()
        )
    )
    broker.wait(5)
    return ref


def test_saved_account_reloads_with_positions_cash_orders_and_clock(tmp_path: Path) -> None:
    broker = new_broker()
    broker.connect()
    ref = sell_put(broker, "s1")
    before = broker.account()
    path = tmp_path / "state.pkl"
    save_sim_broker(broker, path)

    again = load_sim_broker(path)
    again.connect()
    assert again.now() == broker.now()
    assert again.account().cash == pytest.approx(before.cash)
    assert [(p.contract.key, p.quantity) for p in again.positions()] == [
        (p.contract.key, p.quantity) for p in broker.positions()
    ]
    state = again.order(ref)
    assert state is not None and state.status.is_terminal
    # the same order ref is still known: a re-run cannot place it twice
    assert (
        again.place_order(
            OrderIntent(
                ref,
                "s1",
                OrderPurpose.OPEN,
                (Leg(broker.positions()[0].contract, -1),),
                1,
                -0.5,
                again.now(),
            )
        ).order_ref
        == ref
    )
    assert len(again.executions()) == len(broker.executions())


CHILD_JOB = """
import sys
from pathlib import Path
from tradelib.broker.sim_state import sim_session
with sim_session(Path(sys.argv[1]), lambda: None) as broker:
    assert len(broker.positions()) == 1, broker.positions()
    contract = broker.positions()[0].contract
    (q,) = broker.snapshot([contract])
    ref = make_order_ref("child", OrderPurpose.CLOSE)
    broker.place_order(OrderIntent(ref, "child", OrderPurpose.CLOSE, (Leg(contract, 1),), 1, q.ask, broker.now()))
    broker.wait(5)
"""
CHILD_IMPORTS = "from tradelib.domain import Leg, OrderIntent, OrderPurpose, make_order_ref\n"


def test_a_job_in_another_process_sees_and_extends_the_same_account(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    with sim_session(path, new_broker) as broker:
        sell_put(broker, "parent")
    child = subprocess.run(
        [sys.executable, "-c", CHILD_IMPORTS + CHILD_JOB, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    with sim_session(path, new_broker) as broker:
        refs = {f.order_ref for f in broker.executions()}
        assert broker.positions() == []  # the child closed what the parent opened
    assert make_order_ref("parent", OrderPurpose.OPEN) in refs
    assert make_order_ref("child", OrderPurpose.CLOSE) in refs


def test_session_advances_the_market_through_wait_and_saves_on_error(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    with sim_session(path, new_broker) as broker:
        t0 = broker.now()
    with (
        pytest.raises(RuntimeError),
        sim_session(path, new_broker, advance_to=t0 + timedelta(hours=1)) as broker,
    ):
        assert broker.now() >= t0 + timedelta(hours=1)
        raise RuntimeError("job failed")
    assert load_sim_broker(path).now() >= t0 + timedelta(hours=1)


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.pkl"
    path.write_bytes(b"not a pickle")
    with pytest.raises(SimStateError, match="unreadable"):
        load_sim_broker(path)


def test_open_broker_in_sim_mode_persists_in_the_configured_path(tmp_path: Path) -> None:
    cfg = TradingConfig().with_overrides(
        {"simulation.state_path": str(tmp_path / "acct.pkl"), "simulation.start_date": "2026-11-24"}
    )
    with open_broker(cfg) as broker:
        assert broker.is_connected
        first_now = broker.now()
    assert (tmp_path / "acct.pkl").exists()
    with open_broker(cfg, advance_to=first_now + timedelta(minutes=30)) as broker:
        assert broker.now() >= first_now + timedelta(minutes=30)


def test_open_broker_refuses_live_without_the_double_opt_in() -> None:
    from tradelib.errors import LiveTradingNotAllowed

    cfg = TradingConfig().with_overrides({"ib.mode": "live", "ib.allow_live": True})
    with (
        pytest.raises(LiveTradingNotAllowed, match="TRADELIB_ALLOW_LIVE"),
        open_broker(cfg, env={}),
    ):
        pass


def test_the_saved_state_forgets_resolved_contracts_that_expired_before_today(
    tmp_path: Path,
) -> None:
    broker = new_broker()
    broker.connect()
    expiries = broker.option_chain("SPY").expiries
    (spot,) = broker.snapshot([Contract.stock("SPY")])
    near, far = expiries[0], next(e for e in expiries if (e - START.date()).days >= 30)
    strike = float(round(spot.mark))
    broker.snapshot([Contract.option("SPY", near, strike, Right.CALL)])
    broker.snapshot([Contract.option("SPY", far, strike, Right.CALL)])
    known = {c.expiry for c in broker._resolved.values()}
    assert {near, far} <= known
    broker.wait((near - START.date()).days * 86_400 + 86_400 * 3)  # past the near expiry
    path = tmp_path / "state.pkl"
    save_sim_broker(broker, path)

    again = load_sim_broker(path)
    kept = {c.expiry for c in again._resolved.values()}
    assert far in kept and near not in kept
    assert None in kept  # the stock stays
    assert len(again._resolved) < len(broker._resolved)


def test_a_state_whose_contracts_cannot_be_rebuilt_is_refused_with_the_way_out(
    tmp_path: Path,
) -> None:
    import pickle

    from tradelib.broker import sim_state

    broker = new_broker()
    broker.connect()
    sell_put(broker, "s1")
    path = tmp_path / "state.pkl"
    save_sim_broker(broker, path)
    again = load_sim_broker(path)
    again.connect()
    held = {p.contract.key: p.contract for p in broker.positions()}
    assert held and {p.contract.key: p.contract for p in again.positions()} == held
    # contracts saved by a version whose fields this one cannot fill (no sec_type)
    state = sim_state.snapshot_state(broker)

    class OtherVersion(pickle.Pickler):
        def reducer_override(self, obj: object) -> object:
            if type(obj) is Contract:  # no sec_type, and a field this version lacks
                return sim_state._contract, (("symbol", "gone"), ("SPY", 1))
            return NotImplemented

    with path.open("wb") as fh:
        OtherVersion(fh).dump(state)
    with pytest.raises(SimStateError, match="delete it to start a fresh account"):
        load_sim_broker(path)
