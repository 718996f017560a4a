"""The simulated TWS gateway: the TWS API socket protocol (server version 178) over SimBroker.

``SimGateway`` serves real IB API clients (ib_async, the official ``ibapi``)
on 127.0.0.1 from one ``SimBroker``; ``GatewayThread`` runs it on a
background loop; ``build_gateway`` wires market, broker and gateway with the
defaults of ``tradelib gateway``. ``SimGateway.faults`` (a ``FaultInjector``)
breaks it on purpose; ``send_control`` drives a gateway in another process
through its control channel.

Names are imported on first use, so the CLI can read ``FAULT_SPEC_HELP``
without loading the simulated market.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradelib.gateway.control import send_control
    from tradelib.gateway.factory import build_gateway, gateway_start
    from tradelib.gateway.faults import (
        FAULT_SPEC_HELP,
        FaultCommand,
        FaultInjector,
        GatewayStats,
        parse_fault_spec,
    )
    from tradelib.gateway.server import ClientSession, SimGateway
    from tradelib.gateway.thread import GatewayThread

# public name -> the submodule defining it
_EXPORTS = {
    "FAULT_SPEC_HELP": "faults",
    "ClientSession": "server",
    "FaultCommand": "faults",
    "FaultInjector": "faults",
    "GatewayStats": "faults",
    "GatewayThread": "thread",
    "SimGateway": "server",
    "build_gateway": "factory",
    "gateway_start": "factory",
    "parse_fault_spec": "faults",
    "send_control": "control",
}

__all__ = [
    "FAULT_SPEC_HELP",
    "ClientSession",
    "FaultCommand",
    "FaultInjector",
    "GatewayStats",
    "GatewayThread",
    "SimGateway",
    "build_gateway",
    "gateway_start",
    "parse_fault_spec",
    "send_control",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tradelib.gateway' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tradelib.gateway.{module}"), name)
