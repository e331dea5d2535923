"""The data dir: SQLite records (``records.py``) and package files (``packages.py``), kept in
step. The only module that touches both, and only where an upload needs both.

A package file is in place before its record is committed, and removed if the commit fails; on
start, temp files and package files without a record are removed. So a crash at any point
leaves either a complete upload or nothing a user can see.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
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
from tpns_mock.storage_errors import StorageError, describe_failure, storage_errors

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


class Store(Records):
    """Every record (inherited from :class:`Records`) and the package files beside them."""

    def __init__(self, data_dir: Path | None, *, clock: Clock | None = None) -> None:
        """Open (creating if needed) the store in ``data_dir``; ``None`` means a throwaway dir.
        ``clock`` gives "now" for records' times and rate-limit slots (see ``create_app``).
        Raises :class:`StorageError` naming the dir and the cause when it cannot be used."""
        self._throwaway = data_dir is None
        with storage_errors(f"cannot use the data dir {str(data_dir)!r}"):
            self.data_dir = (
                Path(tempfile.mkdtemp(prefix="tpns-mock-")) if data_dir is None else data_dir
            )
            self.files = PackageFiles(self.data_dir)
            self.packages_dir, self.tmp_dir = self.files.packages_dir, self.files.tmp_dir
            super().__init__(self.data_dir / "tpns-mock.sqlite3", clock=clock)
            self.files.recover(self.stored_names(), self.refers_to)

    def health_problem(self) -> str | None:
        """Why the store cannot take writes right now, or None: the database file is still the
        one opened, and a small file can be written in the data dir."""
        try:
            self.check_alive()
        except StorageError as exc:
            return str(exc)
        return self.files.health_problem()

    def close(self) -> None:
        super().close()
        if self._throwaway:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @contextlib.contextmanager
    def incoming(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A temp file inside the data dir for an arriving upload; removed unless accepted."""
        with self.files.incoming() as arriving:
            yield arriving

    def add_upload(
        self,
        incoming: Path,
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
        """Move an accepted package into place and record it; returns it with its new id."""
        stored_name = self.files.place(incoming, kind)
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
            )
        except BaseException:
            self.files.remove([stored_name])
            raise

    def package_path(self, upload: Upload) -> Path:
        return self.files.path(upload.stored_name)

    def reset(self) -> None:
        """Forget every upload, push, journal entry, fault and rate-limit slot, and the package
        files of the uploads forgotten (an upload being stored right now has its file in place
        before its record, and keeps it). Ids keep increasing."""
        self.files.remove(self.forget_all())
