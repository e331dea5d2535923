"""A data dir that fails for real: deleted while the mock runs, on a full disk, read-only.

Every answer is whole and TPNS-shaped (1008004 naming the cause), no success is answered for
something not stored, the journal's own failure never breaks an answer, ``/_mock/health`` says
503 with the reason, and a start on an unusable dir is one line, not a traceback. The full and
read-only cases mount a small tmpfs or a read-only bind mount, so they need root (else skipped).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import AUTH, UPLOAD, LiveServer, start_server
from pushing import PUSH, PUSH_KEYS, SUCCESS_KEYS, android
from zips import accounts_zip


def upload(server: LiveServer, lines: list[str] | None = None) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}{UPLOAD}",
        files={"file": ("a.zip", accounts_zip(lines or ["alice", "bob"]))},
        auth=AUTH,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())  # a whole JSON body: never a Content-Length and nothing


def push(server: LiveServer) -> dict[str, Any]:
    response = httpx.post(f"{server.url}{PUSH}", json=android(), auth=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    answer = dict(response.json())
    assert set(answer) == (SUCCESS_KEYS if answer["ret_code"] == 0 else PUSH_KEYS), answer
    return answer


def health(server: LiveServer) -> httpx.Response:
    return httpx.get(f"{server.url}/_mock/health", timeout=10)


def pushes(server: LiveServer) -> list[str]:
    listing = httpx.get(f"{server.url}/_mock/pushes", timeout=10).json()
    return [p["pushId"] for p in listing["pushes"]]


def test_a_deleted_data_dir_stores_nothing_and_says_so(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--no-rate-limit")
    try:
        assert upload(server)["retCode"] == 0
        shutil.rmtree(server.data_dir)
        answer = upload(server)
        assert answer["retCode"] == 1008004, answer
        assert "gone" in answer["errMsg"] or "deleted" in answer["errMsg"], answer
        answer = push(server)
        assert answer["ret_code"] == 1008004 and "deleted" in answer["err_msg"], answer
        state = health(server)
        assert state.status_code == 503, state.text
        assert state.json()["status"] == "unavailable" and "deleted" in state.json()["reason"]
        assert server.process.poll() is None
    finally:
        server.stop()
    assert "Traceback" not in server.output()


# -- full and read-only file systems, mounted for the test ---------------------------------------


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def mounted(*args: str, target: Path) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs or a read-only bind needs root")
    try:
        _mount(*args, str(target))
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"this machine does not allow mounts: {exc.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def fill(directory: Path) -> Path:
    """Write until the file system is full; returns the filler to remove."""
    filler = directory / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(descriptor, bytes(65536))
    finally:
        os.close(descriptor)
    return filler


def test_a_full_disk_answers_1008004_and_recovers(tmp_path: Path) -> None:
    with mounted("-t", "tmpfs", "-o", "size=4m", "tmpfs", target=tmp_path / "small") as disk:
        server = start_server(disk / "data", "--no-rate-limit")
        try:
            assert upload(server)["retCode"] == 0
            filler = fill(disk)
            answer = upload(server, [f"user{i:06d}" for i in range(20_000)])
            assert answer["retCode"] == 1008004 and "disk is full" in answer["errMsg"], answer
            answer = push(server)  # SQLite may still have room in its WAL: stored, or refused
            if answer["ret_code"] == 0:
                assert answer["push_id"] in pushes(server)
            else:
                assert answer["ret_code"] == 1008004 and "full" in answer["err_msg"], answer
            state = health(server)
            assert state.status_code == 503 and "disk is full" in state.json()["reason"]
            filler.unlink()
            assert health(server).status_code == 200
            assert upload(server)["retCode"] == 0
            assert list((server.data_dir / "tmp").iterdir()) == []
        finally:
            server.stop()
        assert "Traceback" not in server.output()


def test_starting_on_a_read_only_dir_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    with mounted("--bind", str(source), target=tmp_path / "view") as view:
        _mount("-o", "remount,bind,ro", str(view))
        started = subprocess.run(
            [sys.executable, "-m", "tpns_mock", "--data-dir", str(view / "data"), "--port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert started.returncode == 1
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1, started.stderr
    assert lines[0].startswith("tpns-mock: cannot use the data dir") and "read-only" in lines[0]
