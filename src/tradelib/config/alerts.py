"""The ``alerts`` section: where alerts go and how often.

Credentials and webhook URLs (Slack and Discord URLs are bearer secrets) are
never written here: the config names the environment variables that hold them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tradelib.config.base import ConfigModel

WebhookPreset = Literal["json", "slack", "discord", "ntfy"]
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class EmailChannelConfig(ConfigModel):
    """E-mail over SMTP; STARTTLS unless the server is local and says it cannot."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, gt=0, lt=65536)
    starttls: bool = True  # refuse to send when the server does not offer it
    sender: str = Field(min_length=3)
    recipients: list[str] = Field(min_length=1)
    username_env: str = Field(default="TRADELIB_SMTP_USER", pattern=_ENV_NAME)
    password_env: str = Field(default="TRADELIB_SMTP_PASSWORD", pattern=_ENV_NAME)
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class WebhookChannelConfig(ConfigModel):
    """A JSON POST; the URL comes from the environment variable ``url_env``."""

    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_-]*$")
    url_env: str = Field(pattern=_ENV_NAME)
    preset: WebhookPreset = "json"
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class AlertsConfig(ConfigModel):
    """Alert channels, deduplication, rate limits and the thresholds of watched events."""

    enabled: bool = True  # false: alerts are still stored, never sent
    email: EmailChannelConfig | None = None
    webhooks: list[WebhookChannelConfig] = Field(default_factory=list)
    dedup_minutes: int = Field(default=60, ge=0)  # same kind + key again within: suppressed
    rate_limit_per_hour: int = Field(default=6, gt=0)  # per event kind, sent ones
    connection_lost_minutes: float = Field(default=5.0, gt=0)  # broker down longer: alert
    daily_loss_warning_fraction: float = Field(default=0.5, gt=0, lt=1)  # of the breaker's limit
    mail_daily_report: bool = False  # also mail the daily report's HTML through ``email``

    @field_validator("webhooks")
    @classmethod
    def _unique_names(cls, value: list[WebhookChannelConfig]) -> list[WebhookChannelConfig]:
        names = [w.name for w in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"webhook names must be unique: {', '.join(dupes)}")
        return value
