"""Where the Delta Lake lives; object-store credentials come from the environment only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, field_validator

from tradelib.config.base import ConfigModel

# Variables passed through to deltalake (object_store) per URI scheme. Credentials are
# never part of the config file, so they never end up in a repr or a notebook.
_AWS_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
    "AWS_PROFILE",
    "AWS_S3_ALLOW_UNSAFE_RENAME",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
)
_ENV_PREFIX_BY_SCHEME = {
    "s3": "AWS_",
    "s3a": "AWS_",
    "gs": "GOOGLE_",
    "az": "AZURE_",
    "abfs": "AZURE_",
    "abfss": "AZURE_",
    "adl": "AZURE_",
}
SECRET_ENV_KEYS = frozenset(
    {
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_SAS_KEY",
        "AZURE_CLIENT_SECRET",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
    }
)


def _scheme(uri: str) -> str:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep else ""


class StorageConfig(ConfigModel):
    """Delta Lake location (local path or deltalake URI) and run archive folder."""

    lake_uri: str = Field(default="data/lake", min_length=1)
    runs_dir: str = Field(default="runs", min_length=1)  # executed notebooks, logs
    commit_retries: int = Field(default=5, ge=0, le=50)
    # Processes that may write one table at the same time (jobs, collector, notebooks):
    # the commit-conflict backoff is sized to it, so more writers wait longer and spread out.
    expected_writers: int = Field(default=4, ge=1, le=64)

    @field_validator("lake_uri")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = _scheme(value)
        if scheme and scheme != "file" and scheme not in _ENV_PREFIX_BY_SCHEME:
            known = ", ".join(["file", *sorted(_ENV_PREFIX_BY_SCHEME)])
            raise ValueError(f"unsupported URI scheme {scheme!r} (known: {known})")
        if "@" in value.partition("://")[2].split("/", 1)[0]:
            raise ValueError("credentials must not be embedded in the URI; use env vars")
        return value

    @property
    def is_local(self) -> bool:
        """Return True when the lake is on the local filesystem."""
        return _scheme(self.lake_uri) in ("", "file")

    def resolved_uri(self, base: Path) -> str:
        """Return the lake URI, a relative local path resolved against ``base``."""
        if not self.is_local:
            return self.lake_uri
        path = Path(self.lake_uri.removeprefix("file://"))
        return str(path if path.is_absolute() else (base / path).resolve())

    def resolved_runs_dir(self, base: Path) -> Path:
        """Return the runs folder, resolved against ``base`` if relative."""
        path = Path(self.runs_dir)
        return path if path.is_absolute() else (base / path).resolve()

    def storage_options(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Return deltalake ``storage_options`` for the lake, read from ``env`` only.

        ``env`` defaults to the process environment. A local lake needs none: ``{}``.
        """
        prefix = _ENV_PREFIX_BY_SCHEME.get(_scheme(self.lake_uri))
        if prefix is None:
            return {}
        environ = os.environ if env is None else env
        if prefix == "AWS_":
            return {k: environ[k] for k in _AWS_KEYS if environ.get(k)}
        return {k: v for k, v in environ.items() if k.startswith(prefix) and v}
