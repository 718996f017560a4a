"""Where alerts go: e-mail over SMTP (STARTTLS) and JSON webhooks (Slack, Discord, ntfy presets).

A channel either delivers or raises ``ChannelError`` with a short, secret-free
reason; every network call has a timeout. Payload builders are pure functions.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, Protocol

from tradelib.alerts.model import Alert, Severity
from tradelib.config import EmailChannelConfig, WebhookChannelConfig

DISCORD_LIMIT = 2000  # characters in a Discord message
NTFY_PRIORITY = {Severity.CRITICAL: 5, Severity.WARNING: 4, Severity.INFO: 3}
_EMOJI_TAG = {
    Severity.CRITICAL: "rotating_light",
    Severity.WARNING: "warning",
    Severity.INFO: "information_source",
}


class ChannelError(Exception):
    """A channel could not deliver; the message is safe to store."""


class Channel(Protocol):
    """One destination for alerts."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` or raise ``ChannelError``."""
        ...

    def secrets(self) -> list[str]:
        """Return the values this channel holds that must never appear in a record."""
        ...


def headline(alert: Alert) -> str:
    """Return ``[CRITICAL] title``."""
    return f"[{alert.level.upper()}] {alert.title}"


def footer(alert: Alert) -> str:
    return f"{alert.kind} · {alert.key} · {alert.ts:%Y-%m-%d %H:%M:%S} UTC"


# --- payloads --------------------------------------------------------------------------
def json_payload(alert: Alert) -> dict[str, Any]:
    """The generic JSON body: every field of the alert."""
    return {
        "source": "tradelib",
        "kind": str(alert.kind),
        "severity": str(alert.level),
        "key": alert.key,
        "title": alert.title,
        "message": alert.message,
        "ts": alert.ts.isoformat(),
    }


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook body (``text`` in mrkdwn)."""
    return {"text": f"*{headline(alert)}*\n{alert.message}\n_{footer(alert)}_"}


def discord_payload(alert: Alert) -> dict[str, Any]:
    """A Discord webhook body (``content`` cut to Discord's limit)."""
    text = f"**{headline(alert)}**\n{alert.message}\n*{footer(alert)}*"
    if len(text) > DISCORD_LIMIT:
        text = text[: DISCORD_LIMIT - 1] + "…"
    return {"username": "tradelib", "content": text}


def ntfy_payload(alert: Alert, topic: str) -> dict[str, Any]:
    """An ntfy JSON publish body (posted to the server root, topic in the body)."""
    return {
        "topic": topic,
        "title": headline(alert),
        "message": f"{alert.message}\n{footer(alert)}",
        "priority": NTFY_PRIORITY[alert.level],
        "tags": [_EMOJI_TAG[alert.level], str(alert.kind)],
    }


def webhook_request(preset: str, url: str, alert: Alert) -> tuple[str, dict[str, Any]]:
    """Return ``(url to post to, body)`` for ``preset``."""
    if preset == "slack":
        return url, slack_payload(alert)
    if preset == "discord":
        return url, discord_payload(alert)
    if preset == "ntfy":
        parts = urllib.parse.urlsplit(url)
        topic = parts.path.strip("/").split("/")[-1]
        if not topic:
            raise ChannelError("ntfy URL has no topic (expected https://host/<topic>)")
        root = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
        return root, ntfy_payload(alert, topic)
    return url, json_payload(alert)


# --- channels --------------------------------------------------------------------------
class WebhookChannel:
    """POST the preset's JSON body to the URL held by ``cfg.url_env``."""

    def __init__(self, cfg: WebhookChannelConfig, env: Mapping[str, str]) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._url = env.get(cfg.url_env, "").strip()

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r}, preset={self.cfg.preset!r})"

    def secrets(self) -> list[str]:
        return [self._url] if self._url else []

    def send(self, alert: Alert) -> None:
        if not self._url:
            raise ChannelError(f"environment variable {self.cfg.url_env} is not set")
        url, body = webhook_request(self.cfg.preset, self._url, alert)
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ChannelError("webhook URL must be http or https")
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "tradelib-alerts"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:  # the URL itself is never quoted back
            raise ChannelError(f"HTTP {exc.code} from the webhook") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ChannelError(f"webhook unreachable: {type(reason).__name__}") from None
        if not 200 <= status < 300:
            raise ChannelError(f"HTTP {status} from the webhook")


class EmailChannel:
    """Send through SMTP with STARTTLS; login only when both credentials are in the environment."""

    name = "email"

    def __init__(
        self,
        cfg: EmailChannelConfig,
        env: Mapping[str, str],
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.cfg = cfg
        self._user = env.get(cfg.username_env, "")
        self._password = env.get(cfg.password_env, "")
        self._tls = tls_context  # None: the system's default trust store

    def __repr__(self) -> str:
        return f"EmailChannel({self.cfg.host!r}:{self.cfg.port}, to={len(self.cfg.recipients)})"

    def secrets(self) -> list[str]:
        return [s for s in (self._password, self._user) if s]

    def message(self, alert: Alert) -> EmailMessage:
        """Return the e-mail for ``alert``."""
        msg = EmailMessage()
        msg["Subject"] = f"[tradelib] {headline(alert)}"
        msg["From"] = self.cfg.sender
        msg["To"] = ", ".join(self.cfg.recipients)
        msg.set_content(f"{alert.message}\n\n-- \n{footer(alert)}\n")
        return msg

    def send(self, alert: Alert) -> None:
        self.send_message(self.message(alert))

    def send_message(self, msg: EmailMessage) -> None:
        """Deliver a prepared message (alerts, the daily report) or raise ``ChannelError``."""
        try:
            with smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout_s) as smtp:
                smtp.ehlo()
                if self.cfg.starttls:
                    if not smtp.has_extn("starttls"):
                        raise ChannelError("SMTP server does not offer STARTTLS")
                    smtp.starttls(context=self._tls or ssl.create_default_context())
                    smtp.ehlo()
                if self._user and self._password:
                    try:
                        smtp.login(self._user, self._password)
                    except smtplib.SMTPException as exc:  # some servers hang up on a bad login
                        code = getattr(exc, "smtp_code", None)
                        raise ChannelError(
                            "SMTP login refused" + (f" ({code})" if code else "")
                        ) from None
                smtp.send_message(msg)
        except ChannelError:
            raise
        except smtplib.SMTPResponseException as exc:
            raise ChannelError(f"SMTP error {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP failed: {type(exc).__name__}") from None
