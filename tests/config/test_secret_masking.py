"""Account ids and registered secrets are masked in text and in real log records."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from tradelib.secrets import (
    SecretMaskingFilter,
    install_log_masking,
    mask_account,
    mask_text,
    register_secret,
)


@pytest.mark.parametrize(
    ("account", "masked"),
    [
        ("DU1234567", "DU*****67"),
        ("U12345678", "U1*****78"),
        ("DF7654321", "DF*****21"),
        ("U12345", "******"),
        ("ab", "**"),
        ("", ""),
    ],
)
def test_mask_account_keeps_only_the_ends_of_long_ids(account: str, masked: str) -> None:
    assert mask_account(account) == masked


def test_mask_text_replaces_every_occurrence_of_each_secret() -> None:
    text = "acct DU1234567 key s3cr3t-key-value again DU1234567"
    masked = mask_text(text, ["DU1234567", "s3cr3t-key-value"])
    assert masked == "acct DU*****67 key ********** again DU*****67"


def test_mask_text_ignores_values_too_short_to_mask_safely() -> None:
    assert mask_text("a b c", ["a", ""]) == "a b c"


@pytest.fixture
def logger_and_stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tradelib.test.masking")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.filters.clear()


def test_filter_masks_account_ids_in_message_and_args(
    logger_and_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logger_and_stream
    install_log_masking(logger)
    logger.info("positions for U7654321 and %s: %d legs", "DU1234567", 3)
    assert stream.getvalue() == "INFO positions for U7****21 and DU*****67: 3 legs\n"


def test_filter_masks_registered_secrets_and_tracebacks(
    logger_and_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logger_and_stream
    register_secret("hunter2-secret")
    install_log_masking(logger)
    try:
        raise RuntimeError("auth failed with hunter2-secret")
    except RuntimeError:
        logger.exception("login with %r", {"key": "hunter2-secret"})
    output = stream.getvalue()
    assert "hunter2-secret" not in output
    assert "RuntimeError: auth failed with **********" in output
    assert "login with {'key': '**********'}" in output


def test_handler_filter_masks_records_propagated_from_child_loggers() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    parent = logging.getLogger("tradelib.test.parent")
    parent.addHandler(handler)
    parent.setLevel(logging.INFO)
    parent.propagate = False
    try:
        install_log_masking(parent)
        logging.getLogger("tradelib.test.parent.child").warning("account DU1234567")
        assert stream.getvalue() == "account DU*****67\n"
    finally:
        parent.removeHandler(handler)
        parent.filters.clear()


def test_installing_twice_adds_one_filter(
    logger_and_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, _ = logger_and_stream
    first = install_log_masking(logger)
    assert install_log_masking(logger) is first
    assert sum(isinstance(f, SecretMaskingFilter) for f in logger.filters) == 1
    assert sum(isinstance(f, SecretMaskingFilter) for f in logger.handlers[0].filters) == 1


def test_filter_passes_records_it_cannot_format() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d DU1234567", ("nan",), None)
    assert SecretMaskingFilter().filter(record)
    assert "DU1234567" not in record.getMessage()
