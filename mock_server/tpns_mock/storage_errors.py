"""What a failing data dir looks like to the rest of the server: one exception naming the cause.

A deleted data dir, a full disk, a read-only file system: the records (SQLite) and the package
files (the file system) each fail in their own words; both become :class:`StorageError`, whose
message a user can act on ("the disk is full"), and which the routes answer as 1008004.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path


class StorageError(Exception):
    """The data dir cannot store or read what it must (deleted, full, read-only, ...).

    The message names the cause in words a user can act on; nothing was stored.
    """


_ERRNO_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the data dir is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "the data dir or a file in it is gone (deleted while the mock ran?)",
    errno.EIO: "an I/O error",
    errno.EAGAIN: "the database is locked by another process for too long",
}
_SQLITE_CAUSES = (
    ("disk is full", "the disk is full"),
    ("readonly", "the database is read-only"),
    ("unable to open", "the database cannot be opened (is the data dir gone?)"),
    ("disk i/o error", "a disk I/O error (is the data dir gone, or the disk full?)"),
    ("locked", "the database is locked by another process for too long"),
)


def describe_failure(exc: BaseException) -> str:
    """The cause of a storage failure, in words (``the disk is full``), with the system's own."""
    if isinstance(exc, StorageError):
        return str(exc)
    if isinstance(exc, OSError):
        cause = _ERRNO_CAUSES.get(exc.errno or 0, "a file system error")
        return f"{cause} ({exc.strerror or exc})"
    text = str(exc)
    for marker, cause in _SQLITE_CAUSES:
        if marker in text.lower():
            return f"{cause} ({text})"
    return f"a database error ({text})"


_failures = 0  # storage failures seen by this process: a health probe older than one is stale


def failures_seen() -> int:
    """How many storage failures this process has met so far (any store, any cause)."""
    return _failures


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn OS and SQLite failures into :class:`StorageError` saying ``what`` failed and why."""
    global _failures
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        _failures += 1
        raise StorageError(f"{what}: {describe_failure(exc)}") from None


def identity(path: Path) -> tuple[int, int]:
    """Which file ``path`` names (device, inode): changes when it is deleted or replaced."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino
