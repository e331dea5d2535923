"""Everything the mock keeps as files: the packages in ``packages/`` and arriving uploads in
``tmp/``. Touches no database.

A package is written under ``tmp/`` while it arrives, locked by its process from its first byte,
and renamed into ``packages/`` under a random name only once accepted (its record is committed
after that). So after a crash, a temp file no process holds and a package no record refers to
are debris, and :meth:`PackageFiles.recover` removes them.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from tpns_mock.storage_errors import StorageError, storage_errors

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: temp files are only removed by age
    fcntl = None  # type: ignore[assignment]


class PackageFiles:
    def __init__(self, data_dir: Path) -> None:
        self.packages_dir = data_dir / "packages"
        self.tmp_dir = data_dir / "tmp"
        self.packages_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)

    def recover(self, referred: set[str], refers_to: Callable[[str], bool]) -> None:
        """Remove what an interrupted upload may have left: temp files no process holds, and
        packages not in ``referred`` (``refers_to`` checks again under the file's lock)."""
        for path in self.tmp_dir.iterdir():
            if path.name.endswith(".part") and (
                _older_than(path, seconds=3600) or _abandoned(path)
            ):
                path.unlink(missing_ok=True)
            elif path.name.endswith(".new") and _older_than(path, seconds=60):
                path.unlink(missing_ok=True)  # a crash between creating and locking
        for path in self.packages_dir.iterdir():
            if path.name not in referred:
                self._remove_if_orphan(path, refers_to)

    def _remove_if_orphan(self, path: Path, refers_to: Callable[[str], bool]) -> None:
        """Remove a package file that no record refers to and no live upload holds.

        An upload keeps its file locked from its first byte until its record is committed, so
        a file we can lock either has a record by now (checked again under the lock) or was
        left by a crash between moving it into place and committing.
        """
        if fcntl is None:  # no locks: age alone decides
            if _older_than(path, seconds=3600):
                path.unlink(missing_ok=True)
            return
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # held by an upload being stored right now
            if not refers_to(path.name):
                path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def incoming(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A temp file inside the data dir for an arriving upload; removed unless accepted."""
        name = uuid.uuid4().hex
        staging, path = self.tmp_dir / f"{name}.new", self.tmp_dir / f"{name}.part"
        try:
            with storage_errors("could not store the upload"):
                handle = staging.open("w+b")
            with handle:
                # locked before it is visible as .part, so recovery never takes it for debris
                _hold(handle)
                os.replace(staging, path)
                yield path, handle
        finally:
            with contextlib.suppress(OSError):  # a data dir gone meanwhile has nothing left
                path.unlink(missing_ok=True)
                staging.unlink(missing_ok=True)

    def place(self, incoming: Path, kind: str) -> str:
        """Move an accepted package into ``packages/`` under a new random name; returns it."""
        stored_name = f"{uuid.uuid4().hex}.{kind}"
        with storage_errors("could not store the upload"):
            os.replace(incoming, self.packages_dir / stored_name)
        return stored_name

    def health_problem(self) -> str | None:
        """Why no file can be written in the data dir right now (deleted, full, read-only), or
        None: a small file is written, synced and removed."""
        try:
            with storage_errors(f"cannot write to the data dir {str(self.tmp_dir.parent)!r}"):
                probe = self.tmp_dir / f"health-{uuid.uuid4().hex}.new"
                try:
                    with probe.open("wb") as handle:
                        handle.write(bytes(4096))
                        handle.flush()
                        os.fsync(handle.fileno())
                finally:
                    probe.unlink(missing_ok=True)
        except StorageError as exc:
            return str(exc)
        return None

    def path(self, stored_name: str) -> Path:
        return self.packages_dir / stored_name

    def remove(self, stored_names: list[str]) -> None:
        for name in stored_names:
            with contextlib.suppress(OSError):  # the records are gone; a stray file is recovered
                (self.packages_dir / name).unlink(missing_ok=True)


def _hold(handle: BinaryIO) -> None:
    """Lock an arriving upload's temp file for as long as its process lives (the kernel drops
    the lock when the process dies, even by SIGKILL), so recovery can tell it from debris."""
    if fcntl is not None:
        with contextlib.suppress(OSError):  # a filesystem without locks: age alone decides
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _abandoned(path: Path) -> bool:
    """A temp file no live process holds: left by a crash. Unknowable without flock."""
    if fcntl is None:
        return False
    try:
        with path.open("rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by a live upload, gone already, or locks unsupported
        return False
    return True


def _older_than(path: Path, seconds: float) -> bool:
    """Files this young may belong to another worker's upload in progress; leave them."""
    try:
        return time.time() - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False
