"""Everything the mock keeps in SQLite: apps, upload and push records, the request journal,
faults and rate-limit slots. Touches no file but the databases.

The journal has a database of its own (``JOURNAL_FILE`` beside the main one): every request
writes a journal entry, and an upload or a push also writes its record, so with several workers
the two writes would otherwise queue for the one database's write lock (SQLite has one per
file); apart, each waits only for its own kind.

Ids come from SQLite (AUTOINCREMENT), so they never repeat for a data dir, across restarts,
resets and worker processes. Writes are IMMEDIATE transactions, so several worker processes on
one data dir see one sequence of ids, one count of each fault and one claim of each slot.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tpns_mock.clock import Clock, SystemClock
from tpns_mock.storage_errors import StorageError, identity, storage_errors
from tpns_mock.write_turns import WriteTurns

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
CREATE TABLE IF NOT EXISTS package_contents (
    stored_name TEXT PRIMARY KEY,
    content BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    access_id TEXT NOT NULL,
    audience_type TEXT NOT NULL,
    message_type TEXT NOT NULL,
    platform TEXT NOT NULL,
    environment TEXT NOT NULL,
    seq INTEGER NOT NULL,
    upload_id INTEGER,
    target_count INTEGER,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    method TEXT,
    remaining INTEGER,
    fired INTEGER NOT NULL DEFAULT 0,
    spec TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS throttle (
    key TEXT PRIMARY KEY,
    last_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS call_windows (
    key TEXT PRIMARY KEY,
    window_start REAL NOT NULL,
    calls INTEGER NOT NULL
);
"""

# the journal's own database, beside the main one
JOURNAL_FILE = "tpns-mock-requests.sqlite3"
_JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry TEXT NOT NULL
);
"""

# the journal's table in the main database, where data dirs from before JOURNAL_FILE kept it
_OLD_JOURNAL = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'requests'"

# row_counts is kept by triggers, so a listing's "total" is one small read instead of a
# COUNT(*) over every row; filled once for a data dir that predates it
_ROW_COUNTS = """
CREATE TABLE IF NOT EXISTS row_counts (
    tbl TEXT NOT NULL,
    access_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (tbl, access_id)
);
CREATE TRIGGER IF NOT EXISTS uploads_counted AFTER INSERT ON uploads BEGIN
    INSERT INTO row_counts VALUES ('uploads', NEW.access_id, 1)
    ON CONFLICT (tbl, access_id) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS uploads_uncounted AFTER DELETE ON uploads BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'uploads' AND access_id = OLD.access_id;
END;
CREATE TRIGGER IF NOT EXISTS pushes_counted AFTER INSERT ON pushes BEGIN
    INSERT INTO row_counts VALUES ('pushes', NEW.access_id, 1)
    ON CONFLICT (tbl, access_id) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS pushes_uncounted AFTER DELETE ON pushes BEGIN
    UPDATE row_counts SET n = n - 1 WHERE tbl = 'pushes' AND access_id = OLD.access_id;
END;
"""
_COUNT_EXISTING = """
INSERT INTO row_counts SELECT 'uploads', access_id, COUNT(*) FROM uploads
    WHERE NOT EXISTS (SELECT 1 FROM row_counts WHERE tbl = 'uploads') GROUP BY access_id;
INSERT INTO row_counts SELECT 'pushes', access_id, COUNT(*) FROM pushes
    WHERE NOT EXISTS (SELECT 1 FROM row_counts WHERE tbl = 'pushes') GROUP BY access_id;
"""
_COUNTED = (
    "SELECT COALESCE(SUM(n), 0) FROM row_counts WHERE tbl = ?1 AND (?2 IS NULL OR access_id = ?2)"
)
# columns added to ``pushes`` after its first release: added to an older data dir on open
# (a push recorded before has no start_at and counts as finished)
_PUSH_LIFECYCLE_COLUMNS = {
    "start_at": "REAL",  # unix time the push starts sending: when made, or its send_time
    "scheduled": "INTEGER NOT NULL DEFAULT 0",  # made with a send_time still ahead
    "duration_s": "REAL NOT NULL DEFAULT 0",  # from start to a final state
    "failed": "INTEGER NOT NULL DEFAULT 0",  # a fault made it end PUSH_FAILED
}


# journal entries of one app (?1, or all when NULL) and, when ?2 is 1, only refusals: a dropped
# connection, an HTTP error status, or a non-zero return code
_JOURNAL_FILTER = (
    "(?1 IS NULL OR json_extract(entry, '$.accessId') = ?1)"
    " AND (?2 = 0 OR json_extract(entry, '$.dropped') = 1"
    " OR json_extract(entry, '$.status') >= 400"
    " OR json_extract(entry, '$.retCode') != 0)"
)


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


@dataclass(frozen=True)
class Push:
    id: int
    access_id: str
    audience_type: str
    message_type: str
    platform: str
    environment: str
    seq: int
    upload_id: int | None
    target_count: int | None
    body: str
    created_at: str
    start_at: float | None = None
    scheduled: int = 0
    duration_s: float = 0.0
    failed: int = 0

    @property
    def push_id(self) -> str:
        """TPNS answers push_id as a string of digits."""
        return str(self.id)

    def public(self) -> dict[str, Any]:
        """The record shown by the inspection API (camelCase, like the rest of ``/_mock/``)."""
        return {
            "pushId": self.push_id,
            "accessId": self.access_id,
            "audienceType": self.audience_type,
            "messageType": self.message_type,
            "platform": self.platform,
            "environment": self.environment,
            "seq": self.seq,
            "uploadId": self.upload_id,
            "targetCount": self.target_count,
            "request": json.loads(self.body),
            "createdAt": self.created_at,
        }

    @property
    def request(self) -> dict[str, Any]:
        body = json.loads(self.body)
        return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class Fault:
    id: int
    path: str
    method: str | None
    remaining: int | None  # None: fires every time it matches
    fired: int
    spec: str  # the checked fault as JSON
    created_at: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **json.loads(self.spec),
            "remaining": self.remaining,
            "fired": self.fired,
            "createdAt": self.created_at,
        }


class SlotTaken(Exception):
    """A rate-limit slot was claimed less than its interval ago; nothing was stored."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the slot frees in {wait_s:.2f} s")
        self.wait_s = wait_s


class StoreFull(Exception):
    """uploadId would pass int32, the largest id TPNS's answer can carry."""


def _connect(path: Path) -> tuple[sqlite3.Connection, WriteTurns]:
    """A connection to the database at ``path`` (WAL: readers never wait for the writer) and
    the writers' turns on it."""
    db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db, WriteTurns(path.with_name(path.name + "-writer"))
    except BaseException:
        db.close()
        raise


@contextlib.contextmanager
def _writing(
    db: sqlite3.Connection,
    lock: threading.Lock,
    turns: WriteTurns,
    before_commit: Callable[[], None] | None = None,
) -> Iterator[sqlite3.Connection]:
    """One write transaction on ``db``: this process's threads one at a time (``lock``), then
    the processes' turns, then SQLite's IMMEDIATE lock; rolled back on any error."""
    with lock, storage_errors("could not store"), turns.turn():
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            if before_commit is not None:
                before_commit()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


class Records:
    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        """Open (creating if needed) the database at ``path``; ``clock`` gives "now"."""
        self.clock: Clock = SystemClock() if clock is None else clock
        self._lock = threading.Lock()
        self.db_path = path
        self._journal_lock = threading.Lock()
        with storage_errors(f"cannot use the database {str(path)!r}"):
            self._db, self._turns = _connect(path)
        journal = path.with_name(JOURNAL_FILE)
        try:
            with storage_errors(f"cannot use the database {str(path)!r}"):
                # one transaction: a data dir from before row_counts gets its counts exactly once
                self._db.executescript(
                    f"BEGIN IMMEDIATE;{_SCHEMA}{_ROW_COUNTS}{_COUNT_EXISTING}COMMIT;"
                )
                self._migrate()
                self._identity = identity(path)
            with storage_errors(f"cannot use the database {str(journal)!r}"):
                self._journal, self._journal_turns = _connect(journal)
        except BaseException:  # a store that cannot open keeps no file open
            self._db.close()
            self._turns.close()
            raise
        try:
            with storage_errors(f"cannot use the database {str(journal)!r}"):
                self._journal.executescript(f"BEGIN IMMEDIATE;{_JOURNAL_SCHEMA}COMMIT;")
            self._move_old_journal()
        except BaseException:
            self.close()
            raise

    def _move_old_journal(self) -> None:
        """A data dir from before the journal had a database of its own keeps its entries in
        the main one: they are moved once (into a journal still empty, so a move interrupted
        after the journal's commit is not repeated) and the old table dropped, so no entry is
        hidden from the journal or outlives a reset."""
        with self._reading() as db:
            if db.execute(_OLD_JOURNAL).fetchone() is None:
                return
        with self._transaction() as db:
            if db.execute(_OLD_JOURNAL).fetchone() is None:
                return  # another worker moved it
            entries = db.execute("SELECT entry FROM requests ORDER BY id").fetchall()
            with self._journal_transaction() as journal:
                if journal.execute("SELECT 1 FROM requests LIMIT 1").fetchone() is None:
                    journal.executemany("INSERT INTO requests (entry) VALUES (?)", entries)
            db.execute("DROP TABLE requests")

    def _migrate(self) -> None:
        """Add the columns a data dir made by an older version lacks."""
        with self._lock:
            have = {row[1] for row in self._db.execute("PRAGMA table_info(pushes)")}
            for name, kind in _PUSH_LIFECYCLE_COLUMNS.items():
                if name not in have:
                    with contextlib.suppress(sqlite3.OperationalError):  # another worker won
                        self._db.execute(f"ALTER TABLE pushes ADD COLUMN {name} {kind}")

    def stamp(self) -> str:
        """Now, as records show it: ISO 8601 in UTC, to the millisecond."""
        return datetime.fromtimestamp(self.clock.now(), timezone.utc).isoformat(
            timespec="milliseconds"
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._turns.close()
        with self._journal_lock:
            self._journal.close()
            self._journal_turns.close()

    def check_alive(self) -> None:
        """Refuse to commit into a database whose file was deleted or replaced: SQLite would
        write on into the unlinked file, and a success would be answered for data that is gone."""
        try:
            same = identity(self.db_path) == self._identity
        except OSError:
            same = False
        if not same:
            raise StorageError(
                f"the database {str(self.db_path)!r} was deleted or replaced while the mock "
                "ran; restart the mock"
            )

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return _writing(self._db, self._lock, self._turns, before_commit=self.check_alive)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock, storage_errors("could not read the store"):
            yield self._db

    def _journal_transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        # a journal entry for a data dir deleted under the mock would be kept nowhere
        return _writing(
            self._journal, self._journal_lock, self._journal_turns, before_commit=self.check_alive
        )

    @contextlib.contextmanager
    def _journal_reading(self) -> Iterator[sqlite3.Connection]:
        with self._journal_lock, storage_errors("could not read the store"):
            yield self._journal

    # -- apps -------------------------------------------------------------------------------

    def register_apps(self, access_ids: list[str]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO apps (access_id, first_seen) VALUES (?, ?)",
                [(a, self.stamp()) for a in access_ids],
            )

    # -- uploads ----------------------------------------------------------------------------

    def record_upload(
        self,
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
        stored_name: str,
        content: bytes | None = None,
    ) -> Upload:
        """Record an upload whose package file is already in place, or whose ``content`` is
        kept in the database with the record (small packages); returns it with its id."""
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
                    self.stamp(),
                ),
            )
            upload_id = cursor.lastrowid
            if upload_id is None or upload_id > INT32_MAX:
                raise StoreFull("uploadId would pass int32; reset the data dir")
            if content is not None:
                db.execute(
                    "INSERT INTO package_contents (stored_name, content) VALUES (?, ?)",
                    (stored_name, content),
                )
            # read back in the same transaction: a reset right after the commit may forget
            # the row, but the answer still names what was stored
            row = db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return Upload(**row)

    def get_upload(self, upload_id: int) -> Upload | None:
        with self._reading():
            row = self._db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return Upload(**row) if row else None

    def list_uploads(
        self, limit: int = 100, offset: int = 0, access_id: str | None = None
    ) -> list[Upload]:
        with self._reading():
            rows = self._db.execute(
                "SELECT * FROM uploads WHERE ?1 IS NULL OR access_id = ?1"
                " ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                (access_id, limit, offset),
            ).fetchall()
        return [Upload(**row) for row in rows]

    def count_uploads(self, access_id: str | None = None) -> int:
        with self._reading():
            return int(self._db.execute(_COUNTED, ("uploads", access_id)).fetchone()[0])

    def package_content(self, stored_name: str) -> bytes | None:
        """A package kept in the database (see ``record_upload``), or None."""
        with self._reading():
            row = self._db.execute(
                "SELECT content FROM package_contents WHERE stored_name = ?", (stored_name,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def stored_names(self) -> set[str]:
        """The package file names that uploads refer to."""
        with self._reading():
            return {r[0] for r in self._db.execute("SELECT stored_name FROM uploads")}

    def refers_to(self, stored_name: str) -> bool:
        with self._reading():
            row = self._db.execute(
                "SELECT 1 FROM uploads WHERE stored_name = ?", (stored_name,)
            ).fetchone()
        return row is not None

    def forget_all(self) -> list[str]:
        """Forget every upload, push, journal entry, fault and rate-limit slot; returns the
        package file names of the uploads forgotten. Ids keep increasing.

        The journal (a database of its own) is cleared first: if that fails, nothing is
        forgotten, rather than records whose package files the caller would never remove."""
        self.clear_requests()
        with self._transaction() as db:
            names = [r[0] for r in db.execute("SELECT stored_name FROM uploads")]
            db.execute("DELETE FROM uploads")
            for table in ("package_contents", "pushes", "faults", "throttle", "call_windows"):
                db.execute(f"DELETE FROM {table}")
        return names

    # -- pushes -----------------------------------------------------------------------------

    def add_push(
        self,
        *,
        access_id: str,
        audience_type: str,
        message_type: str,
        platform: str,
        environment: str,
        seq: int,
        upload_id: int | None,
        target_count: int | None,
        body: str,
        slot: str | None = None,
        interval_s: float = 0.0,
        now: float | None = None,
        start_at: float | None = None,
        scheduled: bool = False,
        duration_s: float = 0.0,
        failed: bool = False,
    ) -> Push:
        """Record a push; with ``slot``, first claim that rate-limit slot, free once
        ``interval_s`` has passed since its last claim.

        Claim and insert are one IMMEDIATE transaction, atomic across worker processes: two
        racing pushes never both get the slot, a push refused by the limit stores nothing
        (:class:`SlotTaken`), and a push that fails to be stored leaves the slot free.
        """
        with self._transaction() as db:
            if slot is not None:
                wait = self._claim(db, slot, interval_s, self.clock.now() if now is None else now)
                if wait:
                    raise SlotTaken(wait)
            cursor = db.execute(
                "INSERT INTO pushes (access_id, audience_type, message_type, platform,"
                " environment, seq, upload_id, target_count, body, created_at, start_at,"
                " scheduled, duration_s, failed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    access_id,
                    audience_type,
                    message_type,
                    platform,
                    environment,
                    seq,
                    upload_id,
                    target_count,
                    body,
                    self.stamp(),
                    start_at,
                    int(scheduled),
                    duration_s,
                    int(failed),
                ),
            )
            row = db.execute("SELECT * FROM pushes WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return Push(**row)

    def mark_push_failed(self, push_id: int) -> None:
        """Make a push's record end PUSH_FAILED (a fault said so)."""
        with self._transaction() as db:
            db.execute("UPDATE pushes SET failed = 1 WHERE id = ?", (push_id,))

    def get_push(self, push_id: int) -> Push | None:
        with self._reading():
            row = self._db.execute("SELECT * FROM pushes WHERE id = ?", (push_id,)).fetchone()
        return Push(**row) if row else None

    def list_pushes(
        self, limit: int = 100, offset: int = 0, access_id: str | None = None
    ) -> list[Push]:
        with self._reading():
            rows = self._db.execute(
                "SELECT * FROM pushes WHERE ?1 IS NULL OR access_id = ?1"
                " ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                (access_id, limit, offset),
            ).fetchall()
        return [Push(**row) for row in rows]

    def pushes_started_between(self, access_id: str, start: float, end: float) -> list[Push]:
        """An app's pushes whose start time lies in ``[start, end)``, newest first."""
        with self._reading():
            rows = self._db.execute(
                "SELECT * FROM pushes WHERE access_id = ? AND start_at >= ? AND start_at < ?"
                " ORDER BY id DESC",
                (access_id, start, end),
            ).fetchall()
        return [Push(**row) for row in rows]

    def take_call(self, key: str, limit: int, window_s: float, now: float) -> float:
        """Count one call against ``key``'s budget of ``limit`` per ``window_s`` (a fixed window
        from its first call): 0.0 if allowed, else seconds until the window ends. Atomic across
        worker processes."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT window_start, calls FROM call_windows WHERE key = ?", (key,)
            ).fetchone()
            if row is None or now - row[0] >= window_s or now < row[0]:
                db.execute(
                    "INSERT INTO call_windows (key, window_start, calls) VALUES (?, ?, 1)"
                    " ON CONFLICT(key) DO UPDATE SET window_start = excluded.window_start,"
                    " calls = 1",
                    (key, now),
                )
                return 0.0
            if row[1] >= limit:
                return float(window_s - (now - row[0]))
            db.execute("UPDATE call_windows SET calls = calls + 1 WHERE key = ?", (key,))
            return 0.0

    def count_pushes(self, access_id: str | None = None) -> int:
        with self._reading():
            return int(self._db.execute(_COUNTED, ("pushes", access_id)).fetchone()[0])

    @staticmethod
    def _claim(db: sqlite3.Connection, key: str, interval_s: float, now: float) -> float:
        """Inside an IMMEDIATE transaction: take ``key``'s slot if ``interval_s`` has passed
        since its last claim (0.0), else say how many seconds until it frees."""
        row = db.execute("SELECT last_at FROM throttle WHERE key = ?", (key,)).fetchone()
        if row is not None and now - row[0] < interval_s:
            return float(interval_s - (now - row[0]))
        db.execute(
            "INSERT INTO throttle (key, last_at) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET last_at = excluded.last_at",
            (key, now),
        )
        return 0.0

    # -- request journal --------------------------------------------------------------------

    def add_request(self, entry: dict[str, Any], keep: int) -> None:
        """Record one journal entry, keeping only the newest ``keep``."""
        encoded = json.dumps(entry)
        with self._journal_transaction() as db:
            cursor = db.execute("INSERT INTO requests (entry) VALUES (?)", (encoded,))
            if cursor.lastrowid is not None:
                db.execute("DELETE FROM requests WHERE id <= ?", (cursor.lastrowid - keep,))

    def list_requests(
        self,
        limit: int = 100,
        offset: int = 0,
        access_id: str | None = None,
        refused: bool = False,
    ) -> list[dict[str, Any]]:
        """Newest first; with ``access_id``, only the requests that app authenticated; with
        ``refused``, only those answered with an error (see ``_JOURNAL_FILTER``)."""
        with self._journal_reading() as db:
            rows = db.execute(
                f"SELECT id, entry FROM requests WHERE {_JOURNAL_FILTER}"
                " ORDER BY id DESC LIMIT ?3 OFFSET ?4",
                (access_id, int(refused), limit, offset),
            ).fetchall()
        return [{"id": row["id"], **json.loads(row["entry"])} for row in rows]

    def count_requests(self, access_id: str | None = None, refused: bool = False) -> int:
        with self._journal_reading() as db:
            return int(
                db.execute(
                    f"SELECT COUNT(*) FROM requests WHERE {_JOURNAL_FILTER}",
                    (access_id, int(refused)),
                ).fetchone()[0]
            )

    def clear_requests(self) -> None:
        with self._journal_transaction() as db:
            db.execute("DELETE FROM requests")

    # -- faults -----------------------------------------------------------------------------

    def add_fault(self, *, path: str, method: str | None, times: int | None, spec: str) -> Fault:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO faults (path, method, remaining, spec, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (path, method, times, spec, self.stamp()),
            )
            row = db.execute("SELECT * FROM faults WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return Fault(**row)

    def list_faults(self) -> list[Fault]:
        with self._reading():
            rows = self._db.execute("SELECT * FROM faults ORDER BY id").fetchall()
        return [Fault(**row) for row in rows]

    def delete_fault(self, fault_id: int) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM faults WHERE id = ?", (fault_id,)).rowcount > 0

    def clear_faults(self) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM faults")

    _ARMED = (
        "SELECT * FROM faults WHERE path = ? AND (method IS NULL OR method = ?)"
        " AND (remaining IS NULL OR remaining > 0) ORDER BY id"
    )

    def fault_armed(self, path: str, method: str) -> bool:
        """Whether any fault may fire for ``path``/``method``: one indexed read, no write, so
        the (usual) request that meets no fault pays microseconds for the question."""
        with self._reading():
            return self._db.execute(self._ARMED, (path, method)).fetchone() is not None

    def take_fault(self, path: str, method: str, fires: Callable[[Fault], bool]) -> Fault | None:
        """The first armed fault for ``path``/``method`` that ``fires``, its count taken.

        Most requests meet no fault, so a plain read comes first; only a candidate opens the
        IMMEDIATE transaction in which ``remaining`` is decremented, so across worker processes
        a fault set for ``times: 1`` fires exactly once.
        """
        query = (
            "SELECT * FROM faults WHERE path = ? AND (method IS NULL OR method = ?)"
            " AND (remaining IS NULL OR remaining > 0) ORDER BY id"
        )
        with self._reading():
            if self._db.execute(query, (path, method)).fetchone() is None:
                return None
        with self._transaction() as db:
            for row in db.execute(query, (path, method)).fetchall():
                fault = Fault(**row)
                if not fires(fault):
                    continue
                db.execute(
                    "UPDATE faults SET fired = fired + 1, remaining = CASE WHEN remaining IS NULL"
                    " THEN NULL ELSE remaining - 1 END WHERE id = ?",
                    (fault.id,),
                )
                return fault
        return None
