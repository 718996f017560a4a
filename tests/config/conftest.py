from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tradelib.secrets import clear_registered_secrets


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep the real environment, CWD and the secret registry out of every test."""
    for name in ("TRADELIB_CONFIG", "TRADELIB_IB_ACCOUNT", "TRADELIB_ALLOW_LIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    clear_registered_secrets()
    yield
    clear_registered_secrets()
