"""A reset clears two databases (the records and the journal); one that fails part-way must not
leave records forgotten whose package files stay on disk, answered as a failure."""

from __future__ import annotations

import fcntl
import os
import random
import zipfile
from collections.abc import Callable

import pytest
from conftest import Mock
from stored import stored_packages
from tpns_mock import write_turns
from tpns_mock.records import JOURNAL_FILE
from tpns_mock.store import INLINE_MAX_BYTES
from zips import accounts_zip, make_zip


def test_a_reset_the_journal_refuses_forgets_nothing(
    make_mock: Callable[..., Mock], monkeypatch: pytest.MonkeyPatch
) -> None:
    mock = make_mock()
    rnd = random.Random(3)
    lines = b"".join(b"acct%030d\n" % rnd.getrandbits(90) for _ in range(40000))
    big = make_zip({"a.txt": lines}, compression=zipfile.ZIP_STORED)
    assert len(big) > INLINE_MAX_BYTES  # kept as a file
    ids = [mock.upload(big)["uploadId"], mock.upload(accounts_zip(["alice", "bobby"]))["uploadId"]]
    kept = stored_packages(mock.data_dir)
    # another process holds the journal's write turn past the (shortened) wait
    monkeypatch.setattr(write_turns, "WAIT_S", 0.2)
    holder = os.open(mock.data_dir / f"{JOURNAL_FILE}-writer", os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        answer = mock.client.post("/_mock/reset")
    finally:
        os.close(holder)
    assert answer.status_code == 503, answer.text
    assert mock.client.get("/_mock/uploads").json()["total"] == 2
    assert stored_packages(mock.data_dir) == kept
    for upload_id in ids:
        assert mock.client.get(f"/_mock/uploads/{upload_id}/accounts").status_code == 200
    # once the turn is free, a reset forgets everything, files included
    assert mock.client.post("/_mock/reset").status_code == 200
    assert mock.leftovers() == []
