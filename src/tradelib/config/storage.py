"""Where the Delta Lake lives; object-store credentials come from the environment only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from tradelib.config.base import ConfigModel
from tradelib.objectstore import ENV_PREFIX_BY_SCHEME, env_storage_options
from tradelib.objectstore import SECRET_ENV_KEYS as SECRET_ENV_KEYS  # the loader masks these
from tradelib.objectstore import scheme as _scheme


class StorageConfig(ConfigModel):
    """Delta Lake location (local path or deltalake URI) and run archive folder."""

    lake_uri: str = Field(default="data/lake", min_length=1)
    runs_dir: str = Field(default="runs", min_length=1)  # executed notebooks, logs
    commit_retries: int = Field(default=5, ge=0, le=50)
    # Processes that may write one table at the same time (jobs, collector, notebooks):
    # the commit-conflict backoff is sized to it, so more writers wait longer and spread out.
    expected_writers: int = Field(default=4, ge=1, le=64)
    # --- object storage (s3://bucket/prefix); credentials never here: AWS_ACCESS_KEY_ID /
    # AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or AWS_PROFILE in the environment only.
    endpoint_url: str | None = Field(default=None, max_length=512)  # None: AWS; or http://host:port
    region: str | None = Field(default=None, max_length=64)  # None: AWS_REGION / AWS_DEFAULT_REGION
    path_style: bool | None = None  # True: http://host/bucket/key (MinIO, moto); None: default
    allow_http: bool = False  # plain http to the endpoint (a local test store only)
    # Before the first write, prove the store refuses to overwrite a Delta commit
    # (conditional PUT); a store that ignores it would lose rows under concurrent writers.
    verify_conditional_put: bool = True

    @field_validator("lake_uri")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = _scheme(value)
        if scheme and scheme != "file" and scheme not in ENV_PREFIX_BY_SCHEME:
            known = ", ".join(["file", *sorted(ENV_PREFIX_BY_SCHEME)])
            raise ValueError(f"unsupported URI scheme {scheme!r} (known: {known})")
        if "@" in value.partition("://")[2].split("/", 1)[0]:
            raise ValueError("credentials must not be embedded in the URI; use env vars")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s)://host[:port] endpoint")
        if parts.username or parts.password:
            raise ValueError("credentials must not be embedded in the endpoint; use env vars")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _http_needs_allow_http(self) -> StorageConfig:
        if (self.endpoint_url or "").startswith("http://") and not self.allow_http:
            raise ValueError(
                f"endpoint_url {self.endpoint_url} is plain http: set storage.allow_http: true "
                "(only for a local or test store)"
            )
        configured = (self.endpoint_url, self.region, self.path_style)
        if any(v is not None for v in configured) and _scheme(self.lake_uri) not in ("s3", "s3a"):
            raise ValueError(
                "endpoint_url / region / path_style apply to an s3:// lake_uri only, "
                f"not {self.lake_uri!r}"
            )
        return self

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
        options = env_storage_options(self.lake_uri, env)
        if _scheme(self.lake_uri) not in ("s3", "s3a"):
            return options
        # the config's (non-secret) settings win over the environment's
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.region:
            options["AWS_REGION"] = self.region
        if self.path_style is not None:
            options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false" if self.path_style else "true"
        if self.allow_http:
            options["AWS_ALLOW_HTTP"] = "true"
        return options
