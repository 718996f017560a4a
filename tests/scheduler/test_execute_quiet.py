"""A job notebook's kernel talks over Unix sockets: no TCP port, no warning in the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradelib.scheduler.execute import PapermillExecutor
from tradelib.scheduler.runs import RunStatus


def _notebook(path: Path) -> Path:
    cells = [
        {
            "cell_type": "code",
            "id": "p",
            "metadata": {"tags": ["parameters"]},
            "source": ["x = 1"],
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "code",
            "id": "b",
            "metadata": {},
            "source": ["import os; print(x + 1, os.environ.get('JPY_PARENT_PID') is not None)"],
            "outputs": [],
            "execution_count": None,
        },
    ]
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.slow
def test_a_job_kernel_runs_over_ipc_and_prints_no_tcp_warning(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    notebook = _notebook(tmp_path / "job.ipynb")
    outcome = PapermillExecutor()(
        notebook, tmp_path / "out.ipynb", {"x": 41}, cwd=tmp_path, timeout_s=120
    )
    assert outcome.status is RunStatus.SUCCESS, outcome.error
    printed = json.loads((tmp_path / "out.ipynb").read_text())["cells"][-1]["outputs"][0]["text"]
    assert "".join(printed).startswith("42")
    err = capfd.readouterr().err
    assert "without encryption" not in err and "over TCP" not in err


def test_a_finished_job_kernel_is_shut_down_without_an_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    from tradelib.scheduler.execute import job_kernel_manager

    interrupts: list[bool] = []

    async def recorded(self: AsyncKernelManager) -> None:
        interrupts.append(self.shutting_down)

    monkeypatch.setattr(AsyncKernelManager, "_async_interrupt_kernel", recorded)
    manager = job_kernel_manager()()
    assert manager.transport == "ipc"
    asyncio.run(manager._async_interrupt_kernel())  # a user's interrupt still goes through
    manager.shutting_down = True  # what shutdown_kernel sets before it interrupts
    asyncio.run(manager._async_interrupt_kernel())
    assert interrupts == [False]


@pytest.mark.slow
def test_a_kernel_still_running_a_cell_is_interrupted_so_its_finally_runs(tmp_path: Path) -> None:
    import asyncio

    from tradelib.scheduler.execute import job_kernel_manager

    marker = tmp_path / "saved"

    async def busy_then_shut_down() -> None:
        manager = job_kernel_manager()(kernel_name="python3")
        await manager.start_kernel()
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            client.execute(
                f"import time\ntry:\n    time.sleep(60)\nfinally:\n    open({str(marker)!r}, 'w')"
            )
            await asyncio.sleep(1.5)  # the cell is running, as in a job cleaned up mid-cell
            await manager.shutdown_kernel()
        finally:
            client.stop_channels()

    asyncio.run(busy_then_shut_down())
    assert marker.exists()  # the simulated account's save in a finally block would have run
