"""One run per job at a time, across processes: an ``flock`` on ``<runs>/locks/<job>.lock``.

``flock`` belongs to the open file, so the kernel drops it when the holder
exits or dies: a crashed tick never leaves a job locked for good.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from tradelib.scheduler.tasks import check_job_name


class JobLock:
    """A non-blocking exclusive lock for one job; use ``acquire()`` then ``release()`` (or ``with``)."""

    def __init__(self, locks_dir: Path, job: str) -> None:
        self.path = locks_dir / f"{check_job_name(job)}.lock"
        self._fd: int | None = None

    def __repr__(self) -> str:
        state = "held" if self.held else "free"
        return f"JobLock({str(self.path)!r}, {state})"

    @property
    def held(self) -> bool:
        """Return whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; return False at once if somebody does."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # the holder's pid, for people reading the lock file; the flock is what counts
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases the flock)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def holder_pid(self) -> int | None:
        """Return the pid written by the current or last holder, if readable."""
        try:
            return int(self.path.read_text().strip() or "0") or None
        except (OSError, ValueError):
            return None

    def __enter__(self) -> JobLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
