"""Real Voila in real headless Chromium: fixtures any dashboard test can use.

``voila_app(notebook, lake=...)`` starts ``voila`` on a free port on 127.0.0.1
with the dashboard pointed at a test lake, waits until it answers and returns
its URL; every server started in a module is terminated when the module ends.
The environment a dashboard sees:

* ``TRADELIB_CONFIG``: a copy of ``config/trading_config.yaml`` whose
  ``storage.lake_uri`` is the test lake (plus any ``config_overrides``);
* ``TRADELIB_LAKE``: the test lake too, for dashboards that read it directly.

``page`` is a fresh Playwright page in Debian's Chromium (``/usr/bin/chromium``;
``playwright install`` is never needed). Browser tests skip when Chromium is
missing (``make system-deps`` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradelib.config.loader import read_yaml

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VOILA_START_TIMEOUT_S = 60.0

VoilaApp = Callable[..., str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_config(folder: Path, lake: Path, overrides: dict[str, Any] | None = None) -> Path:
    """Write a copy of the workspace config whose lake is ``lake``; return its path."""
    data = read_yaml(ROOT / "config" / "trading_config.yaml")
    data.setdefault("storage", {})["lake_uri"] = str(lake)
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    path = folder / "trading_config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + VOILA_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with {process.returncode}:\n{log.read_text()}")
        try:
            # a static asset answers without starting a kernel (the page itself would)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # the server answers: good enough
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"voila did not answer within {VOILA_START_TIMEOUT_S}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def voila_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoilaApp]:
    """Factory: ``voila_app(notebook, lake=path, config_overrides=None, env=None) -> url``."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(
        notebook: str | Path,
        *,
        lake: Path,
        config_overrides: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        render: tuple[str, ...] = ("--progressive_rendering=True",),
    ) -> str:
        folder = tmp_path_factory.mktemp("voila")
        config = sandbox_config(folder, lake, config_overrides)
        port = free_port()
        log = folder / "voila.log"
        environ = {
            **os.environ,
            "TRADELIB_CONFIG": str(config),
            "TRADELIB_LAKE": str(lake),
            "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
            **(env or {}),
        }
        command = [
            str(Path(sys.executable).parent / "voila"),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            *render,
            str(ROOT / notebook),
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT
            )
        started.append(process)
        logs.append(log)
        _wait_for_port(port, process, log)
        return f"http://127.0.0.1:{port}/"

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (one per test session)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (make system-deps installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=CHROMIUM_ARGS,
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page with a generous default timeout (a kernel starts behind the first load)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(90_000)  # a loaded 2-core CI box can take this long for a first kernel
    try:
        yield tab
    finally:
        context.close()
