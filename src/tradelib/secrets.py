"""Keep account ids and credentials out of logs, notebook output and dashboards."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

# IB account ids: individual (U), paper (DU), advisor (F) and paper advisor (DF).
ACCOUNT_PATTERN = re.compile(r"\b(?:DU|DF|U|F)\d{5,9}\b")
MASK = "**********"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_registered: set[str] = set()


def mask_account(account: str) -> str:
    """Return ``account`` with all but its first and last two characters starred.

    Example: ``DU1234567`` -> ``DU*****67``; strings of six characters or fewer are fully starred.
    """
    if len(account) <= 6:
        return "*" * len(account)
    return account[:2] + "*" * (len(account) - 4) + account[-2:]


def _mask_value(secret: str) -> str:
    return mask_account(secret) if ACCOUNT_PATTERN.fullmatch(secret) else MASK


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every occurrence of each secret value masked.

    Account-like values keep their masked shape (``DU*****67``); others become ``MASK``.
    """
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted(
        {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
    ):
        text = text.replace(secret, _mask_value(secret))
    return text


def mask_accounts(text: str) -> str:
    """Return ``text`` with anything shaped like an IB account id masked."""
    return ACCOUNT_PATTERN.sub(lambda m: mask_account(m.group(0)), text)


def register_secret(value: str) -> None:
    """Remember ``value`` so the log filter masks it; short or empty values are ignored."""
    if len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _registered.add(value)


def registered_secrets() -> frozenset[str]:
    """Return the secret values registered so far."""
    with _lock:
        return frozenset(_registered)


def clear_registered_secrets() -> None:
    """Forget every registered secret (for tests)."""
    with _lock:
        _registered.clear()


def mask_all(text: str, extra: Iterable[str] = ()) -> str:
    """Mask registered secrets, ``extra`` values and account-shaped ids in ``text``."""
    return mask_accounts(mask_text(text, [*registered_secrets(), *extra]))


class SecretMaskingFilter(logging.Filter):
    """Mask account ids and registered secrets in a record's message, args and traceback."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._extra = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place with secrets masked; never drop it."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: mask the raw parts instead
            message = f"{record.msg} {record.args}"
        masked = mask_all(message, self._extra)
        if masked != message or record.args:
            # The message is now fully rendered, so args must not be applied again.
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_all(record.exc_text, self._extra)
        if record.stack_info:
            record.stack_info = mask_all(record.stack_info, self._extra)
        return True


def install_log_masking(logger: logging.Logger | None = None) -> SecretMaskingFilter:
    """Attach one ``SecretMaskingFilter`` to ``logger`` (default root) and its handlers.

    Handler filters also see records propagated from child loggers; call this after
    the handlers are configured. Installing twice adds nothing.
    """
    target = logger or logging.getLogger()
    existing = [f for f in target.filters if isinstance(f, SecretMaskingFilter)]
    masking = existing[0] if existing else SecretMaskingFilter()
    for holder in (target, *target.handlers):
        if not any(isinstance(f, SecretMaskingFilter) for f in holder.filters):
            holder.addFilter(masking)
    return masking
