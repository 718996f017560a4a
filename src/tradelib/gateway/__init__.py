"""The simulated TWS gateway: the TWS API socket protocol (server version 178) over SimBroker.

``SimGateway`` serves real IB API clients (ib_async, the official ``ibapi``)
on 127.0.0.1 from one ``SimBroker``; ``GatewayThread`` runs it on a
background loop; ``build_gateway`` wires market, broker and gateway with the
defaults of ``tradelib gateway``.
"""

from tradelib.gateway.factory import build_gateway, gateway_start
from tradelib.gateway.server import ClientSession, SimGateway
from tradelib.gateway.thread import GatewayThread

__all__ = ["ClientSession", "GatewayThread", "SimGateway", "build_gateway", "gateway_start"]
