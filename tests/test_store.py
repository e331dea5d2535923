"""The store's crash recovery: what a killed server leaves is cleaned at the next start, and
nothing a live upload still holds is touched."""

from __future__ import annotations

import fcntl
from pathlib import Path

from tpns_mock.store import Store


def add_one(store: Store) -> str:
    with store.incoming() as (path, handle):
        handle.write(b"PK")
        handle.flush()
        upload = store.add_upload(
            path,
            access_id="1500000001",
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


def test_recovery_leaves_files_a_live_upload_holds(tmp_path: Path) -> None:
    Store(tmp_path).close()
    in_flight = tmp_path / "packages" / "0123456789abcdef.zip"
    in_flight.write_bytes(b"PK")
    with in_flight.open("rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # another worker, mid add_upload
        Store(tmp_path).close()
        assert in_flight.exists()
