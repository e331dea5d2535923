"""How an upload's HTTP framing decides where it is received: a body sent chunked is as long as
its chunks say, whatever Content-Length claims beside them (RFC 9112 section 6.3), so a package
kept in memory and in the database is one whose real size is small."""

from __future__ import annotations

import base64
import random
import socket
import sqlite3
import zipfile
from pathlib import Path

from conftest import start_server
from tpns_mock.settings import DEFAULT_ACCESS_ID, DEFAULT_SECRET_KEY
from tpns_mock.store import INLINE_MAX_BYTES
from zips import make_zip

BOUNDARY = "framing-boundary"


def multipart(package: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        + package
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def send_chunked(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    """POST ``body`` chunked (256 KiB chunks) with extra ``headers``; the raw answer."""
    auth = base64.b64encode(f"{DEFAULT_ACCESS_ID}:{DEFAULT_SECRET_KEY}".encode()).decode()
    head = (
        "POST /v3/push/package/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Basic {auth}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(head.encode())
        step = 256 * 1024
        for at in range(0, len(body), step):
            chunk = body[at : at + step]
            conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        conn.sendall(b"0\r\n\r\n")
        answer = b""
        while part := conn.recv(65536):
            answer += part
    return answer


def kept_in_database(data_dir: Path) -> list[int]:
    """The sizes of the packages kept in the database."""
    db = sqlite3.connect(f"file:{data_dir / 'tpns-mock.sqlite3'}?mode=ro", uri=True)
    try:
        return [r[0] for r in db.execute("SELECT length(content) FROM package_contents")]
    finally:
        db.close()


def test_a_chunked_body_claiming_a_small_content_length_is_not_kept_in_memory(
    tmp_path: Path,
) -> None:
    rnd = random.Random(7)
    lines = b"".join(b"acct%030d\n" % rnd.getrandbits(90) for _ in range(3 * 2**20 // 35))
    package = make_zip({"accounts.txt": lines}, compression=zipfile.ZIP_STORED)
    assert len(package) > 2 * INLINE_MAX_BYTES
    server = start_server(tmp_path / "data")
    try:
        port = int(server.url.rsplit(":", 1)[1])
        answer = send_chunked(port, multipart(package), {"Content-Length": "100"})
        assert b'"retCode":0' in answer, answer[-300:]
        assert all(size <= INLINE_MAX_BYTES for size in kept_in_database(server.data_dir))
    finally:
        server.stop()
