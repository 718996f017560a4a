"""Fault injection for the simulated gateway: what to break, the counters, and the fault-spec syntax.

``FaultInjector`` is the control surface (``SimGateway.faults``). Its methods
may be called from any thread: each one is marshalled onto the gateway's
event loop with ``call_soon_threadsafe`` and waits until the loop applied it,
so a test can arm a fault and then act on the client knowing it is in place.
``FaultState`` is the plain state the server consults while it handles
requests; it is only touched on the loop. ``parse_fault_spec`` reads the
comma list of ``tradelib gateway --faults`` and of the control channel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import time
from typing import TYPE_CHECKING, Any, TypeVar

from tradelib.errors import GatewayFaultSpecError

if TYPE_CHECKING:
    from tradelib.gateway.server import SimGateway

T = TypeVar("T")

DEFAULT_LINE_LIMIT = 100  # IB's default number of concurrent market-data lines
DEFAULT_REJECT_REASON = "simulated rejection"
MARKET_DATA_KINDS = ("realtime", "none", "delayed")
MARSHAL_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class GatewayStats:
    """A snapshot of the gateway's counters (read with ``SimGateway.faults.stats``)."""

    orders_received: dict[int, int]  # client id -> placeOrder messages (new, modify, rejected)
    place_orders: int  # placeOrder messages, every client
    modifies: int  # placeOrder messages for an order id that already existed
    cancels: int  # cancelOrder messages
    global_cancels: int  # reqGlobalCancel messages
    broker_orders: int  # new orders that reached SimBroker (modifications not counted)
    broker_orders_by_ref: dict[str, int]  # the client's orderRef -> new orders sent to SimBroker
    streaming_lines: int  # market-data lines open now, every client
    lines_by_client: dict[int, int]  # client id -> market-data lines open now
    connections_accepted: int  # startApi handshakes accepted
    connections_refused: int  # startApi handshakes refused with 326
    connections_dropped: int  # connections cut by a fault
    messages_received: dict[int, int]  # incoming message id -> count (62 = reqAccountSummary)
    errors_sent: dict[int, int]  # IB error code -> error messages sent


@dataclass(slots=True)
class FaultState:
    """What the injector armed; read and changed on the gateway's loop only."""

    line_limit: int = DEFAULT_LINE_LIMIT
    delay: float = 0.0
    refused_ids: set[int] = field(default_factory=set)
    drop_after_order: int = 0  # how many upcoming placeOrders drop their connection
    rejections: list[tuple[int, str]] = field(default_factory=list)  # (code, reason), FIFO
    historical_failures: list[int] = field(default_factory=list)  # codes, FIFO
    connectivity_down: bool = False
    blank_order_refs: bool = False  # echo an empty orderRef for orders placed from now on
    omitted_account_tags: set[str] = field(default_factory=set)  # left out of account answers
    # Realities of a real account (what preflight checks):
    market_data: str = "realtime"  # "realtime" | "none" (354) | "delayed" (10167 + delayed ticks)
    no_option_permission: bool = False  # 201 on every option order
    cash_account: bool = False  # no margin: naked short options refused (201)
    hist_pacing: bool = False  # 162 pacing violation on every historical request
    restart_at: time | None = None  # daily restart, New York market time
    # counters
    orders_received: dict[int, int] = field(default_factory=dict)
    place_orders: int = 0
    modifies: int = 0
    cancels: int = 0
    global_cancels: int = 0
    broker_orders: int = 0
    broker_orders_by_ref: dict[str, int] = field(default_factory=dict)
    connections_accepted: int = 0
    connections_refused: int = 0
    connections_dropped: int = 0
    messages_received: dict[int, int] = field(default_factory=dict)
    errors_sent: dict[int, int] = field(default_factory=dict)

    def count_error(self, code: int) -> None:
        self.errors_sent[code] = self.errors_sent.get(code, 0) + 1

    def count_message(self, msg_id: int) -> None:
        self.messages_received[msg_id] = self.messages_received.get(msg_id, 0) + 1

    def take_rejection(self) -> tuple[int, str] | None:
        return self.rejections.pop(0) if self.rejections else None

    def take_historical_failure(self) -> int | None:
        return self.historical_failures.pop(0) if self.historical_failures else None


class FaultInjector:
    """Break the gateway on purpose, from any thread (see the module doc)."""

    def __init__(self, gateway: SimGateway, state: FaultState) -> None:
        self._gateway = gateway
        self._state = state

    # --- connections ----------------------------------------------------------------------
    def drop_connections(self) -> None:
        """Close every client socket now (clients see the peer close the connection)."""
        self._call(self._gateway._drop_all_connections)

    def drop_after_next_order(self) -> None:
        """Ack the next placeOrder (openOrder + orderStatus), then drop that client's socket.

        The order stays live in SimBroker and may fill while the client is away.
        """

        def arm() -> None:
            self._state.drop_after_order += 1

        self._call(arm)

    def connectivity_lost(self) -> None:
        """Send error 1100 to every client; streaming quotes pause until restored."""
        self._call(self._gateway._connectivity_lost)

    def connectivity_restored(self, data_lost: bool) -> None:
        """Send 1101 (data lost: streaming subscriptions are dropped) or 1102 (data kept)."""
        self._call(lambda: self._gateway._connectivity_restored(data_lost))

    def refuse_client_ids(self, ids: Iterable[int]) -> None:
        """Refuse future connections with these client ids with error 326."""
        wanted = {int(i) for i in ids}

        def arm() -> None:
            self._state.refused_ids |= wanted

        self._call(arm)

    def accept_client_ids(self, ids: Iterable[int]) -> None:
        """Undo ``refuse_client_ids`` for these ids."""
        wanted = {int(i) for i in ids}

        def disarm() -> None:
            self._state.refused_ids -= wanted

        self._call(disarm)

    # --- requests -------------------------------------------------------------------------
    def set_line_limit(self, n: int) -> None:
        """Answer error 101 to a streaming reqMktData past ``n`` open lines of one client."""
        if n < 0:
            raise ValueError(f"line limit must be >= 0, got {n}")

        def arm() -> None:
            self._state.line_limit = int(n)

        self._call(arm)

    def fail_historical(self, code: int = 162, times: int = 1) -> None:
        """Answer the next ``times`` historical-data requests with error ``code``."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")

        def arm() -> None:
            self._state.historical_failures += [int(code)] * times

        self._call(arm)

    def reject_next_order(self, code: int = 201, reason: str = DEFAULT_REJECT_REASON) -> None:
        """Reject the next placeOrder with error ``code`` (nothing reaches SimBroker)."""

        def arm() -> None:
            self._state.rejections.append((int(code), reason))

        self._call(arm)

    def blank_order_refs(self, on: bool = True) -> None:
        """Echo an empty orderRef (openOrder, completedOrder, execDetails) for orders placed from now on."""

        def arm() -> None:
            self._state.blank_order_refs = bool(on)

        self._call(arm)

    def omit_account_tags(self, tags: Iterable[str]) -> None:
        """Leave these tags out of account summaries and account updates (as a server may)."""
        wanted = {str(t) for t in tags}

        def arm() -> None:
            self._state.omitted_account_tags |= wanted

        self._call(arm)

    def set_market_data(self, kind: str) -> None:
        """Market data as an account without subscriptions gets it: realtime, none or delayed."""
        if kind not in MARKET_DATA_KINDS:
            raise ValueError(f"market data must be one of {', '.join(MARKET_DATA_KINDS)}")

        def arm() -> None:
            self._state.market_data = kind

        self._call(arm)

    def set_account_limits(
        self, *, no_option_permission: bool | None = None, cash_account: bool | None = None
    ) -> None:
        """Refuse option orders (no permission) and/or naked short options (a cash account)."""

        def arm() -> None:
            if no_option_permission is not None:
                self._state.no_option_permission = no_option_permission
            if cash_account is not None:
                self._state.cash_account = cash_account

        self._call(arm)

    def set_hist_pacing(self, on: bool = True) -> None:
        """Answer every historical-data request with 162 (pacing violation) while on."""

        def arm() -> None:
            self._state.hist_pacing = bool(on)

        self._call(arm)

    def nightly_restart(self, at: time) -> None:
        """Restart daily at ``at`` New York market time: drop every client, refuse for a while."""
        self._call(lambda: self._gateway._arm_restart(at))

    def set_delay(self, seconds: float) -> None:
        """Delay every message the gateway sends by ``seconds`` (0 turns it off)."""
        if not seconds >= 0:
            raise ValueError(f"delay must be >= 0, got {seconds}")

        def arm() -> None:
            self._state.delay = float(seconds)

        self._call(arm)

    def clear(self) -> None:
        """Disarm every pending fault (counters and connectivity are kept)."""

        def disarm() -> None:
            s = self._state
            s.delay = 0.0
            s.refused_ids.clear()
            s.drop_after_order = 0
            s.rejections.clear()
            s.historical_failures.clear()
            s.blank_order_refs = False
            s.omitted_account_tags.clear()
            s.market_data = "realtime"
            s.no_option_permission = False
            s.cash_account = False
            s.hist_pacing = False
            s.restart_at = None

        self._call(disarm)

    @property
    def stats(self) -> GatewayStats:
        """A snapshot of the counters, taken on the gateway's loop."""
        return self._call(self._gateway._stats_snapshot)

    # --- marshalling ----------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the gateway's loop (directly if there is none yet or we are on it)."""
        loop = self._gateway.loop
        if loop is None or loop.is_closed() or _on_loop(loop):
            return fn()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # hand it to the calling thread
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(MARSHAL_TIMEOUT_S)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop runs in this thread, so it is not the gateway's
        return False


# --- the fault-spec syntax (CLI --faults and the control channel) ------------------------------
FAULT_SPEC_HELP = """\
Comma-separated faults, applied in order:
  line_limit=N                 error 101 past N streaming lines per client (default 100)
  delay=SECONDS                delay every message the gateway sends (0 = off)
  refuse_client=ID             refuse that client id with error 326 (repeat for more ids)
  reject_next_order[=CODE[:REASON]]   reject the next order (default 201)
  fail_historical[=CODE[:TIMES]]      fail the next historical request(s) (default 162, once)
  drop_after_order             drop the connection right after acking the next order
  blank_order_ref              echo an empty orderRef for orders placed from now on
  omit_account_tags=TAG[+TAG]  leave these tags out of account answers (e.g. TotalCashValue)
  no_market_data               error 354 on every market-data request (no subscription)
  delayed_data                 delayed quotes only (10167, delayed tick types)
  no_option_permission         error 201 on every option order (no trading permission)
  cash_account                 a cash account: naked short option orders refused (201)
  hist_pacing                  error 162 (pacing violation) on every historical request
  nightly_restart=HH:MM        restart daily at HH:MM New York: drop clients, refuse a while
  drop                         drop every connection now (control channel)
  lost                         send 1100 to every client (connectivity lost)
  restored[=data_lost]         send 1102 (data kept) or, with =data_lost, 1101
  clear                        disarm every pending fault
Example: line_limit=50,drop_after_order,reject_next_order=201,delay=0.5,refuse_client=7"""

_ALIASES = {
    "drop_connections": "drop",
    "drop_after_next_order": "drop_after_order",
    "connectivity_lost": "lost",
    "connectivity_restored": "restored",
    "refuse_client_ids": "refuse_client",
    "set_line_limit": "line_limit",
    "set_delay": "delay",
}
_NO_ARG = frozenset(
    {
        "drop",
        "drop_after_order",
        "lost",
        "clear",
        "blank_order_ref",
        "no_market_data",
        "delayed_data",
        "no_option_permission",
        "cash_account",
        "hist_pacing",
    }
)
_NEEDS_ARG = frozenset(
    {"line_limit", "delay", "refuse_client", "omit_account_tags", "nightly_restart"}
)
_OPTIONAL_ARG = frozenset({"reject_next_order", "fail_historical", "restored"})


@dataclass(frozen=True, slots=True)
class FaultCommand:
    """One parsed fault: its canonical name and raw argument parts ('' when absent)."""

    name: str
    value: str = ""
    extra: str = ""

    def apply(self, faults: FaultInjector) -> None:
        """Apply this fault to ``faults``."""
        _APPLY[self.name](faults, self)


def parse_fault_spec(spec: str) -> list[FaultCommand]:
    """Parse a comma list of faults (see ``FAULT_SPEC_HELP``); raise on any bad item."""
    commands: list[FaultCommand] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, _, arg = item.partition("=")
        name = name.strip().lower().replace("-", "_")
        name = _ALIASES.get(name, name)
        arg = arg.strip()
        if name in _NO_ARG:
            if arg:
                raise GatewayFaultSpecError(item=item, problem=f"{name} takes no value")
            commands.append(FaultCommand(name))
            continue
        if name not in _NEEDS_ARG and name not in _OPTIONAL_ARG:
            raise GatewayFaultSpecError(item=item, problem="unknown fault")
        if name in _NEEDS_ARG and not arg:
            raise GatewayFaultSpecError(item=item, problem=f"{name} needs a value")
        value, _, extra = arg.partition(":")
        command = FaultCommand(name, value.strip(), extra.strip())
        _validate(item, command)
        commands.append(command)
    return commands


def _validate(item: str, c: FaultCommand) -> None:
    def number(text: str, kind: type[int] | type[float], what: str) -> None:
        try:
            ok = kind(text) >= 0
        except ValueError:
            ok = False
        if not ok:
            raise GatewayFaultSpecError(item=item, problem=f"{what} must be a number >= 0")

    if c.name in ("line_limit", "refuse_client"):
        number(c.value, int, c.name)
    elif c.name == "delay":
        number(c.value, float, "delay")
    elif c.name in ("reject_next_order", "fail_historical") and c.value:
        number(c.value, int, "error code")
        if c.name == "fail_historical" and c.extra:
            number(c.extra, int, "times")
    elif c.name == "nightly_restart":
        try:
            time.fromisoformat(f"{c.value}:{c.extra}" if c.extra else c.value)
        except ValueError:
            raise GatewayFaultSpecError(item=item, problem="expected HH:MM") from None
    elif c.name == "restored" and c.value not in ("", "data_lost", "data_kept"):
        raise GatewayFaultSpecError(item=item, problem="expected restored or restored=data_lost")


def _reject(f: FaultInjector, c: FaultCommand) -> None:
    f.reject_next_order(int(c.value or 201), c.extra or DEFAULT_REJECT_REASON)


def _fail_historical(f: FaultInjector, c: FaultCommand) -> None:
    f.fail_historical(int(c.value or 162), int(c.extra or 1))


_APPLY: dict[str, Callable[[FaultInjector, FaultCommand], Any]] = {
    "drop": lambda f, c: f.drop_connections(),
    "drop_after_order": lambda f, c: f.drop_after_next_order(),
    "lost": lambda f, c: f.connectivity_lost(),
    "restored": lambda f, c: f.connectivity_restored(c.value == "data_lost"),
    "refuse_client": lambda f, c: f.refuse_client_ids([int(c.value)]),
    "line_limit": lambda f, c: f.set_line_limit(int(c.value)),
    "delay": lambda f, c: f.set_delay(float(c.value)),
    "reject_next_order": _reject,
    "fail_historical": _fail_historical,
    "clear": lambda f, c: f.clear(),
    "blank_order_ref": lambda f, c: f.blank_order_refs(),
    "omit_account_tags": lambda f, c: f.omit_account_tags(t for t in c.value.split("+") if t),
    "no_market_data": lambda f, c: f.set_market_data("none"),
    "delayed_data": lambda f, c: f.set_market_data("delayed"),
    "no_option_permission": lambda f, c: f.set_account_limits(no_option_permission=True),
    "cash_account": lambda f, c: f.set_account_limits(cash_account=True),
    "hist_pacing": lambda f, c: f.set_hist_pacing(),
    "nightly_restart": lambda f, c: f.nightly_restart(
        time.fromisoformat(f"{c.value}:{c.extra}" if c.extra else c.value)
    ),
}
