"""The ``tpns_mock`` / ``tpns_client`` fixtures an app's tests get by installing tpns-mock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from tpns_client import TPNSClient
from tpns_mock.testing import MockServer

ROOT = Path(__file__).resolve().parent.parent


def test_tpns_mock_is_live_and_its_helpers_see_uploads(tpns_mock: MockServer) -> None:
    assert httpx.get(f"{tpns_mock.url}/_mock/health").json()["status"] == "ok"
    assert tpns_mock.secret_key not in repr(tpns_mock)
    with tpns_mock.client(auth="basic") as tpns:
        upload_id = tpns.upload_package(["alice", "bob"]).upload_id
    assert [u["uploadId"] for u in tpns_mock.uploads()] == [upload_id]
    assert tpns_mock.accounts(upload_id) == ["alice", "bob"]
    assert tpns_mock.upload(upload_id)["accountCount"] == 2


def test_reset_forgets_every_upload(tpns_mock: MockServer, tpns_client: TPNSClient) -> None:
    # that each test starts with no uploads, whatever ran before, is shown by the session run
    # below (a test that uploads, then one that finds none)
    tpns_client.upload_package(["carol"])
    assert len(tpns_mock.uploads()) >= 1
    tpns_mock.reset()
    assert tpns_mock.uploads() == []
    assert tpns_client._core.rules == tpns_mock.rules == "seed"  # clients check the mock's rules


@pytest.mark.slow  # a pytest session in a subprocess
def test_readme_example_runs_as_an_app_developers_test(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\n# test_vips.py")
    example = readme[start + len("```python\n") : readme.index("```", start + 10)]
    assert len(example.strip().splitlines()) <= 12
    (tmp_path / "test_vips.py").write_text(example, encoding="utf-8")
    env = {**os.environ, "TPNS_MOCK_SECRET_KEY": "app-test-secret-key"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_vips.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


HALF_SENT_SESSION = textwrap.dedent(
    """
    import base64
    import io
    import os
    import socket
    import threading
    import time
    import zipfile
    from pathlib import Path
    from urllib.parse import urlsplit

    import httpx

    HALF_SENT = []  # open until the process exits: never finished, never closed


    def slow_upload(url, token, started):
        # a whole, valid upload whose last bytes come 1 s after the first
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("late.txt", "carol\\n")
        head = (
            b'--cut\\r\\nContent-Disposition: form-data; name="file"; filename="late.zip"\\r\\n'
            b"Content-Type: application/zip\\r\\n\\r\\n"
        )
        body = head + archive.getvalue() + b"\\r\\n--cut--\\r\\n"

        def chunks():
            yield body[:-10]
            started.set()
            time.sleep(1.0)
            yield body[-10:]

        headers = {
            "Authorization": b"Basic " + token,
            "Content-Type": "multipart/form-data; boundary=cut",
            "Content-Length": str(len(body)),
        }
        httpx.post(url + "/v3/push/package/upload", content=chunks(), headers=headers)


    def test_1_uploads_then_leaves_uploads_in_flight(tpns_mock, tpns_client):
        tpns_client.upload_package(["alice", "bob"])
        assert len(tpns_mock.uploads()) == 1
        url = urlsplit(tpns_mock.url)
        token = base64.b64encode(f"{tpns_mock.access_id}:{tpns_mock.secret_key}".encode())
        # one that lands just after this test: the next test's reset waits for it
        started = threading.Event()
        args = (tpns_mock.url, token, started)
        threading.Thread(target=slow_upload, args=args, daemon=True).start()
        assert started.wait(10)
        time.sleep(0.3)  # the server has the headers: the request is in flight
        # and one that never ends
        sock = socket.create_connection((url.hostname, url.port))
        sock.sendall(
            b"POST /v3/push/package/upload HTTP/1.1\\r\\n"
            b"Host: " + url.netloc.encode() + b"\\r\\n"
            b"Authorization: Basic " + token + b"\\r\\n"
            b"Content-Type: multipart/form-data; boundary=cut\\r\\n"
            b"Content-Length: 100000\\r\\n\\r\\n"
            b'--cut\\r\\nContent-Disposition: form-data; name="file"; filename="a.zip"\\r\\n'
            b"Content-Type: application/zip\\r\\n\\r\\nPK\\x03\\x04"
        )
        HALF_SENT.append(sock)


    def test_2_starts_with_no_uploads(tpns_mock):
        time.sleep(1.5)  # the slow upload would have landed by now
        assert tpns_mock.uploads() == []
        Path(os.environ["LAST_TEST_ENDED"]).write_text(repr(time.time()))
    """
)


@pytest.mark.slow  # a pytest session in a subprocess
def test_a_half_sent_upload_neither_blocks_shutdown_nor_leaves_the_data_dir(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_half_sent.py").write_text(HALF_SENT_SESSION, encoding="utf-8")
    temp = tmp_path / "tmp"
    temp.mkdir()
    marker = tmp_path / "last-test-ended"
    env = {**os.environ, "TMPDIR": str(temp), "LAST_TEST_ENDED": str(marker)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "test_half_sent.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    ended = time.time()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "2 passed" in result.stdout, output
    # shutdown: a 2 s grace for requests in flight, then they are cancelled (it used to wait
    # for the mock's 30 s idle timeout, and give up after 10 s)
    shutdown_s = ended - float(marker.read_text())
    print(f"session teardown took {shutdown_s:.1f} s")
    assert shutdown_s < 8, output
    assert list(temp.glob("tpns-mock-*")) == [], output
    assert "did not stop" not in output
