"""Delayed market data over IB (issue 19): quotes say they are delayed, and nothing trades on them.

The gateway's ``delayed_data`` fault answers every market-data request as an
account without a real-time subscription does: warning 10167, market-data
type 3 and the delayed tick types. IBBroker marks those quotes ``delayed``;
``check_quote`` refuses them, so the executor places no order on them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelib.config import ExecutionConfig
from tradelib.domain import Contract, Leg, QuoteProblem, Right, check_quote
from tradelib.execution import ExecutionOutcome, TransactionalExecutor
from tradelib.gateway import GatewayThread
from tradelib.lake import Lake

from .conftest import IbErrorLog, MakeIB
from .scenarios import expiry_in, intent, option, prices, spot

pytestmark = [
    pytest.mark.usefixtures("ib_errors"),
    pytest.mark.integration,
    pytest.mark.timeout(90),
]


def _delayed(gateway: GatewayThread, ib_errors: IbErrorLog) -> None:
    ib_errors.allow("Error 10167,")
    gateway.gateway.faults.set_market_data("delayed")


def test_real_time_quotes_are_not_delayed_and_pass_the_validator(make_ib: MakeIB) -> None:
    broker = make_ib()
    [quote] = broker.snapshot([Contract.stock("SPY")])
    assert quote.delayed is False
    assert check_quote(quote, broker.now(), 15).ok


def test_snapshots_of_delayed_data_are_marked_delayed_and_refused(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    _delayed(gateway, ib_errors)
    broker = make_ib()
    stock = Contract.stock("SPY")
    [quote] = broker.snapshot([stock])

    assert quote.delayed is True
    assert quote.mark > 0, "delayed prices are still prices: readable, not tradable"
    check = check_quote(quote, broker.now(), 15, allow_zero_bid=True)
    assert check.problem is QuoteProblem.DELAYED
    assert "delayed market data" in check.reason


def test_streamed_delayed_quotes_are_marked_delayed(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog
) -> None:
    _delayed(gateway, ib_errors)
    broker = make_ib()
    stock = broker.resolve(Contract.stock("SPY"))
    broker.stream([stock])
    quote = broker.latest(stock)
    assert quote is not None and quote.delayed is True
    assert not check_quote(quote, broker.now(), 15)


def test_the_executor_places_no_order_on_delayed_quotes_and_says_why(
    gateway: GatewayThread, make_ib: MakeIB, ib_errors: IbErrorLog, tmp_path: Path
) -> None:
    broker = make_ib()
    expiry = expiry_in(broker)
    s = spot(broker)
    legs = [
        Leg(option(broker, "SPY", expiry, s * 0.95, Right.PUT), -1),
        Leg(option(broker, "SPY", expiry, s * 0.93, Right.PUT), 1),
    ]
    _, natural, _ = prices(broker, legs)
    _delayed(gateway, ib_errors)
    cfg = ExecutionConfig(price_walk_steps=2, step_interval_s=1)
    result = TransactionalExecutor(broker, Lake(tmp_path), cfg).execute(
        intent(broker, legs, natural)
    )

    assert result.outcome is ExecutionOutcome.INVALID_QUOTE
    assert "delayed market data" in result.reason
    assert gateway.gateway.faults.stats.place_orders == 0, "no order reached IB"
