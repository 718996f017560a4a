"""One futures collector at a time: an exclusive ``flock`` held for the process lifetime."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from tradelib.errors import CollectorAlreadyRunningError


@contextlib.contextmanager
def single_instance(path: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` for the block; raise if another process holds it.

    The lock is an ``flock``: the kernel releases it when the process dies, so
    a crashed collector never blocks the next one (cron restarts it).
    """
    lock_path = Path(path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise CollectorAlreadyRunningError(pid=holder, path=str(lock_path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)  # closing the descriptor releases the flock
