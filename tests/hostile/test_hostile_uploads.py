"""Hostile uploads against a real ``tpns-mock`` process: each gets a clear error in bounded time
and memory, never a 5xx, leaves nothing stored, and the server is healthy afterwards.

The rules themselves are tested one by one in ``tests/test_upload_rules.py``; here the point is
the network path and the resource bounds, so the inputs are big (gigabytes once inflated, past
100 MiB on the wire), slow, or malformed at the HTTP and multipart level.
"""

from __future__ import annotations

import json
import select
import socket
import stat
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from builders import MIB, bomb, endless_file_part, multipart, one_long_line, raw_zip, zip64
from conftest import AUTH, UPLOAD, HostileRun, LiveServer, start_server
from stored import leftovers

pytestmark = pytest.mark.slow  # slow clients and zip bombs against a real server

INFLATE_CAP = 64 * MIB
BODY_IDLE_S = 1.0
BODY_DEADLINE_S = 4.0
PEAK_RSS_MB = 150
BASIC = "Basic " + __import__("base64").b64encode(":".join(AUTH).encode()).decode()
RUN: HostileRun | None = None  # the run's recorder of answer times, set by the server fixture


@pytest.fixture
def server(hostile_server: LiveServer, hostile_run: HostileRun) -> LiveServer:
    """The hostile suite's one server (tests/conftest.py), whose limits are the ones above."""
    global RUN
    RUN = hostile_run
    return hostile_server


def peak_rss_mb(server: LiveServer) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with the default 1 GiB inflate cap, for the one input that needs it."""
    live = start_server(tmp_path_factory.mktemp("hostile-default") / "data")
    yield live
    assert_unharmed(live)
    live.stop()


@pytest.fixture(autouse=True)
def unharmed(server: LiveServer) -> Iterator[None]:
    yield
    assert_unharmed(server)


def assert_unharmed(server: LiveServer) -> None:
    """After every case: healthy, nothing stored, nothing half-written, memory bounded."""
    assert server.process.poll() is None, "the server died"
    health = httpx.get(f"{server.url}/_mock/health", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert httpx.get(f"{server.url}/_mock/uploads", timeout=5).json()["total"] == 0
    deadline = time.monotonic() + 5  # a disconnected upload may still be unwinding
    while leftovers(server.data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(server.data_dir) == []
    if Path("/proc/self/status").exists():
        assert peak_rss_mb(server) < PEAK_RSS_MB


def upload(server: LiveServer, content: bytes, file_name: str = "accounts.zip") -> dict[str, Any]:
    started = time.monotonic()
    response = httpx.post(
        f"{server.url}{UPLOAD}", files={"file": (file_name, content)}, auth=AUTH, timeout=60
    )
    if RUN is not None:
        RUN.took(time.monotonic() - started, f"upload of {len(content):,} bytes")
    assert response.status_code < 500, response.text
    return {**response.json(), "_status": response.status_code}


def refused(body: dict[str, Any], code: int, *words: str, status: int = 200) -> None:
    assert body["retCode"] == code, body
    assert body["_status"] == status, body
    assert "uploadId" not in body
    for word in words:
        assert word in body["errMsg"], body["errMsg"]


@pytest.fixture
def within() -> Iterator[Any]:
    """``within(seconds)`` after the case: the case took at most that long."""
    start = time.monotonic()
    limit: list[float] = []
    yield limit.append
    if limit:
        assert time.monotonic() - start < limit[0], f"took more than {limit[0]} s"


# -- zip bombs and odd archives ------------------------------------------------------------------


def test_zip_bomb_of_gigabytes_is_refused_by_its_declared_size(server: LiveServer, within) -> None:
    content = bomb(3)
    assert len(content) < 4 * MIB  # a small zip of 3 GiB
    refused(upload(server, content), 1008011, "zip bomb", f"{INFLATE_CAP:,}")
    within(10)


def test_zip_bomb_lying_about_its_size_is_refused_as_soon_as_it_inflates_past_it(
    server: LiveServer, within
) -> None:
    refused(upload(server, bomb(3, declared=10)), 1008011, "corrupt", "declares")
    within(10)


def test_zip_bomb_declaring_the_cap_is_refused_at_the_cap(server: LiveServer, within) -> None:
    refused(upload(server, bomb(3, declared=INFLATE_CAP)), 1008011, "zip bomb")
    within(15)


def test_overlapping_entries_are_refused(server: LiveServer) -> None:
    data = b"alice\nbob\n"
    content = raw_zip(data, crc=zlib.crc32(data), size=len(data), method=0, entries=3)
    refused(upload(server, content), 1008011, "holds 3 files")


@pytest.mark.parametrize(
    "name", ["../accounts.txt", "../../etc/accounts.txt", "/accounts.txt", "C:/accounts.txt"]
)
def test_path_traversal_and_absolute_names_are_refused(server: LiveServer, name: str) -> None:
    data = b"alice\nbob\n"
    content = raw_zip(data, crc=zlib.crc32(data), size=len(data), method=0, name=name.encode())
    refused(upload(server, content), 1008011, "unsafe path")


def test_symlink_entry_is_refused(server: LiveServer) -> None:
    data = b"/etc/passwd"
    attr = (stat.S_IFLNK | 0o777) << 16
    content = raw_zip(data, crc=zlib.crc32(data), size=len(data), method=0, external_attr=attr)
    refused(upload(server, content), 1008011, "symbolic link")


def test_encrypted_entry_is_refused(server: LiveServer) -> None:
    data = b"\x00" * 12 + b"alice\nbob\n"  # the 12-byte ZipCrypto header, then (ciphered) data
    content = raw_zip(data, crc=zlib.crc32(b"alice\nbob\n"), size=10, method=0, flags=0x1)
    refused(upload(server, content), 1008011, "encrypted")


def test_valid_zip64_zip_is_accepted(server: LiveServer) -> None:
    body = upload(server, zip64(b"alice\nbob\n"))
    assert body["retCode"] == 0, body
    accounts = httpx.get(f"{server.url}/_mock/uploads/{body['uploadId']}/accounts", timeout=5)
    assert accounts.text == "alice\nbob\n"
    httpx.post(f"{server.url}/_mock/reset", timeout=5).raise_for_status()


def test_corrupt_crc_of_a_deflated_entry_is_refused(server: LiveServer) -> None:
    data = b"alice\nbob\n" * 1000
    deflated = zlib.compress(data)[2:-4]
    content = raw_zip(deflated, crc=zlib.crc32(data) ^ 1, size=len(data))
    refused(upload(server, content), 1008011, "CRC")


def test_truncated_deflate_stream_is_refused(server: LiveServer) -> None:
    data = b"alice\nbob\n" * 1000
    deflated = zlib.compress(data)[2:-4]
    cut = deflated[: len(deflated) // 2]
    content = raw_zip(cut, crc=zlib.crc32(data), size=len(data))
    refused(upload(server, content), 1008011, "truncated")


def test_invalid_utf8_is_refused_with_its_line(server: LiveServer) -> None:
    data = b"alice\nb\xffob\n"
    content = raw_zip(data, crc=zlib.crc32(data), size=len(data), method=0)
    refused(upload(server, content), 1008011, "line 2", "UTF-8")


def test_nul_byte_is_refused_with_its_line(server: LiveServer) -> None:
    data = b"alice\nbob\nca\x00rol\n"
    content = raw_zip(data, crc=zlib.crc32(data), size=len(data), method=0)
    refused(upload(server, content), 1008011, "line 3", "U+0000")


def test_single_line_of_a_gigabyte_is_refused_without_reading_it(
    default_server: LiveServer, within
) -> None:
    content = one_long_line(1)  # 1 GiB exactly: within the default cap
    assert len(content) < 2 * MIB
    refused(upload(default_server, content), 1008011, "line 1", "more than 100 characters")
    within(10)


# -- the HTTP and multipart level ----------------------------------------------------------------


def raw_request(
    server: LiveServer, head: bytes, pieces: Iterator[bytes], *, timeout: float = 30
) -> tuple[int, dict[str, Any]]:
    """Send a request by hand on a socket; returns (status, JSON body) once the server answers."""
    started = time.monotonic()
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for piece in pieces:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered (or closed): stop sending, read it
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed; read what it said
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    status = int(response.split(b" ", 2)[1])
    if RUN is not None:
        case = f"a hand-made request to {head.split(b' ', 2)[1].decode()}"
        RUN.took(time.monotonic() - started, case, timeout=status == 408)
    return status, json.loads(response.split(b"\r\n\r\n", 1)[1] or b"{}")


def head(length: int | None, content_type: str = "multipart/form-data; boundary=hostile") -> bytes:
    lines = [
        f"POST {UPLOAD} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: {BASIC}",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_thousands_of_parts_are_refused(server: LiveServer, within) -> None:
    body = multipart([(f"field{i}", None, b"x") for i in range(5000)])
    status, answer = raw_request(server, head(len(body)), iter([body]))
    assert status == 200 and answer["retCode"] == 1008001, answer
    assert "parts" in answer["errMsg"]
    within(10)


def test_huge_part_headers_are_refused(server: LiveServer) -> None:
    part_head = b'--hostile\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n'
    body = part_head + b"X-Padding: " + b"p" * (4 * MIB) + b"\r\n\r\ndata\r\n--hostile--\r\n"
    status, answer = raw_request(server, head(len(body)), iter([body]))
    assert status == 200 and answer["retCode"] == 1008001, answer
    assert "malformed multipart" in answer["errMsg"]


def test_huge_request_headers_are_refused_without_a_5xx(server: LiveServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    request = f"GET /_mock/health HTTP/1.1\r\nHost: x\r\nX-Pad: {'p' * MIB}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
            answer = sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""  # refused by closing: also no 5xx
    if answer:
        assert 400 <= int(answer.split(b" ", 2)[1]) < 500


def test_body_past_100_mib_with_content_length_is_refused(server: LiveServer, within) -> None:
    total = 101 * MIB
    pieces = list(endless_file_part(0))
    length = sum(map(len, pieces)) + total
    status, answer = raw_request(server, head(length), endless_file_part(total))
    assert status == 200 and answer["retCode"] == 1008011, answer
    assert "larger than 104,857,600 bytes" in answer["errMsg"]
    within(20)


def test_chunked_body_past_100_mib_is_refused(server: LiveServer, within) -> None:
    def chunked() -> Iterator[bytes]:
        for piece in endless_file_part(110 * MIB):
            yield b"%x\r\n%s\r\n" % (len(piece), piece)
        yield b"0\r\n\r\n"

    status, answer = raw_request(server, head(None), chunked())
    assert status == 200 and answer["retCode"] == 1008011, answer
    assert "larger than 104,857,600 bytes" in answer["errMsg"]
    within(20)


def test_truncated_http_body_leaves_nothing_behind(server: LiveServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    first = next(endless_file_part(0))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head(10 * MIB) + first + b"PK\x03\x04" + b"x" * 1000)
        time.sleep(0.2)
    # the autouse check: no row, no temp file, still healthy


def trickle(every_s: float, stop_after_s: float) -> Iterator[bytes]:
    yield next(endless_file_part(0))
    end = time.monotonic() + stop_after_s
    while time.monotonic() < end:
        time.sleep(every_s)
        yield b"P"


def test_client_trickling_bytes_is_cut_off_at_the_body_deadline(server: LiveServer, within) -> None:
    # a byte every 0.25 s never trips the 1 s idle timeout; the overall deadline ends it
    seen: list[int] = []

    def trickle_and_probe() -> Iterator[bytes]:
        for piece in trickle(0.25, BODY_DEADLINE_S + 10):
            yield piece
            health = httpx.get(f"{server.url}/_mock/health", timeout=2)
            seen.append(health.status_code)

    status, answer = raw_request(server, head(1000), trickle_and_probe())
    assert status == 408 and answer["retCode"] == 1008011, answer
    assert f"longer than {BODY_DEADLINE_S:g} s" in answer["errMsg"]
    assert seen and set(seen) == {200}  # the server kept serving meanwhile
    within(BODY_DEADLINE_S + 5)


def test_stalled_client_is_cut_off_after_the_idle_timeout(server: LiveServer, within) -> None:
    status, answer = raw_request(server, head(1000), iter([next(endless_file_part(0))]))
    assert status == 408 and answer["retCode"] == 1008011, answer
    assert f"no data for {BODY_IDLE_S:g} s" in answer["errMsg"]
    within(BODY_IDLE_S + 3)
