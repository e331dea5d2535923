"""Whose turn it is to write: one writer at a time across the workers of a data dir, with the
turn passed on within microseconds.

SQLite lets one connection write at a time, and one that finds the database locked waits in
SQLite's busy handler, which sleeps 1 ms, then 2, then 5 before it looks again. A small upload
holds the lock for about a tenth of that, and a worker writes on its event loop's thread, so
with two workers the one that lost a race sat idle ten times longer than it needed to: two
workers served 1.17x one. Writers therefore first take an exclusive ``flock`` on a file beside
the database; a waiting writer looks again after tens of microseconds. SQLite's own lock and
busy timeout stay underneath, so correctness never depends on this file, and where there is
no ``flock`` (Windows) writers simply go straight to SQLite's lock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; SQLite's own lock alone orders the writers
    fcntl = None  # type: ignore[assignment]

# what flock raises on a file system that has none (some network file systems): no turns there
NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL)
# how long a writer waits for its turn before it reports the database as locked
WAIT_S = 30.0
# a waiting writer looks again after this long, doubling up to CHECK_MAX_S
CHECK_MIN_S = 0.00002
CHECK_MAX_S = 0.001


class WriteTurns:
    """The turns of the writers that open the same ``path`` (a file made beside the database)."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited (PEP 446)
        self._usable = fcntl is not None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the turn for the block. Raises OSError (EAGAIN) after ``WAIT_S`` without it."""
        if not (self._usable and self._take()):
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _take(self) -> bool:
        """Wait for the turn; False (and no turns from now on) where flock is not supported."""
        pause = CHECK_MIN_S
        deadline = None
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            except OSError as exc:
                if exc.errno not in NO_FLOCK:
                    raise
                self._usable = False  # a file system without flock: SQLite's lock alone
                return False
            now = time.monotonic()
            if deadline is None:
                deadline = now + WAIT_S
            elif now > deadline:
                raise OSError(errno.EAGAIN, f"another process held the database for {WAIT_S:g} s")
            time.sleep(pause)
            pause = min(pause * 2, CHECK_MAX_S)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
