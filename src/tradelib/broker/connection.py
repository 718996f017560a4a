"""IBConnectionManager: one ib_async connection per process role, kept alive.

Connects with a timeout and bounded, backed-off retries (tenacity), with
``raiseSyncErrors`` so a startup sync that times out is an error rather than a
log line. Each role has its own client id (``ib.client_ids``); when IB answers
326 (id in use) the next id of ``client_ids.fallback`` is tried at once instead
of waiting out the connect timeout. After a dropped socket it reconnects with
backoff and runs the ``on_restore`` hooks (IBBroker resubscribes its market
data there); after 1101 (connectivity restored, data lost) the hooks run too;
1102 (restored, data kept) changes nothing. Account ids are masked in every
repr and in ib_async's log records.

With ``connection_lost_minutes`` set (``alerts.connection_lost_minutes`` in the
config), an outage is watched (``alerts.events.ConnectionWatch``, on the
injected ``clock``): a drop starts it, every later check (each request's
``ensure_connected``, each failed ``connect``) measures it, the first check past
the threshold raises one CONNECTION_LOST alert, and a reconnect ends it.

ib_async's event loop only runs while a blocking call runs, so a drop is noticed
(and the reconnect task advanced) inside the next call; ``ensure_connected``
finishes a pending reconnect before the caller goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from ib_async import IB, util
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from tradelib.broker.ib_mapping import (
    CODE_CLIENT_ID_IN_USE,
    CODE_CONNECTIVITY_LOST,
    CODE_RESTORED_DATA_KEPT,
    CODE_RESTORED_DATA_LOST,
)
from tradelib.config.ib import ACCOUNT_ENV
from tradelib.errors import ClientIdInUseError, ConfigError, NotConnectedError
from tradelib.secrets import SecretMaskingFilter, mask_account, register_secret

if TYPE_CHECKING:
    from tradelib.alerts.events import ConnectionWatch
    from tradelib.alerts.model import Alert
    from tradelib.config import TradingConfig

log = logging.getLogger("tradelib.broker.ib")

Role = Literal["jobs", "futures", "research"]
ROLES: tuple[Role, ...] = ("jobs", "futures", "research")
# ib_async's request throttle default (IB allows ~50 messages per second).
DEFAULT_MAX_REQUESTS_PER_S = 45
_IB_LOGGERS = (
    "ib_async",
    "ib_async.ib",
    "ib_async.client",
    "ib_async.wrapper",
    "ib_async.Decoder",
)
# Errors worth retrying a connection on; 326 is handled by trying the next id.
_RETRYABLE = (ConnectionError, OSError, TimeoutError, asyncio.TimeoutError)


class LinkState(enum.Enum):
    """Where the connection is in its life."""

    IDLE = "idle"  # never connected
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # dropped; a reconnect task is pending
    FAILED = "failed"  # dropped and every reconnect attempt failed
    CLOSED = "closed"  # disconnected on request


class _IdRefused(Exception):
    """IB refused one client id with 326."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _emit_alert(alert: Alert) -> None:
    """Raise ``alert`` through the process's alerter (imported late: alerts loads the lake)."""
    from tradelib import alerts

    alerts.emit(alert)


def _mask_ib_logs() -> None:
    """Mask account ids in ib_async's records (logger filters do not see child loggers)."""
    for name in _IB_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretMaskingFilter) for f in logger.filters):
            logger.addFilter(SecretMaskingFilter())


class IBConnectionManager:
    """Owns one ``ib_async.IB``: connect, reconnect, client ids, connectivity state."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 7497,
        client_ids: Sequence[int] = (1,),
        *,
        role: Role = "jobs",
        account: str | None = None,
        connect_timeout_s: float = 10.0,
        request_timeout_s: float = 30.0,
        connect_retries: int = 3,
        retry_backoff_s: float = 1.0,
        max_requests_per_s: int = DEFAULT_MAX_REQUESTS_PER_S,
        ib: IB | None = None,
        connection_lost_minutes: float | None = None,
        clock: Callable[[], datetime] = _utc_now,
        alert: Callable[[Alert], object] = _emit_alert,
    ) -> None:
        if not client_ids:
            raise ValueError("at least one client id is needed")
        if max_requests_per_s < 0:
            raise ValueError(f"max_requests_per_s must be >= 0, got {max_requests_per_s}")
        self.host = host
        self.port = int(port)
        self.role = role
        self.client_ids = tuple(int(i) for i in client_ids)
        self.connect_timeout_s = float(connect_timeout_s)
        self.connect_retries = int(connect_retries)
        self.retry_backoff_s = float(retry_backoff_s)
        self._wanted_account = account or ""
        if account:
            register_secret(account)
        self._ib = ib or IB()
        # Request errors (162, 200...) raise instead of returning silently empty results.
        self._ib.RaiseRequestErrors = True
        self._ib.RequestTimeout = float(request_timeout_s)
        # 0 disables ib_async's throttle: only for servers without IB's pacing (the gateway).
        self._ib.client.MaxRequests = int(max_requests_per_s)
        self._state = LinkState.IDLE
        self._client_id: int | None = None
        self._account = ""
        self._data_ok = True
        self._lost_at: float | None = None  # time.monotonic() of the last 1100
        self._reconnect_task: asyncio.Task[None] | None = None
        self._last_failure = ""
        self.reconnects = 0
        self.refused_ids: list[int] = []
        self.on_restore: list[Callable[[bool], None]] = []  # (new session?) after reconnect / 1101
        self.on_state: list[Callable[[bool, str], None]] = []  # (connected, reason)
        self._clock = clock
        self._alert = alert
        self._watch: ConnectionWatch | None = None
        if connection_lost_minutes is not None:
            from tradelib.alerts.events import ConnectionWatch

            self._watch = ConnectionWatch(float(connection_lost_minutes))
        self._ib.disconnectedEvent += self._on_disconnected
        self._ib.errorEvent += self._on_error
        _mask_ib_logs()

    @classmethod
    def from_config(
        cls, cfg: TradingConfig, role: str = "jobs", *, ib: IB | None = None
    ) -> IBConnectionManager:
        """Build for ``role`` (jobs, futures, research) from ``cfg.ib``; dashboards never connect."""
        if role not in ROLES:
            raise ValueError(
                f"role {role!r} has no IB client id (known: {', '.join(ROLES)}); "
                "dashboards read the lake and never connect"
            )
        ids = cfg.ib.client_ids
        primary = int(getattr(ids, role))
        pacing = cfg.ib.max_requests_per_s
        return cls(
            cfg.ib.host,
            cfg.ib.port,
            (primary, *ids.fallback),
            role=role,
            account=cfg.ib.account_id(),
            connect_timeout_s=cfg.ib.connect_timeout_s,
            request_timeout_s=cfg.ib.request_timeout_s,
            connect_retries=cfg.ib.connect_retries,
            retry_backoff_s=cfg.ib.retry_backoff_s,
            max_requests_per_s=int(pacing),
            ib=ib,
            connection_lost_minutes=cfg.alerts.connection_lost_minutes,
        )

    def __repr__(self) -> str:
        account = mask_account(self._account) if self._account else "-"
        return (
            f"IBConnectionManager({self.host}:{self.port}, role {self.role}, "
            f"client {self._client_id if self._client_id is not None else '-'}, "
            f"account {account}, {self._state.value})"
        )

    # --- state --------------------------------------------------------------------------
    @property
    def ib(self) -> IB:
        """The ib_async client (for the IB adapter only)."""
        return self._ib

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def client_id(self) -> int | None:
        """The client id in use (None before the first connection)."""
        return self._client_id

    @property
    def account(self) -> str:
        """The plain account id in use (never log it; ``masked_account`` is for display)."""
        return self._account

    @property
    def masked_account(self) -> str:
        return mask_account(self._account) if self._account else ""

    @property
    def is_connected(self) -> bool:
        return self._state is LinkState.CONNECTED and bool(self._ib.isConnected())

    @property
    def data_ok(self) -> bool:
        """False between IB's 1100 (connectivity lost) and 1101/1102 (restored)."""
        return self._data_ok

    @property
    def data_lost_at(self) -> float | None:
        """``time.monotonic()`` of the 1100 still in effect (None when data flows)."""
        return None if self._data_ok else self._lost_at

    # --- connect / disconnect -------------------------------------------------------------
    def connect(self) -> None:
        """Connect (idempotent); raises ClientIdInUseError or NotConnectedError on failure."""
        if self.is_connected:
            return
        _allow_nested_loop()
        self._cancel_reconnect()
        try:
            self._ib.run(self._connect_with_retries(first_delay=False))
        except ClientIdInUseError:
            self._state = LinkState.FAILED
            raise
        except ConfigError:
            self._state = LinkState.CLOSED  # wrong account: retrying cannot help
            raise
        except (RetryError, *_RETRYABLE) as exc:
            self._state = LinkState.FAILED
            self.check_outage()
            raise NotConnectedError(
                f"could not connect to {self.host}:{self.port} after "
                f"{self.connect_retries + 1} attempt(s): {_describe(exc)}"
            ) from None

    def disconnect(self) -> None:
        """Disconnect on request (idempotent); no reconnect follows."""
        self._cancel_reconnect()
        was = self._state
        self._state = LinkState.CLOSED
        self.check_outage()  # a requested disconnect is no outage: end any being watched
        if self._ib.isConnected():
            self._ib.disconnect()
        if was is LinkState.CONNECTED:
            self._emit_state(False, "disconnect requested")

    def ensure_connected(self) -> None:
        """Return once connected; finish a pending reconnect; NotConnectedError if impossible."""
        if self._state in (LinkState.IDLE, LinkState.CLOSED):
            raise NotConnectedError("not connected (call connect() first)")
        if self._state is LinkState.CONNECTED:
            # Process what the socket already delivered (a peer's close among it) before
            # trusting the session: otherwise a drop is noticed one call too late. Two loop
            # turns: one reads the end of the stream, the next runs connection_lost.
            self._ib.sleep(0)
            self._ib.sleep(0)
        if self._state is LinkState.CONNECTED and not self._ib.isConnected():
            # The drop happened while the loop was idle: let ib_async notice it.
            self._ib.sleep(0)
            if self._state is LinkState.CONNECTED:
                self._on_disconnected()
        if self._state is LinkState.RECONNECTING:
            task = self._reconnect_task
            if task is not None and not task.done():
                with contextlib.suppress(Exception):
                    self._ib.run(task)
        if self._state is LinkState.FAILED:
            # A later call gets a fresh set of attempts: the gateway may be back by now.
            try:
                self._ib.run(self._connect_with_retries(first_delay=False))
            except (ClientIdInUseError, RetryError, *_RETRYABLE) as exc:
                self._state = LinkState.FAILED
                self._last_failure = _describe(exc)
            else:
                self._restored()
        if not self.is_connected:
            self.check_outage()
            raise NotConnectedError(
                f"connection to {self.host}:{self.port} lost and not restored: "
                f"{self._last_failure or 'reconnect failed'}"
            )

    # --- internals ------------------------------------------------------------------------------
    async def _connect_with_retries(self, *, first_delay: bool) -> None:
        """Connect with up to ``connect_retries`` extra attempts, backoff doubling each time."""
        if first_delay and self.retry_backoff_s > 0:
            await asyncio.sleep(self.retry_backoff_s)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.connect_retries + 1),
            wait=wait_exponential(multiplier=self.retry_backoff_s, exp_base=2),
            retry=retry_if_exception_type(_RETRYABLE),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._connect_once()

    async def _connect_once(self) -> None:
        refused: list[int] = []
        for cid in self.client_ids:
            try:
                await self._try_client_id(cid)
            except _IdRefused:
                refused.append(cid)
                log.warning("IB client id %d is in use (326); trying the next one", cid)
                continue
            accounts = [a for a in self._ib.client.getAccounts() if a]
            for a in accounts:
                register_secret(a)
            problem = account_problem(self._wanted_account, accounts, f"{self.host}:{self.port}")
            if problem is not None:
                self._ib.disconnect()
                raise ConfigError(problem)
            self._client_id = cid
            self.refused_ids = refused
            self._state = LinkState.CONNECTED
            self._data_ok = True
            self._account = self._wanted_account or accounts[0]
            log.info("connected: %r", self)
            self._emit_state(True, "connected")
            return
        self.refused_ids = refused
        raise ClientIdInUseError(
            code=CODE_CLIENT_ID_IN_USE,
            ids=", ".join(str(i) for i in refused),
            where=f"{self.host}:{self.port}",
        )

    async def _try_client_id(self, cid: int) -> None:
        loop = asyncio.get_running_loop()
        refused: asyncio.Future[None] = loop.create_future()

        def on_error(req_id: int, code: int, message: str, contract: Any) -> None:
            if code == CODE_CLIENT_ID_IN_USE and not refused.done():
                refused.set_result(None)

        self._ib.errorEvent += on_error
        connecting = asyncio.ensure_future(
            self._ib.connectAsync(
                self.host,
                self.port,
                clientId=cid,
                timeout=self.connect_timeout_s,
                account=self._wanted_account,
                raiseSyncErrors=True,
            )
        )
        try:
            done, _ = await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
            if refused in done:
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
                self._ib.disconnect()
                raise _IdRefused(cid)
            connecting.result()
        finally:
            self._ib.errorEvent -= on_error
            if not refused.done():
                refused.cancel()

    def _on_disconnected(self) -> None:
        if self._state is not LinkState.CONNECTED:
            return  # a requested disconnect, or a failed attempt while connecting
        self._state = LinkState.RECONNECTING
        self._last_failure = "connection dropped"
        log.warning("connection to %s:%d lost; reconnecting", self.host, self.port)
        self._emit_state(False, "connection lost")
        self._reconnect_task = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self._connect_with_retries(first_delay=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every attempt failed: ensure_connected reports it
            self._state = LinkState.FAILED
            self._last_failure = _describe(exc)
            log.error("reconnect to %s:%d failed: %s", self.host, self.port, self._last_failure)
            return
        self._restored()

    def _restored(self) -> None:
        self.reconnects += 1
        self._run_restore_hooks("reconnected", new_session=True)

    def _run_restore_hooks(self, why: str, *, new_session: bool) -> None:
        log.info("restoring subscriptions (%s)", why)
        for hook in list(self.on_restore):
            try:
                hook(new_session)
            except Exception:  # one failing hook must not stop the others
                log.exception("restore hook failed")

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if code == CODE_CONNECTIVITY_LOST:
            self._data_ok = False
            self._lost_at = time.monotonic()
            log.warning("IB reports connectivity lost (1100)")
        elif code == CODE_RESTORED_DATA_LOST:
            self._data_ok = True
            self._run_restore_hooks("1101: connectivity restored, data lost", new_session=False)
        elif code == CODE_RESTORED_DATA_KEPT:
            self._data_ok = True
            log.info("IB reports connectivity restored, data kept (1102)")

    def _cancel_reconnect(self) -> None:
        task = self._reconnect_task
        self._reconnect_task = None
        if task is not None and not task.done():
            task.cancel()

    def check_outage(self) -> Alert | None:
        """Measure the current outage (if watched); raise and return the alert once it runs long.

        Down means dropped and not yet back (reconnecting or failed); any other
        state ends the outage. A long-running loop may call this between requests.
        """
        if self._watch is None:
            return None
        down = self._state in (LinkState.RECONNECTING, LinkState.FAILED)
        alert = self._watch.update(not down, self._clock())
        if alert is not None:
            log.warning("broker connection to %s:%d: %s", self.host, self.port, alert.title)
            try:
                self._alert(alert)
            except Exception:  # an alert must never break the connection handling
                log.exception("connection-lost alert failed")
        return alert

    def _emit_state(self, connected: bool, reason: str) -> None:
        self.check_outage()  # a drop starts the outage clock, a (re)connect ends it
        for hook in list(self.on_state):
            try:
                hook(connected, reason)
            except Exception:
                log.exception("connection state hook failed")


def account_problem(wanted: str, managed: Sequence[str], where: str) -> str | None:
    """Why a session may not trade (ids masked), or None when exactly one account is meant.

    A configured account must be managed by the server; with no account
    configured the server must manage exactly one.
    """
    listed = ", ".join(mask_account(a) for a in managed) or "none"
    if wanted:
        if wanted in managed:
            return None
        return (
            f"{ACCOUNT_ENV} is {mask_account(wanted)} but {where} manages {listed}: "
            "fix the variable or connect to the server that holds that account "
            "(paper and live accounts live behind different ports)"
        )
    if len(managed) == 1:
        return None
    if not managed:
        return f"{where} reported no managed account: check the API session's login"
    return (
        f"{where} manages {len(managed)} accounts ({listed}) and none is configured: "
        f"set {ACCOUNT_ENV} to the one to trade"
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RetryError):
        inner = exc.last_attempt.exception()
        return _describe(inner) if inner is not None else "retries exhausted"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if str(exc) else text


def _allow_nested_loop() -> None:
    """Inside a running loop (a Jupyter kernel) ib_async's blocking calls need nesting."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    util.patchAsyncio()  # type: ignore[no-untyped-call]
