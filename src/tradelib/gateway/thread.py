"""Run a SimGateway on its own event loop in a background thread (tests, notebooks, the CLI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from tradelib.gateway.server import SimGateway

T = TypeVar("T")


class GatewayThread:
    """Context manager: start ``gateway`` in a daemon thread, stop it on exit.

    Synchronous code (an ib_async ``IB()`` in a test) can then connect to
    ``gateway.port``. Touch the gateway's broker only through ``call``, which
    runs a function on the gateway's loop: the broker is not thread-safe.
    """

    def __init__(self, gateway: SimGateway, start_timeout: float = 30.0) -> None:
        self.gateway = gateway
        self._start_timeout = start_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.gateway.port

    def __enter__(self) -> GatewayThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the loop thread and wait until the gateway listens."""
        self._thread = threading.Thread(target=self._run, name="sim-gateway", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise TimeoutError("the simulated gateway did not start in time")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.gateway.start())
        except BaseException as exc:  # hand start-up failures to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run ``fn()`` on the gateway's loop and return its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the gateway thread is not running")

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the gateway and its loop (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.gateway.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = None
