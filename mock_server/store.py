"""The only module that touches SQLite or the data dir.

Ids come from SQLite (AUTOINCREMENT), so they never repeat for a data dir, across restarts,
resets and worker processes. A package is written under ``tmp/`` while it arrives, renamed into
``packages/`` under a random name only once accepted, and its row is committed after that; on
start, anything in ``tmp/`` and any package file without a row is removed. So a crash at any
point leaves either a complete upload or nothing a user can see.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: temp files are only removed by age
    fcntl = None  # type: ignore[assignment]

INT32_MAX = 2**31 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS apps (
    access_id TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    access_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    member TEXT NOT NULL,
    rules TEXT NOT NULL,
    upload_bytes INTEGER NOT NULL,
    content_bytes INTEGER NOT NULL,
    account_count INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    stored_name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Upload:
    id: int
    access_id: str
    file_name: str
    kind: str
    member: str
    rules: str
    upload_bytes: int
    content_bytes: int
    account_count: int
    sha256: str
    stored_name: str
    created_at: str

    def public(self) -> dict[str, Any]:
        """The metadata shown by the inspection API (camelCase, like TPNS's upload answer)."""
        return {
            "uploadId": self.id,
            "accessId": self.access_id,
            "fileName": self.file_name,
            "kind": self.kind,
            "member": self.member,
            "rules": self.rules,
            "uploadBytes": self.upload_bytes,
            "contentBytes": self.content_bytes,
            "accountCount": self.account_count,
            "sha256": self.sha256,
            "createdAt": self.created_at,
        }


class StoreFull(Exception):
    """uploadId would pass int32, the largest id TPNS's answer can carry."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Store:
    def __init__(self, data_dir: Path | None) -> None:
        """Open (creating if needed) the store in ``data_dir``; ``None`` means a throwaway dir."""
        self._throwaway = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="tpns-mock-")) if data_dir is None else data_dir
        )
        self.packages_dir = self.data_dir / "packages"
        self.tmp_dir = self.data_dir / "tmp"
        self.packages_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.data_dir / "tpns-mock.sqlite3",
            timeout=30,
            check_same_thread=False,
            isolation_level=None,
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._recover()

    # -- lifecycle --------------------------------------------------------------------------

    def _recover(self) -> None:
        """Remove what an interrupted upload may have left: temp files, unreferenced packages."""
        with self._lock:
            names = {r[0] for r in self._db.execute("SELECT stored_name FROM uploads")}
        for path in self.tmp_dir.iterdir():
            if path.name.endswith(".part") and (
                _older_than(path, seconds=3600) or _abandoned(path)
            ):
                path.unlink(missing_ok=True)
        for path in self.packages_dir.iterdir():
            if path.name not in names and _older_than(path, seconds=60):
                path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._throwaway:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- apps -------------------------------------------------------------------------------

    def register_apps(self, access_ids: list[str]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO apps (access_id, first_seen) VALUES (?, ?)",
                [(a, _now()) for a in access_ids],
            )

    # -- uploads ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def incoming(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A temp file inside the data dir for an arriving upload; removed unless accepted."""
        path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            with path.open("w+b") as handle:
                _hold(handle)
                yield path, handle
        finally:
            path.unlink(missing_ok=True)

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
        stored_name = f"{uuid.uuid4().hex}.{kind}"
        target = self.packages_dir / stored_name
        os.replace(incoming, target)
        try:
            with self._transaction() as db:
                cursor = db.execute(
                    "INSERT INTO uploads (access_id, file_name, kind, member, rules, upload_bytes,"
                    " content_bytes, account_count, sha256, stored_name, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        access_id,
                        file_name,
                        kind,
                        member,
                        rules,
                        upload_bytes,
                        content_bytes,
                        account_count,
                        sha256,
                        stored_name,
                        _now(),
                    ),
                )
                upload_id = cursor.lastrowid
                if upload_id is None or upload_id > INT32_MAX:
                    raise StoreFull("uploadId would pass int32; reset the data dir")
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        found = self.get_upload(upload_id)
        assert found is not None
        return found

    def get_upload(self, upload_id: int) -> Upload | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return Upload(**row) if row else None

    def list_uploads(self, limit: int = 100, offset: int = 0) -> list[Upload]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM uploads ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
        return [Upload(**row) for row in rows]

    def count_uploads(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM uploads").fetchone()[0])

    def package_path(self, upload: Upload) -> Path:
        return self.packages_dir / upload.stored_name

    def reset(self) -> None:
        """Forget every upload. Ids keep increasing, so an id a client kept never comes back."""
        with self._transaction() as db:
            db.execute("DELETE FROM uploads")
        for path in self.packages_dir.iterdir():
            path.unlink(missing_ok=True)


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
