"""SIGTERM while an upload is arriving: the upload finishes (or is dropped whole), the process
exits, and a restart on the same data dir finds a consistent store."""

from __future__ import annotations

import os
import signal
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import AUTH, UPLOAD, start_server
from stored import stored_packages
from zips import accounts_zip, make_zip

pytestmark = pytest.mark.slow  # signals real servers mid-upload

ACCOUNTS = 250_000  # 20 characters + newline each: a 5 MiB txt, stored (not deflated)
CHUNK = 256 * 1024
BOUNDARY = "tpns-mock-shutdown-test"


def big_upload_body() -> bytes:
    txt = b"".join(b"account-%012d\n" % n for n in range(ACCOUNTS))
    package = make_zip({"accounts.txt": txt}, compression=zipfile.ZIP_STORED)
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="accounts.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    return head + package + f"\r\n--{BOUNDARY}--\r\n".encode()


def slowly(body: bytes, started: threading.Event) -> Iterator[bytes]:
    """The body in chunks, about 2.5 s in all; ``started`` is set once a quarter has gone."""
    chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    for n, chunk in enumerate(chunks):
        if n == len(chunks) // 4:
            started.set()
        yield chunk
        time.sleep(2.5 / len(chunks))


def in_flight_files(data_dir: Path) -> list[Path]:
    return list((data_dir / "tmp").iterdir())


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_during_an_upload_leaves_a_consistent_store(tmp_path: Path, workers: str) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, "--workers", workers)
    try:
        with httpx.Client(base_url=server.url, auth=AUTH, timeout=30) as client:
            small = client.post(UPLOAD, files={"file": ("a.zip", accounts_zip(["alice", "bob"]))})
            first_id = small.json()["uploadId"]

        body = big_upload_body()
        started = threading.Event()
        outcome: dict[str, Any] = {}

        def send() -> None:
            try:
                response = httpx.post(
                    f"{server.url}{UPLOAD}",
                    content=slowly(body, started),
                    headers={
                        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                        "Content-Length": str(len(body)),
                    },
                    auth=AUTH,
                    timeout=60,
                )
                outcome["answer"] = response.json()
            except httpx.TransportError as exc:  # dropped whole: allowed, checked below
                outcome["error"] = exc

        sender = threading.Thread(target=send)
        sender.start()
        assert started.wait(timeout=30)
        deadline = time.monotonic() + 5
        while not in_flight_files(data_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert in_flight_files(data_dir), "the upload is arriving when SIGTERM comes"
        assert sender.is_alive() and not outcome
        os.kill(server.process.pid, signal.SIGTERM)
        sender.join(timeout=60)
        assert not sender.is_alive()
        # uvicorn re-raises the signal once it has shut down cleanly
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        server.stop()

    # the in-flight request was allowed to finish
    assert outcome.get("answer", {}).get("retCode") == 0, outcome
    big_id = outcome["answer"]["uploadId"]
    assert big_id == first_id + 1
    assert in_flight_files(data_dir) == []

    restarted = start_server(data_dir)
    try:
        with httpx.Client(base_url=restarted.url, auth=AUTH, timeout=30) as client:
            listed = client.get("/_mock/uploads").json()
            assert [u["uploadId"] for u in listed["uploads"]] == [big_id, first_id]
            meta = client.get(f"/_mock/uploads/{big_id}").json()
            assert meta["accountCount"] == ACCOUNTS
            accounts = client.get(f"/_mock/uploads/{big_id}/accounts")
            assert accounts.headers["X-Account-Count"] == str(ACCOUNTS)
            assert accounts.text.count("\n") == ACCOUNTS
            assert accounts.text.endswith(f"account-{ACCOUNTS - 1:012d}\n")
            stored = stored_packages(data_dir)
            assert len(stored) == 2  # one package per listed upload, nothing orphaned
            # ids continue after the restart
            after = client.post(UPLOAD, files={"file": ("b.zip", accounts_zip(["carol", "dan"]))})
            assert after.json()["uploadId"] == big_id + 1
    finally:
        restarted.stop()
