"""Run one job notebook with papermill, with a timeout that kills the kernel.

Papermill runs in the scheduler's process, the notebook's code in the kernel,
its own process. That keeps each job isolated where it matters (the job's code,
memory and crashes) while saving the ~0.4 s a fresh ``papermill`` process spends
importing itself, which is most of the scheduler's per-job budget.

The timeout is a watchdog thread: when it expires it kills the kernel's whole
process group (jupyter starts kernels in their own session), so anything the
job spawned dies too; nbclient then sees a dead kernel and papermill returns,
leaving the partial output notebook in place.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tradelib.scheduler.runs import RunStatus, first_line

_KILL_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a notebook execution ended: SUCCESS, FAILED or TIMEOUT, with the error line."""

    status: RunStatus
    error: str | None = None


class NotebookExecutor(Protocol):
    """Runs a notebook into ``output``; the runner's one edge to papermill (a fake in tests)."""

    def __call__(
        self,
        notebook: Path,
        output: Path,
        parameters: Mapping[str, Any],
        *,
        cwd: Path,
        timeout_s: float,
    ) -> Outcome:
        """Execute ``notebook`` with ``parameters``, writing ``output``; never raise for job errors."""
        ...


def _kernel_pid(manager: Any) -> int | None:
    provisioner = getattr(manager, "provisioner", None)
    pid = getattr(provisioner, "pid", None)
    return pid if isinstance(pid, int) and pid > 0 else None


def _kill_kernel(pid: int) -> None:
    try:
        group = os.getpgid(pid)
        if group == os.getpgid(0):
            os.kill(pid, signal.SIGKILL)  # never kill our own group
        else:
            os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended on its own meanwhile


def _watch(
    done: threading.Event, fired: threading.Event, managers: list[Any], limit: float
) -> None:
    if done.wait(limit):
        return
    fired.set()
    # the kernel may still be starting: keep trying until it exists or the run ends
    while not done.is_set():
        pids = [pid for pid in map(_kernel_pid, managers) if pid is not None]
        for pid in pids:
            _kill_kernel(pid)
        if pids:
            return
        done.wait(_KILL_POLL_S)


def describe_error(exc: BaseException) -> str:
    """Return ``"<exception name>: <first line>"``, naming the notebook's own error if any."""
    ename = getattr(exc, "ename", None)
    if isinstance(ename, str):  # papermill's PapermillExecutionError carries the cell's error
        evalue = first_line(str(getattr(exc, "evalue", "")))
        cell = getattr(exc, "exec_count", None)
        where = f" in cell {cell}" if cell is not None else ""
        return first_line(f"{ename}: {evalue} ({type(exc).__name__}{where})")
    return first_line(f"{type(exc).__name__}: {exc}")


_IDLE_EXIT_S = 1.0  # an idle kernel exits this soon after a shutdown request


@functools.cache
def job_kernel_manager() -> type[Any]:
    """The kernel manager of a job's kernel (jupyter_client imported only when a job runs).

    Unix sockets, not TCP: no port open to the machine, and no kernel warning about
    unencrypted TCP in every job's (and the demo's) output. And no interrupt before
    asking a finished job's kernel to stop: jupyter_client interrupts every kernel
    it shuts down, and an idle job kernel logged "KeyboardInterrupt caught in kernel"
    among the demo's progress lines whenever the signal met its event loop mid-step.
    A kernel still running a cell is interrupted as before once it has not exited
    within ``_IDLE_EXIT_S``, so the cell's ``finally`` blocks (the simulated
    account's save) run before jupyter_client resorts to SIGTERM.
    """
    from jupyter_client.manager import AsyncKernelManager

    class JobKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return  # asked to stop: interrupted below only if it is still busy
            await super()._async_interrupt_kernel()

        async def _async_finish_shutdown(
            self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
        ) -> None:
            try:
                await asyncio.wait_for(
                    self._async_wait(pollinterval=pollinterval), timeout=_IDLE_EXIT_S
                )
            except TimeoutError:
                await super()._async_interrupt_kernel()  # a cell is still running
            await super()._async_finish_shutdown(waittime, pollinterval, restart)

    return JobKernelManager


class PapermillExecutor:
    """Run notebooks in-process with ``papermill.execute_notebook`` (see the module docstring)."""

    def __init__(self, kernel_name: str | None = None, start_timeout_s: int = 60) -> None:
        self.kernel_name = kernel_name  # None: the notebook's own kernelspec
        self.start_timeout_s = start_timeout_s

    def __repr__(self) -> str:
        return f"PapermillExecutor(kernel_name={self.kernel_name!r})"

    def __call__(
        self,
        notebook: Path,
        output: Path,
        parameters: Mapping[str, Any],
        *,
        cwd: Path,
        timeout_s: float,
    ) -> Outcome:
        """Execute ``notebook`` into ``output``; kill its kernel after ``timeout_s``."""
        # imported here: papermill + nbclient take ~0.5 s to import and most ticks run nothing
        import papermill

        managers: list[Any] = []

        class _TrackedKernelManager(job_kernel_manager()):  # type: ignore[misc]
            """Remembers itself so the watchdog can find the kernel to kill."""

            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                managers.append(self)

        done, fired = threading.Event(), threading.Event()
        watchdog = threading.Thread(
            target=_watch, args=(done, fired, managers, timeout_s), daemon=True
        )
        watchdog.start()
        error: str | None = None
        try:
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=dict(parameters),
                cwd=str(cwd),
                kernel_name=self.kernel_name,
                progress_bar=False,
                log_output=False,
                start_timeout=self.start_timeout_s,
                kernel_manager_class=_TrackedKernelManager,
            )
        except Exception as exc:  # a job's failure is a recorded outcome, never the tick's
            error = describe_error(exc)
        finally:
            done.set()
            watchdog.join()
        if fired.is_set():
            return Outcome(RunStatus.TIMEOUT, f"timed out after {timeout_s:g} s (kernel killed)")
        if error is not None:
            return Outcome(RunStatus.FAILED, error)
        return Outcome(RunStatus.SUCCESS)
