"""Shared fixtures: a fresh lake in tmp_path, and a real S3 API (moto's server) with a bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradelib.lake import Lake

from .s3 import MotoServer, S3Endpoint


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's S3 server on 127.0.0.1 (random port), one for the session."""
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def s3(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    """The moto endpoint, with the standard AWS variables set for this process and its children."""
    for key, value in moto_server.endpoint.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server.endpoint


@pytest.fixture
def s3_uri(s3: S3Endpoint) -> str:
    """``s3://<fresh bucket>/lake``: a lake of its own for each test."""
    bucket = s3.create_bucket(f"lake-{uuid.uuid4().hex[:12]}")
    return f"s3://{bucket}/desk/lake"
