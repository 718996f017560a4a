"""The report tests reuse the alert tests' SMTP server."""

from ..alerts.conftest import smtp_server, tls_files  # noqa: F401
