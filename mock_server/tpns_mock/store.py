"""The data dir: SQLite records (``records.py``) and package files (``packages.py``), kept in
step. The only module that touches both, and only where an upload needs both.

A package file is in place before its record is committed, and removed if the commit fails; on
start, temp files and package files without a record are removed. So a crash at any point
leaves either a complete upload or nothing a user can see.

A small package (at most ``INLINE_MAX_BYTES``, declared by the request's Content-Length) is
received into memory and kept in the database, in the same transaction as its record: no file
is created for it. Creating a file is the dearest step of a small upload (on ext4 with many
recently deleted inodes, half a millisecond of kernel time, more than the rest of the upload;
docs/benchmarks.md), and one transaction is as crash-safe as a file placed before its record.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tpns_mock.clock import Clock
from tpns_mock.packages import PackageFiles
from tpns_mock.records import (
    INT32_MAX,
    Fault,
    Push,
    Records,
    SlotTaken,
    StoreFull,
    Upload,
)
from tpns_mock.storage_errors import (
    StorageError,
    describe_failure,
    failures_seen,
    storage_errors,
)

# packages up to this size are kept in the database rather than as files
INLINE_MAX_BYTES = 1024 * 1024
# the stored name of a package kept in the database starts with this (never a file's name)
INLINE_PREFIX = "db:"
# how long a successful write probe of the data dir vouches for it (a failure ends it at once)
HEALTH_PROBE_S = 1.0

__all__ = [
    "INT32_MAX",
    "Fault",
    "Push",
    "SlotTaken",
    "StorageError",
    "Store",
    "StoreFull",
    "Upload",
    "describe_failure",
]


@dataclass(frozen=True)
class Arriving:
    """Where an arriving upload is written: a temp file in the data dir (``path``), or memory
    (``path`` None) for a small one."""

    path: Path | None
    handle: BinaryIO


class Store(Records):
    """Every record (inherited from :class:`Records`) and the package files beside them."""

    def __init__(
        self,
        data_dir: Path | None,
        *,
        clock: Clock | None = None,
        inline_max_bytes: int = INLINE_MAX_BYTES,
    ) -> None:
        """Open (creating if needed) the store in ``data_dir``; ``None`` means a throwaway dir.
        ``clock`` gives "now" for records' times and rate-limit slots (see ``create_app``);
        packages up to ``inline_max_bytes`` are kept in the database (-1: none).
        Raises :class:`StorageError` naming the dir and the cause when it cannot be used."""
        self._throwaway = data_dir is None
        self.inline_max_bytes = inline_max_bytes
        self._probed: tuple[float, int] | None = None  # when the last write probe passed
        with storage_errors(f"cannot use the data dir {str(data_dir)!r}"):
            self.data_dir = (
                Path(tempfile.mkdtemp(prefix="tpns-mock-")) if data_dir is None else data_dir
            )
            self.files = PackageFiles(self.data_dir)
            self.packages_dir, self.tmp_dir = self.files.packages_dir, self.files.tmp_dir
            super().__init__(self.data_dir / "tpns-mock.sqlite3", clock=clock)
            try:
                self.files.recover(self.stored_names(), self.refers_to)
            except BaseException:  # a store that cannot open keeps no file open
                super().close()
                raise

    def alive_problem(self) -> str | None:
        """Why the database file is not the one opened (deleted, replaced), or None."""
        try:
            self.check_alive()
        except StorageError as exc:
            return str(exc)
        return None

    def health_problem(self) -> str | None:
        """Why the store cannot take writes right now, or None: the database file is still the
        one opened, and a small file can be written in the data dir."""
        problem = self.alive_problem()
        if problem:
            return problem
        failures = failures_seen()
        problem = self.files.health_problem()
        self._probed = None if problem else (time.monotonic(), failures)
        return problem

    def health_probe_fresh(self) -> bool:
        """Whether a write probe succeeded less than ``HEALTH_PROBE_S`` ago with no storage
        failure since, so a health check may skip the probe (a synced write costs about a
        millisecond, several times an answer); the database file is still checked each time."""
        probed = self._probed
        return (
            probed is not None
            and time.monotonic() - probed[0] < HEALTH_PROBE_S
            and probed[1] == failures_seen()
        )

    def close(self) -> None:
        super().close()
        if self._throwaway:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @contextlib.contextmanager
    def incoming(self, expected_bytes: int | None = None) -> Iterator[Arriving]:
        """Where an arriving upload goes: memory if it declared at most ``INLINE_MAX_BYTES``,
        else a temp file inside the data dir, removed unless accepted."""
        if expected_bytes is not None and expected_bytes <= self.inline_max_bytes:
            yield Arriving(None, io.BytesIO())
            return
        with self.files.incoming() as (path, handle):
            yield Arriving(path, handle)

    def add_upload(
        self,
        arriving: Arriving,
        *,
        access_id: str,
        file_name: str,
        kind: str,
        member: str,
        rules: str,
        upload_bytes: int,
        content_bytes: int,
        account_count: int,
        sha256: str,
    ) -> Upload:
        """Move an accepted package into place (a file, or kept in memory until the record's
        transaction stores it beside the record) and record it; returns it with its new id."""
        content: bytes | None = None
        if arriving.path is None:
            assert isinstance(arriving.handle, io.BytesIO)
            stored_name = f"{INLINE_PREFIX}{uuid.uuid4().hex}.{kind}"
            content = arriving.handle.getvalue()
        else:
            stored_name = self.files.place(arriving.path, kind)
        try:
            return self.record_upload(
                access_id=access_id,
                file_name=file_name,
                kind=kind,
                member=member,
                rules=rules,
                upload_bytes=upload_bytes,
                content_bytes=content_bytes,
                account_count=account_count,
                sha256=sha256,
                stored_name=stored_name,
                content=content,
            )
        except BaseException:
            if content is None:  # a file placed before its record: nothing may refer to it
                self.files.remove([stored_name])
            raise

    def open_package(self, upload: Upload) -> BinaryIO:
        """The upload's package, open for reading. Raises FileNotFoundError when a reset has
        forgotten it (the open file outlives a later reset), StorageError when it cannot be
        read."""
        if upload.stored_name.startswith(INLINE_PREFIX):
            with storage_errors("could not read the package"):
                content = self.package_content(upload.stored_name)
            if content is None:
                raise FileNotFoundError(upload.stored_name)
            return io.BytesIO(content)
        return self.files.path(upload.stored_name).open("rb")

    def reset(self) -> None:
        """Forget every upload, push, journal entry, fault and rate-limit slot, and the package
        files of the uploads forgotten (an upload being stored right now has its file in place
        before its record, and keeps it). Ids keep increasing."""
        forgotten = self.forget_all()
        self.files.remove([name for name in forgotten if not name.startswith(INLINE_PREFIX)])
