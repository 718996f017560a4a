"""The shared state of the simulated gateway, and the few helpers every handler uses.

``SimGateway`` is assembled from one handler class per concern (session,
account, market data, orders, faults), each a ``GatewayCore`` subclass:
they share one set of tables (sessions, orders, executions, positions), so
they are mixins over this state rather than objects passing it around.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tradelib.broker.sim import SimBroker
from tradelib.domain import Contract, Position
from tradelib.errors import ContractError
from tradelib.gateway.contracts import ContractCatalog
from tradelib.gateway.control import FaultControlServer
from tradelib.gateway.faults import DEFAULT_LINE_LIMIT, FaultState
from tradelib.gateway.orders import GatewayOrder
from tradelib.gateway.parsing import WireContract, WireExecution
from tradelib.gateway.session import ClientSession

log = logging.getLogger("tradelib.gateway")

BAG_CON_ID = 28812380  # the con_id IB reports for every combo contract
EXPIRY_PERM_ID_BASE = 3_000_000  # perm ids of exercise / assignment / expiry executions
EXPIRY_REF_PREFIX = "expiry:"  # SimBroker's order_ref prefix on settlement fills
REFUSED_PERM_ID_BASE = 2_500_000  # perm ids of orders the gateway refused (110, injected 201)
RESTART_WINDOW = timedelta(minutes=2)  # market time a daily restart refuses sessions
ACCOUNT_PUSH_S = 3.0  # real seconds between account/portfolio pushes to subscribers
DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


@dataclass(frozen=True, slots=True)
class ExecRecord:
    """One execution as the gateway reports it again on reqExecutions."""

    client_id: int
    contract: WireContract
    execution: WireExecution
    commission: float | None  # None: no commission report (BAG summary rows)


class GatewayCore:
    """The gateway's state: the broker, the catalog, sessions, orders, executions, positions."""

    def __init__(
        self,
        broker: SimBroker,
        host: str = "127.0.0.1",
        port: int = 7497,
        speed: float = 1.0,
        account: str = "DU0000001",  # a fake paper-style account of the simulated gateway
        tick_interval: float = 0.25,
        accounts: Sequence[str] | None = None,
        line_limit: int = DEFAULT_LINE_LIMIT,
        control_port: int | None = None,
    ) -> None:
        if not (math.isfinite(speed) and speed >= 0):
            raise ValueError(f"speed must be finite and >= 0, got {speed}")
        if not tick_interval > 0:
            raise ValueError(f"tick_interval must be > 0, got {tick_interval}")
        if line_limit < 0:
            raise ValueError(f"line_limit must be >= 0, got {line_limit}")
        self.broker = broker
        self.host = host
        self.speed = float(speed)
        # Every account the gateway manages; the first holds SimBroker's ledger.
        self.accounts: tuple[str, ...] = tuple(accounts) if accounts else (account,)
        self.account = self.accounts[0]
        self.tick_interval = float(tick_interval)
        self.catalog = ContractCatalog(broker.simulated_market)
        self._requested_port = port
        self._fault_state = FaultState(line_limit=int(line_limit))
        self.loop: asyncio.AbstractEventLoop | None = None  # set while the gateway runs
        self._control_port = control_port
        self._control: FaultControlServer | None = None
        self._expiry_seq = 0
        self._restart_until: datetime | None = None  # market time a daily restart ends
        self._refused_seq = 0
        self._server: asyncio.Server | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._sessions: dict[int, ClientSession] = {}  # client id -> session
        self._all_sessions: set[ClientSession] = set()
        self._orders_by_key: dict[tuple[int, int], GatewayOrder] = {}  # (client, order id)
        self._orders_by_ref: dict[str, GatewayOrder] = {}  # SimBroker order_ref -> order
        self._next_ids: dict[int, int] = {}  # client id -> next valid order id
        self._execs: list[ExecRecord] = []
        self._last_positions: dict[int, tuple[float, float]] = {}  # con_id -> (qty, avg cost)
        self._positions_dirty = False
        self._close_cache: dict[tuple[int, str], float] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._install()

    def _install(self) -> None:
        """Hook run at the end of ``__init__``: ``SimGateway`` arms faults and handlers here."""

    def _drop(self, session: ClientSession) -> None:
        """Forget the session's client id at once, so a reconnect may reuse it."""
        cid = session.client_id
        if cid is not None and self._sessions.get(cid) is session:
            del self._sessions[cid]
            log.info("client %d disconnected (%s)", cid, session.peer)

    def _next_id(self, client_id: int) -> int:
        return self._next_ids.setdefault(client_id, 1)

    def _wire_of(self, contract: Contract) -> WireContract:
        inst = self.catalog.for_contract(contract)
        if inst is None:
            raise ContractError(f"position in {contract.key} has no listed instrument")
        return self.catalog.wire(inst)

    @staticmethod
    def _position_table(positions: Sequence[Position]) -> dict[int, tuple[float, float]]:
        return {
            int(pos.contract.con_id or 0): (pos.quantity, pos.avg_cost)
            for pos in positions
            if pos.quantity != 0
        }
