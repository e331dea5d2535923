"""SIGKILL during a large upload, then a restart on the same data dir: every earlier upload is
intact (same ids, same accounts), the interrupted one is nowhere, and ids keep increasing."""

from __future__ import annotations

import base64
import select
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from builders import multipart, raw_zip, repeated_deflate
from conftest import AUTH, UPLOAD, LiveServer, start_server
from stored import stored_packages
from zips import accounts_zip

pytestmark = pytest.mark.slow  # kills real servers mid-upload

BASIC = "Basic " + base64.b64encode(":".join(AUTH).encode()).decode()


def upload(server: LiveServer, lines: list[str]) -> int:
    response = httpx.post(
        f"{server.url}{UPLOAD}",
        files={"file": ("accounts.zip", accounts_zip(lines))},
        auth=AUTH,
        timeout=30,
    )
    body = response.json()
    assert body["retCode"] == 0, body
    return int(body["uploadId"])


def accounts(server: LiveServer, upload_id: int) -> list[str]:
    response = httpx.get(f"{server.url}/_mock/uploads/{upload_id}/accounts", timeout=30)
    assert response.status_code == 200
    return response.text.splitlines()


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def big_package() -> bytes:
    """A valid zip of 512 MiB of accounts (about 0.8 MiB on the wire): seconds to validate
    (lines of two widths, so no block is checked with one comparison)."""
    deflated, crc, size = repeated_deflate(b"ab\nabcd\n" * (1024 * 1024 // 8), 512)
    return raw_zip(deflated, crc=crc, size=size)


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.mark.parametrize(
    ("phase", "framing"),
    [("receiving", "chunked"), ("validating", "chunked"), ("receiving", "content-length")],
)
def test_sigkill_mid_upload_loses_nothing_and_lists_nothing_partial(
    tmp_path: Path, phase: str, framing: str
) -> None:
    """Chunked, the package arrives in a temp file (its length is unknown); with a
    Content-Length under 1 MiB it arrives in memory, to be kept in the database with its
    record. (A small package is checked too fast to be caught validating.)"""
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    try:
        before = {upload(server, [f"user{n}-{i}" for i in range(50)]): n for n in range(3)}
        port = int(server.url.rsplit(":", 1)[1])
        body = multipart([("file", "accounts.zip", big_package())])
        head = (
            f"POST {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {BASIC}\r\n"
            "Content-Type: multipart/form-data; boundary=hostile\r\n"
        ).encode()
        if framing == "chunked":
            head += b"Transfer-Encoding: chunked\r\n\r\n"
            half, rest = (
                chunked(body[: len(body) // 2]),
                chunked(body[len(body) // 2 :]) + b"0\r\n\r\n",
            )
        else:
            head += f"Content-Length: {len(body)}\r\n\r\n".encode()
            half, rest = body[: len(body) // 2], body[len(body) // 2 :]
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head + half)  # in the receiving phase, the rest never comes
            if phase == "validating":
                sock.sendall(rest)
            if framing == "chunked":
                part = next(iter(wait_list(data_dir / "tmp")))
                # the package is checked as it is written, so its file grows as the check
                # goes: half written is well into inflating 512 MiB, with the rest to go
                if phase == "validating":
                    wait_for(lambda: part.stat().st_size >= len(half) // 2, seconds=60)
                else:
                    wait_for(lambda: part.stat().st_size > 0)
            time.sleep(0.3)
            answered, _, _ = select.select([sock], [], [], 0)
            assert not answered, sock.recv(4000)  # killed in flight, not after the answer
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=10)
        if framing == "chunked":
            assert list((data_dir / "tmp").iterdir()), "the kill should leave a partial file"
    finally:
        server.stop()

    server = start_server(data_dir)
    try:
        listing = httpx.get(f"{server.url}/_mock/uploads", timeout=10).json()
        assert listing["total"] == 3
        assert sorted(u["uploadId"] for u in listing["uploads"]) == sorted(before)
        for upload_id, n in before.items():
            assert accounts(server, upload_id) == [f"user{n}-{i}" for i in range(50)]
        assert list((data_dir / "tmp").iterdir()) == []  # the partial upload was cleaned away
        assert len(stored_packages(data_dir)) == 3
        new_id = upload(server, ["after", "restart"])
        assert new_id > max(before)
        assert accounts(server, new_id) == ["after", "restart"]
    finally:
        server.stop()


def wait_list(directory: Path) -> list[Path]:
    found: list[Path] = []

    def any_file() -> bool:
        found[:] = list(directory.iterdir())
        return bool(found)

    wait_for(any_file)
    return found
