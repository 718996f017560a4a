"""Commits that take turns and retry: the local commit lock and the conflict backoff.

``LakeCommits`` is a mixin of ``Lake``: ``_with_retries`` runs one commit with
the writers of a local table taking turns (an ``flock``) and conflicts retried
with full-jitter backoff.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from deltalake.exceptions import CommitFailedError, DeltaError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from tradelib.errors import CommitConflictError

T = TypeVar("T")

# Commit-conflict backoff. A losing writer waits a random time in [0, ceiling) ("full
# jitter"). The ceiling is one commit slot per expected writer, doubled each retry, so
# the writers that collided spread out over about as many slots as there are of them.
# A slot is how long the failed attempt took (a merge on a loaded 2-core box or on S3
# takes far longer than an idle local one), never less than MIN_COMMIT_SLOT_S.
MIN_COMMIT_SLOT_S = 0.05
MAX_BACKOFF_S = 30.0
# Local lakes: writers of a table take turns through an flock in <root>/_tradelib_locks.
LOCKS_DIR = "_tradelib_locks"
COMMIT_TURN_WAIT_S = 60.0
DEFAULT_EXPECTED_WRITERS = 4


def _is_conflict(exc: BaseException) -> bool:
    if isinstance(exc, CommitFailedError):
        return True
    # the writer's own retries running out surfaces as a generic DeltaError
    text = str(exc).lower()
    return isinstance(exc, DeltaError) and "commit" in text and ("conflict" in text or "15" in text)


def _is_remote(uri: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri) is not None and not uri.startswith(
        "file://"
    )


class LakeCommits:
    """Commit turns and conflict retries of ``Lake`` (mixin; the settings live on the lake)."""

    root: str
    commit_retries: int
    expected_writers: int

    def backoff_s(self, retry: int, slot_s: float = MIN_COMMIT_SLOT_S) -> float:
        """Return a wait before conflict retry ``retry`` (1-based), ``slot_s`` a commit's time.

        Full jitter in [0, slot x expected_writers x 2**(retry-1)), capped at MAX_BACKOFF_S.
        """
        slot = max(MIN_COMMIT_SLOT_S, slot_s)
        ceiling = slot * self.expected_writers * 2 ** min(max(retry, 1) - 1, 16)
        return random.uniform(0.0, min(MAX_BACKOFF_S, ceiling))

    @contextlib.contextmanager
    def _commit_turn(self, table: str) -> Iterator[None]:
        """On a local lake, let one writer of ``table`` at a time commit (an ``flock``).

        Writers of one process or many then queue instead of conflicting; the backoff
        is for object stores (no shared lock) and for a holder that takes longer than
        COMMIT_TURN_WAIT_S, after which we go ahead optimistically.
        """
        if _is_remote(self.root):
            yield
            return
        folder = Path(self.root) / LOCKS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{table}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + COMMIT_TURN_WAIT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(random.uniform(0.005, 0.02))
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _with_retries(self, table: str, action: Callable[[], T]) -> T:
        last_attempt_s = MIN_COMMIT_SLOT_S

        def wait(state: RetryCallState) -> float:
            return self.backoff_s(state.attempt_number, last_attempt_s)

        retrying = Retrying(
            stop=stop_after_attempt(self.commit_retries + 1),
            wait=wait,
            retry=retry_if_exception(_is_conflict),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt, self._commit_turn(table):
                    started = time.monotonic()
                    try:
                        return action()
                    finally:
                        last_attempt_s = time.monotonic() - started
        except (CommitFailedError, DeltaError) as exc:
            if _is_conflict(exc):
                raise CommitConflictError(
                    table=table, attempts=self.commit_retries + 1, problem=str(exc)
                ) from exc
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")
