"""The intake: an arriving package written, hashed and checked in one pass, inline or on its
threads, with the same result either way; a failed write is raised, never swallowed; closing
mid-upload leaves no thread behind."""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
from typing import Any

import pytest
from tpns_client.protocol.package import PackageError, Rules
from tpns_mock.intake import THREAD_MIN_BYTES, Intake
from zips import make_zip

CHUNK = 64 * 1024
PACKAGE = make_zip({"accounts.txt": b"".join(b"user-%07d\n" % n for n in range(200_000))})


def intake(handle: Any, threaded: bool) -> Intake:
    size = THREAD_MIN_BYTES + 1 if threaded else 100
    return Intake(handle, Rules.SEED, 2**30, expected_bytes=size)


def feed(sink: Intake, data: bytes) -> None:
    sink.start("accounts.zip")
    for start in range(0, len(data), CHUNK):
        sink.write(data[start : start + CHUNK])
    sink.flush()


@pytest.mark.parametrize("threaded", [False, True])
def test_written_hashed_and_checked_in_one_pass(threaded: bool) -> None:
    handle = io.BytesIO()
    sink = intake(handle, threaded)
    feed(sink, PACKAGE)
    summary = asyncio.run(sink.verdict("accounts.zip"))
    sink.close()
    assert summary.account_count == 200_000
    assert sink.check is not None and sink.check.streamed
    assert handle.getvalue() == PACKAGE
    assert sink.sha256() == hashlib.sha256(PACKAGE).hexdigest()


@pytest.mark.parametrize("threaded", [False, True])
def test_a_bad_line_is_refused_with_its_number(threaded: bool) -> None:
    data = make_zip({"accounts.txt": b"alice\n" * 100_000 + b"b\n"})
    sink = intake(io.BytesIO(), threaded)
    feed(sink, data)
    with pytest.raises(PackageError, match="line 100001"):
        asyncio.run(sink.verdict("accounts.zip"))
    sink.close()


class FullDisk(io.BytesIO):
    def write(self, data: Any) -> int:
        if self.tell() > 3 * CHUNK:
            raise OSError(28, "No space left on device")
        return super().write(data)


@pytest.mark.parametrize("threaded", [False, True])
def test_a_failed_write_is_raised(threaded: bool) -> None:
    sink = intake(FullDisk(), threaded)
    with pytest.raises(OSError, match="No space left"):
        feed(sink, PACKAGE)  # inline: raised by the write itself
        asyncio.run(sink.verdict("accounts.zip"))  # threaded: raised at the verdict
    sink.close()


def test_closing_mid_upload_stops_every_thread() -> None:
    before = threading.active_count()
    sink = intake(io.BytesIO(), threaded=True)
    sink.start("accounts.zip")
    sink.write(PACKAGE[: len(PACKAGE) // 2])
    assert threading.active_count() > before
    sink.close()
    sink.close()  # idempotent
    assert threading.active_count() == before
