"""Through a real ``python -m tpns_mock`` process on a free port: the network path, restarts,
the CLI, and Tencent's documented examples as printed."""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest
import requests
from conftest import AUTH, UPLOAD, LiveServer, start_server
from zips import accounts_zip

pytestmark = pytest.mark.slow  # starts real server processes

BASIC = "Basic " + __import__("base64").b64encode(b"1500000001:tpns-mock-secret-key").decode()


def test_a_million_accounts_round_trip(live_server: LiveServer, tmp_path: Path) -> None:
    accounts = [f"user-{i:07d}" for i in range(1_000_000)]
    package = tmp_path / "million.zip"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("accounts.txt", "\n".join(accounts) + "\n")
    with package.open("rb") as handle:
        response = httpx.post(
            live_server.url + UPLOAD,
            files={"file": ("million.zip", handle)},
            auth=AUTH,
            timeout=120,
        )
    body = response.json()
    assert response.status_code == 200 and body["retCode"] == 0, body
    upload_id = body["uploadId"]
    meta = httpx.get(f"{live_server.url}/_mock/uploads/{upload_id}").json()
    assert meta["accountCount"] == 1_000_000
    with httpx.stream("GET", f"{live_server.url}/_mock/uploads/{upload_id}/accounts") as stream:
        assert stream.status_code == 200
        text = b"".join(stream.iter_bytes()).decode()
    assert text.split("\n")[:-1] == accounts


def test_upload_ids_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    try:
        first = [_upload(server.url)["uploadId"] for _ in range(2)]
    finally:
        server.stop()
    server = start_server(data_dir)
    try:
        listed = httpx.get(server.url + "/_mock/uploads").json()["uploads"]
        assert [u["uploadId"] for u in listed] == first[::-1]
        assert httpx.get(f"{server.url}/_mock/uploads/{first[0]}/accounts").text == "alice\nbob\n"
        httpx.post(server.url + "/_mock/reset")
        later = _upload(server.url)["uploadId"]
    finally:
        server.stop()
    assert later > max(first)


def _upload(url: str) -> dict:
    content = accounts_zip(["alice", "bob"])
    response = httpx.post(url + UPLOAD, files={"file": ("a.zip", content)}, auth=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["retCode"] == 0, body
    return body


def test_startup_prints_url_and_credentials(tmp_path: Path) -> None:
    server = start_server(tmp_path / "d", "--access-id", "1500000042")
    server.stop()
    out = server.output()
    assert f"http://127.0.0.1:{server.url.rsplit(':', 1)[1]}" in out
    assert "AccessId 1500000042 with SecretKey tpns-mock-secret-key" in out


def test_a_secret_the_user_set_is_not_printed(tmp_path: Path) -> None:
    secret = "0123456789abcdef0123456789abcdef"
    server = start_server(tmp_path / "d", env={"TPNS_MOCK_SECRET_KEY": secret})
    try:
        content = accounts_zip(["alice"])
        response = httpx.post(
            server.url + UPLOAD, files={"file": ("a.zip", content)}, auth=("1500000001", secret)
        )
        assert response.json()["retCode"] == 0
    finally:
        server.stop()
    out = server.output()
    assert secret not in out
    assert "cdef" in out


def test_in_memory_leaves_no_data_dir(tmp_path: Path) -> None:
    server = start_server(tmp_path / "unused", "--in-memory")
    try:
        assert _upload(server.url)["uploadId"] == 1
    finally:
        server.stop()
    assert not (tmp_path / "unused").exists()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_tencent_curl_example_as_printed(live_server: LiveServer, tmp_path: Path) -> None:
    """The document's curl: its own content-type with a boundary, plus curl's -F."""
    package = tmp_path / "accounts.zip"
    package.write_bytes(accounts_zip(["alice", "bob"]))
    command = [
        "curl", "-s", "-X", "POST", live_server.url + UPLOAD,
        "-H", f"Authorization: {BASIC}",
        "-H", "content-type: multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
        "-F", f"file=@{package}",
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, check=True, timeout=30).stdout
    assert httpx.Response(200, content=out).json()["retCode"] == 0


def ascii_only_zip() -> bytes:
    """A zip whose bytes survive Python's text-mode read unchanged: all ASCII, no CR.

    Tencent's Python example reads the zip with ``open(path).read()`` (text mode), which only
    round-trips such files; the CRC is steered by varying the accounts.
    """
    for n in range(100_000):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            info = zipfile.ZipInfo("accounts.txt", date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o444 << 16  # the default 0o600 puts a 0x80 byte in the header
            archive.writestr(info, f"alice\nbob{n}\n")
        data = buffer.getvalue()
        if data.isascii() and b"\r" not in data:
            return data
    raise AssertionError("no ASCII-only zip found")


def test_tencent_python_example_as_printed(live_server: LiveServer, tmp_path: Path) -> None:
    package = tmp_path / "accounts.zip"
    package.write_bytes(ascii_only_zip())
    url = live_server.url + UPLOAD
    # -- Tencent's example from here on, with the URL, file name, path and credentials filled in
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    data = []
    data.append("--%s" % boundary)  # noqa: UP031
    data.append('Content-Disposition: form-data; name="file"; filename="accounts.zip"\r\n')
    fr = open(package)  # noqa: SIM115
    content = fr.read()
    data.append(content)
    fr.close()

    data.append("\r\n")
    data.append("--%s--\r\n" % boundary)  # noqa: UP031
    httpBody = "\r\n".join(data)

    headers = {
        "content-type": "multipart/form-data,boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
        "Authorization": BASIC,
    }
    response = requests.request("POST", url, data=httpBody, headers=headers, verify=False)
    print(response.text.encode("utf-8"))
    # -- end of the example
    assert response.status_code == 200
    body = response.json()
    assert body["retCode"] == 0, body
    accounts = httpx.get(f"{live_server.url}/_mock/uploads/{body['uploadId']}/accounts").text
    assert accounts.startswith("alice\nbob")


def test_python_m_tpns_mock_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tpns_mock", "--help"], capture_output=True, check=True, text=True
    ).stdout
    for flag in ("--host", "--port", "--data-dir", "--in-memory", "--rules", "--access-id"):
        assert flag in out


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_busy_port_is_one_clear_line(tmp_path: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        command = [sys.executable, "-m", "tpns_mock", "--port", port, "--workers", workers]
        result = subprocess.run(
            [*command, "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""  # no banner first
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"tpns-mock: cannot listen on 127.0.0.1:{port}: address already in use")
    assert "--port" in line


def test_port_0_announces_the_port_it_got(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tpns_mock", "--port", "0", "--in-memory"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.split()[-1]
        assert not url.endswith(":0"), first
        assert httpx.get(f"{url}/_mock/health", timeout=10).json()["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=20)
