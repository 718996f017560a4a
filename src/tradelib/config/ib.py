"""Interactive Brokers connection settings and the live-trading double opt-in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import Field, SecretStr, StrictBool, model_validator

from tradelib.config.base import ConfigModel, IBMode
from tradelib.errors import LiveTradingNotAllowed

# IB API client ids are signed 32-bit integers.
MAX_CLIENT_ID = 2**31 - 1
ClientId = Annotated[int, Field(ge=0, le=MAX_CLIENT_ID)]

ACCOUNT_ENV = "TRADELIB_IB_ACCOUNT"
ALLOW_LIVE_ENV = "TRADELIB_ALLOW_LIVE"


class ClientIds(ConfigModel):
    """IB API client ids, one per kind of process, so they never collide."""

    jobs: ClientId = 1
    futures: ClientId = 2
    research: ClientId = 3
    # Tried in order when the primary id is already in use (IB error 326).
    fallback: list[ClientId] = Field(default_factory=lambda: [11, 12, 13], max_length=32)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        named = {"jobs": self.jobs, "futures": self.futures, "research": self.research}
        named.update({f"fallback[{n}]": i for n, i in enumerate(self.fallback)})
        ids = list(named.values())
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            users = ", ".join(k for k, i in named.items() if i in dupes)
            raise ValueError(f"client ids must be distinct, {dupes} used by {users}")
        return self


class IBConfig(ConfigModel):
    """How to reach TWS / IB Gateway, and which trading mode is allowed."""

    # a host name or an IP address (IPv6 in brackets or bare): no spaces, no scheme
    host: str = Field(
        default="127.0.0.1", min_length=1, max_length=253, pattern=r"^[A-Za-z0-9._:%\[\]-]+$"
    )
    port: int = Field(default=7497, ge=1, le=65535)
    mode: IBMode = "sim"
    allow_live: StrictBool = False  # a safety switch: only a real YAML true turns it on
    client_ids: ClientIds = Field(default_factory=ClientIds)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=600)
    request_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    connect_retries: int = Field(default=3, ge=0, le=100)
    retry_backoff_s: float = Field(default=1.0, ge=0, le=300)
    max_requests_per_s: int = Field(
        default=45, ge=0, le=50
    )  # ib_async request pacing; 0 = none (gateway only)
    # Seconds between reqCurrentTime syncs; in between, time runs on the local monotonic clock.
    clock_sync_s: float = Field(default=30.0, gt=0)
    # Only ever filled from the TRADELIB_IB_ACCOUNT environment variable by the loader.
    account: SecretStr | None = None

    def account_id(self) -> str | None:
        """Return the plain account id (for the broker adapter only; never log it)."""
        return None if self.account is None else self.account.get_secret_value()

    def ensure_live_allowed(self, env: Mapping[str, str] | None = None) -> None:
        """Raise ``LiveTradingNotAllowed`` if mode is live without both opt-ins.

        Live needs ``allow_live: true`` in the config AND ``TRADELIB_ALLOW_LIVE=1``
        in ``env`` (default: the process environment). Other modes always pass.
        """
        if self.mode != "live":
            return
        environ = os.environ if env is None else env
        missing = []
        if not self.allow_live:
            missing.append("ib.allow_live is false")
        if environ.get(ALLOW_LIVE_ENV) != "1":
            missing.append(f"{ALLOW_LIVE_ENV} is not '1'")
        if missing:
            raise LiveTradingNotAllowed(missing=" and ".join(missing))
