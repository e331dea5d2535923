"""The store's crash recovery: what a killed server leaves is cleaned at the next start, and
nothing a live upload still holds is touched. And its counts, kept without counting rows."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from tpns_mock import write_turns
from tpns_mock.storage_errors import describe_failure
from tpns_mock.store import INLINE_MAX_BYTES, StorageError, Store
from tpns_mock.write_turns import WriteTurns


def add_one(store: Store, access_id: str = "1500000001", expected_bytes: int | None = None) -> str:
    with store.incoming(expected_bytes) as arriving:
        arriving.handle.write(b"PK")
        arriving.handle.flush()
        upload = store.add_upload(
            arriving,
            access_id=access_id,
            file_name="a.zip",
            kind="zip",
            member="a.txt",
            rules="seed",
            upload_bytes=2,
            content_bytes=6,
            account_count=1,
            sha256="0" * 64,
        )
    return upload.stored_name


def test_a_crash_between_moving_a_package_and_committing_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    kept = add_one(store)
    store.close()
    orphan = tmp_path / "packages" / "0123456789abcdef.zip"  # moved in place, row never written
    orphan.write_bytes(b"PK")
    leftover = tmp_path / "tmp" / "fedcba9876543210.part"  # a crashed upload's temp file
    leftover.write_bytes(b"PK")

    Store(tmp_path).close()

    assert sorted(p.name for p in (tmp_path / "packages").iterdir()) == [kept]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_small_package_is_kept_in_the_database_not_as_a_file(tmp_path: Path) -> None:
    store = Store(tmp_path)
    name = add_one(store, expected_bytes=INLINE_MAX_BYTES)
    big = add_one(store, expected_bytes=INLINE_MAX_BYTES + 1)
    store.close()
    reopened = Store(tmp_path)  # recovery keeps both: one row with its content, one file
    try:
        assert sorted(p.name for p in (tmp_path / "packages").iterdir()) == [big]
        small, large = sorted(reopened.list_uploads(), key=lambda u: u.stored_name != name)
        assert small.stored_name == name
        for upload in (small, large):
            with reopened.open_package(upload) as handle:
                assert handle.read() == b"PK"
        reopened.reset()
        assert list((tmp_path / "packages").iterdir()) == []
        with pytest.raises(FileNotFoundError):
            reopened.open_package(small)
    finally:
        reopened.close()


def test_a_small_package_and_its_record_are_one_transaction(tmp_path: Path) -> None:
    """A record that cannot be committed leaves no content behind, and the reverse."""
    store = Store(tmp_path)
    try:
        store._db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON package_contents "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
        with pytest.raises(StorageError):
            add_one(store, expected_bytes=2)
        assert store.list_uploads() == [] and store.count_uploads() == 0
        store._db.execute("DROP TRIGGER refuse")
        add_one(store, expected_bytes=2)
        rows = store._db.execute("SELECT COUNT(*) FROM package_contents").fetchone()[0]
        assert (store.count_uploads(), rows) == (1, 1)
    finally:
        store.close()


def test_recovery_leaves_files_a_live_upload_holds(tmp_path: Path) -> None:
    Store(tmp_path).close()
    in_flight = tmp_path / "packages" / "0123456789abcdef.zip"
    in_flight.write_bytes(b"PK")
    with in_flight.open("rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # another worker, mid add_upload
        Store(tmp_path).close()
        assert in_flight.exists()


def counts(store: Store) -> tuple[int, int, int, int]:
    uploads, pushes = store.list_uploads(limit=1000), store.list_pushes(limit=1000)
    assert store.count_uploads() == len(uploads)
    assert store.count_pushes() == len(pushes)
    return (
        store.count_uploads(),
        store.count_uploads("1500000002"),
        store.count_pushes(),
        store.count_uploads("nobody"),
    )


def push(store: Store, access_id: str) -> None:
    store.add_push(
        access_id=access_id,
        audience_type="all",
        message_type="notify",
        platform="android",
        environment="product",
        seq=0,
        upload_id=None,
        target_count=None,
        body="{}",
    )


def test_totals_follow_inserts_and_resets_and_an_older_data_dir_is_counted_once(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    for access_id in ("1500000001", "1500000002", "1500000002"):
        add_one(store, access_id)
    push(store, "1500000001")
    assert counts(store) == (3, 2, 1, 0)
    store.reset()
    assert counts(store) == (0, 0, 0, 0)
    add_one(store, "1500000002")
    assert counts(store) == (1, 1, 0, 0)
    store.close()

    # a data dir written before the counts were kept: no table, no triggers
    with sqlite3.connect(tmp_path / "tpns-mock.sqlite3") as db:
        for trigger in (
            "uploads_counted",
            "uploads_uncounted",
            "pushes_counted",
            "pushes_uncounted",
        ):
            db.execute(f"DROP TRIGGER {trigger}")
        db.execute("DROP TABLE row_counts")
    store = Store(tmp_path)
    add_one(store, "1500000001")
    push(store, "1500000002")
    assert counts(store) == (2, 1, 1, 0)
    store.close()
    reopened = Store(tmp_path)
    assert counts(reopened) == (2, 1, 1, 0)  # and only once
    reopened.close()


def test_the_journal_is_written_while_another_process_holds_the_records(tmp_path: Path) -> None:
    """The journal has a database of its own: an entry does not wait for an upload's or a
    push's transaction (SQLite has one write lock per database file)."""
    store = Store(tmp_path)
    holder = sqlite3.connect(tmp_path / "tpns-mock.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # a writer of the records, in the middle of its work
        done = threading.Event()

        def journal() -> None:
            store.add_request({"path": "/v3/push/app", "status": 200}, keep=10)
            done.set()

        threading.Thread(target=journal, daemon=True).start()
        assert done.wait(timeout=10), "the journal entry waited for the records' writer"
        holder.execute("ROLLBACK")
        assert [e["path"] for e in store.list_requests()] == ["/v3/push/app"]
        store.reset()
        assert store.list_requests() == [] and store.count_requests() == 0
    finally:
        holder.close()
        store.close()


def test_writers_take_turns_and_a_turn_held_too_long_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = WriteTurns(tmp_path / "w"), WriteTurns(tmp_path / "w")
    monkeypatch.setattr(write_turns, "WAIT_S", 0.2)
    try:
        order: list[str] = []

        def wait_for_a_turn() -> None:
            with second.turn():
                order.append("2")

        with first.turn():
            with pytest.raises(OSError, match="held the database"), second.turn():
                pass
            monkeypatch.setattr(write_turns, "WAIT_S", 10.0)
            waiting = threading.Thread(target=wait_for_a_turn)
            waiting.start()
            time.sleep(0.05)
            order.append("1")  # the second writer is still waiting for the first's turn
        waiting.join(timeout=10)
        assert order == ["1", "2"]
    finally:
        first.close()
        second.close()


def test_a_store_that_cannot_open_keeps_no_file_open(tmp_path: Path) -> None:
    """A data dir whose journal cannot be opened is refused without leaving the records'
    database (and its writers' turns) open: a harness retrying a bad dir leaks nothing."""
    (tmp_path / "tpns-mock-requests.sqlite3").mkdir()  # the journal's database cannot be opened

    def open_files() -> set[str]:
        found = set()
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                found.add(os.readlink(f"/proc/self/fd/{fd}"))
        return {name for name in found if name.startswith(str(tmp_path))}

    for _ in range(3):
        with pytest.raises(StorageError, match="tpns-mock-requests"):
            Store(tmp_path)
    assert open_files() == set()


def test_a_journal_kept_in_the_main_database_is_moved_once(tmp_path: Path) -> None:
    """A data dir from before the journal had a database of its own: its entries stay in the
    journal (in order, once, however often the dir is opened) and a reset forgets them."""
    old = sqlite3.connect(tmp_path / "tpns-mock.sqlite3")
    old.execute("CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL)")
    old.executemany(
        "INSERT INTO requests (entry) VALUES (?)",
        [('{"path": "/v3/push/app", "n": 1}',), ('{"path": "/v3/push/app", "n": 2}',)],
    )
    old.commit()
    old.close()
    for _ in range(2):
        store = Store(tmp_path)
        try:
            assert [entry["n"] for entry in store.list_requests()] == [2, 1]
        finally:
            store.close()
    store = Store(tmp_path)
    try:
        store.reset()
        assert store.count_requests() == 0
    finally:
        store.close()
    main = sqlite3.connect(tmp_path / "tpns-mock.sqlite3")
    try:
        tables = {row[0] for row in main.execute("SELECT name FROM sqlite_master")}
    finally:
        main.close()
    assert "requests" not in tables


def test_turns_step_aside_where_the_file_system_has_no_flock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def no_flock(fd: int, operation: int) -> None:
        calls.append(operation)
        raise OSError(errno.ENOLCK, "No locks available")

    turns = WriteTurns(tmp_path / "w")
    monkeypatch.setattr(write_turns.fcntl, "flock", no_flock)
    try:
        for _ in range(3):
            with turns.turn():
                pass
        assert len(calls) == 1  # tried once, then SQLite's own lock alone
    finally:
        turns.close()
    assert "locked by another process" in describe_failure(OSError(errno.EAGAIN, "held"))


def test_the_journal_refuses_entries_once_the_database_is_deleted(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        store.add_request({"path": "/v3/push/app", "status": 200}, keep=10)
        (tmp_path / "tpns-mock.sqlite3").unlink()
        with pytest.raises(StorageError, match="deleted or replaced"):
            store.add_request({"path": "/v3/push/app", "status": 200}, keep=10)
        assert len(store.list_requests()) == 1
    finally:
        store.close()
