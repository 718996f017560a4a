"""Scenarios: the fault-spec syntax, the control channel and the `gateway` / `gateway-fault` commands."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from ib_async import IB, Stock
from typer.testing import CliRunner

from tradelib.cli.gateway_cmd import gateway, gateway_fault
from tradelib.errors import GatewayFaultSpecError
from tradelib.gateway import (
    FAULT_SPEC_HELP,
    FaultCommand,
    GatewayThread,
    build_gateway,
    parse_fault_spec,
    send_control,
)

from .conftest import TRADING_DAY

pytestmark = [pytest.mark.timeout(60)]

ConnectFn = Callable[..., IB]
WaitFn = Callable[..., bool]


# --- the spec syntax ---------------------------------------------------------------------------
def test_a_fault_spec_parses_in_order_with_aliases_and_defaults() -> None:
    spec = (
        "line_limit=50, drop_after_order,reject_next_order=201:no margin,delay=0.5,"
        "refuse_client=7,fail_historical=162:3,set_delay=0,restored=data_lost,drop,lost"
    )

    assert parse_fault_spec(spec) == [
        FaultCommand("line_limit", "50"),
        FaultCommand("drop_after_order"),
        FaultCommand("reject_next_order", "201", "no margin"),
        FaultCommand("delay", "0.5"),
        FaultCommand("refuse_client", "7"),
        FaultCommand("fail_historical", "162", "3"),
        FaultCommand("delay", "0"),
        FaultCommand("restored", "data_lost"),
        FaultCommand("drop"),
        FaultCommand("lost"),
    ]
    assert parse_fault_spec("") == []


@pytest.mark.parametrize(
    "bad",
    [
        "explode",
        "line_limit",
        "line_limit=-1",
        "delay=soon",
        "drop=1",
        "refuse_client=x",
        "restored=maybe",
    ],
)
def test_a_bad_fault_spec_names_the_item(bad: str) -> None:
    with pytest.raises(GatewayFaultSpecError, match=re.escape(bad)):
        parse_fault_spec(f"delay=0,{bad}")


def test_every_fault_in_the_help_parses() -> None:
    names = [line.split()[0] for line in FAULT_SPEC_HELP.splitlines()[1:] if line.startswith("  ")]
    values = {"N": "3", "SECONDS": "0.1", "ID": "4", "HH:MM": "03:30"}
    for name in names:
        sample = re.sub(r"\[.*\]", "", name)  # optional parts off
        sample = re.sub(r"\b(HH:MM|N|SECONDS|ID)\b", lambda m: values[m.group(1)], sample)
        assert parse_fault_spec(sample), sample
    assert len(names) == 18


def test_a_spec_arms_the_injector_before_the_gateway_starts() -> None:
    gw = build_gateway(seed=7, day=TRADING_DAY, port=0)
    for command in parse_fault_spec("line_limit=1,fail_historical=162:2,reject_next_order"):
        command.apply(gw.faults)

    state = gw._fault_state
    assert state.line_limit == 1 and state.historical_failures == [162, 162]
    assert state.rejections == [(201, "simulated rejection")]


# --- the control channel -------------------------------------------------------------------------
@pytest.fixture
def controlled() -> Iterator[GatewayThread]:
    """A gateway with its fault control channel on a free port."""
    gw = build_gateway(seed=7, day=TRADING_DAY, port=0, control_port=0)
    with GatewayThread(gw) as thread:
        yield thread


@pytest.mark.integration
def test_the_control_channel_applies_faults_and_reports_stats(
    controlled: GatewayThread, connect: ConnectFn, wait_until: WaitFn, ib_errors: Any
) -> None:
    ib_errors.allow("Peer closed connection")
    port = controlled.gateway.control_port
    assert port
    ib = connect(controlled, client_id=4)
    dropped = threading.Event()
    ib.disconnectedEvent += dropped.set

    replies = send_control(port, ["line_limit=5,delay=0", "nonsense", "stats", "drop"])

    assert replies[0] == "ok" and replies[1].startswith("error: bad gateway fault 'nonsense'")
    stats = json.loads(replies[2])
    assert stats["connections_accepted"] == 1 and stats["streaming_lines"] == 0
    assert replies[3] == "ok"
    with contextlib.suppress(ConnectionError):  # raised in the sleep that sees the drop
        wait_until(ib, dropped.is_set)
    assert dropped.is_set()
    assert controlled.gateway._fault_state.line_limit == 5


@pytest.mark.integration
def test_gateway_fault_command_prints_replies_and_fails_on_a_bad_fault(
    controlled: GatewayThread,
) -> None:
    app = typer.Typer()
    app.command("gateway")(gateway)
    app.command("gateway-fault")(gateway_fault)
    port = str(controlled.gateway.control_port)
    runner = CliRunner()

    ok = runner.invoke(app, ["gateway-fault", "--port", port, "reject_next_order=201", "stats"])
    bad = runner.invoke(app, ["gateway-fault", "--port", port, "bogus"])
    spec = runner.invoke(app, ["gateway", "--port", "0", "--faults", "line_limit=x"])
    helptext = runner.invoke(app, ["gateway", "--help"], terminal_width=120)

    assert ok.exit_code == 0 and "reject_next_order=201: ok" in ok.output
    assert bad.exit_code == 2 and "bogus: error" in bad.output
    assert isinstance(spec.exception, GatewayFaultSpecError)
    assert "drop_after_order" in helptext.output and "--control-port" in helptext.output


# --- the real command in its own process ---------------------------------------------------------
@pytest.mark.integration
def test_tradelib_gateway_runs_standalone_with_faults_and_a_control_port(
    connect: ConnectFn, wait_until: WaitFn, ib_errors: Any
) -> None:
    ib_errors.allow("Error 101")
    exe = Path(sys.executable).with_name("tradelib")
    args = ["gateway", "--port", "0", "--control-port", "0", "--day", TRADING_DAY.isoformat()]
    proc = subprocess.Popen(
        [str(exe), *args, "--faults", "line_limit=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ports: dict[str, int] = {}
        while len(ports) < 2:
            line = proc.stdout.readline()
            assert line, "the gateway exited before listening"
            if m := re.search(r"(listening|control channel) on 127\.0\.0\.1:(\d+)", line):
                ports[m.group(1)] = int(m.group(2))

        ib = connect(_Port(ports["listening"]))
        spy, qqq = ib.qualifyContracts(Stock("SPY", "SMART", "USD"), Stock("QQQ", "SMART", "USD"))
        ib.reqMktData(spy)
        ib.reqMktData(qqq)
        assert wait_until(
            ib,
            lambda: (
                json.loads(send_control(ports["control channel"], ["stats"])[0])["errors_sent"].get(
                    "101"
                )
                == 1
            ),
        )
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0


class _Port:
    """Just enough of a GatewayThread for the ``connect`` fixture."""

    def __init__(self, port: int) -> None:
        self.port = port
