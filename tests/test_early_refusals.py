"""Refusals that must come first: before ``100 Continue`` for a body announced too large, when a
fault is armed (not when it fires) for a status that cannot carry its answer, and answers that a
reset racing them cannot turn into a 5xx or a stream cut short."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from conftest import AUTH, UPLOAD, LiveServer, Mock, start_server
from pushing import PUSH
from zips import accounts_zip

BASIC = "Basic " + base64.b64encode(":".join(AUTH).encode()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("early") / "data", "--no-rate-limit")
    yield live
    live.stop()


def first_answer(server: LiveServer, head: str) -> bytes:
    """Send only the request head, as a client expecting 100 Continue does, and read what the
    server says first (the client never sends a byte of the body)."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.parametrize(
    ("path", "content_type", "code"),
    [
        (UPLOAD, "multipart/form-data; boundary=x", b'"retCode":1008011'),
        (PUSH, "application/json", b'"ret_code":1008007'),
    ],
)
def test_expect_100_continue_with_a_body_too_large_is_refused_before_continue(
    server: LiveServer, path: str, content_type: str, code: bytes
) -> None:
    head = (
        f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nAuthorization: {BASIC}\n"
        f"Content-Type: {content_type}\nContent-Length: {200 * 1024 * 1024}\n"
        "Expect: 100-continue\n\n"
    )
    answer = first_answer(server, head)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]  # not "100 Continue" first
    assert code in answer, answer


def test_expect_100_continue_within_the_limit_still_uploads(server: LiveServer) -> None:
    response = httpx.post(
        f"{server.url}{UPLOAD}",
        files={"file": ("a.zip", accounts_zip(["alice", "bob"]))},
        auth=AUTH,
        headers={"Expect": "100-continue"},
        timeout=30,
    )
    assert response.json()["retCode"] == 0


@pytest.mark.parametrize("status", [204, 205, 304])
def test_a_fault_whose_status_cannot_carry_a_body_is_refused(mock: Mock, status: int) -> None:
    response = mock.client.post(
        "/_mock/faults", json={"path": PUSH, "retCode": 1008028, "httpStatus": status}
    )
    assert response.status_code == 422 and "cannot carry a body" in response.text
    assert mock.client.get("/_mock/faults").json()["faults"] == []


def test_resets_racing_uploads_never_answer_5xx(server: LiveServer) -> None:
    package = accounts_zip([f"user{i}" for i in range(200)])
    statuses: list[int] = []
    done = threading.Event()

    def keep_resetting() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not done.is_set():
                client.post("/_mock/reset")

    resetter = threading.Thread(target=keep_resetting)
    resetter.start()
    try:
        with httpx.Client(base_url=server.url, auth=AUTH, timeout=30) as client:
            for _ in range(150):
                response = client.post(UPLOAD, files={"file": ("a.zip", package)})
                statuses.append(response.status_code)
                assert response.json()["retCode"] == 0, response.text
    finally:
        done.set()
        resetter.join()
    assert set(statuses) == {200}


def read_into(server: LiveServer, upload_id: int, results: list[httpx.Response]) -> None:
    results.append(httpx.get(f"{server.url}/_mock/uploads/{upload_id}/accounts", timeout=60))


def test_a_reset_racing_an_accounts_stream_never_cuts_it(server: LiveServer) -> None:
    lines = [f"account-{i:07d}" for i in range(200_000)]
    expected = "\n".join(lines) + "\n"
    package = accounts_zip(lines)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for _ in range(20):
            upload_id = client.post(UPLOAD, files={"file": ("a.zip", package)}, auth=AUTH).json()[
                "uploadId"
            ]
            results: list[httpx.Response] = []
            reader = threading.Thread(target=read_into, args=(server, upload_id, results))
            reader.start()
            client.post("/_mock/reset")
            reader.join()
            (response,) = results
            assert response.status_code in (200, 404), response.text[:200]
            if response.status_code == 200:
                assert response.text == expected  # whole, never cut short
