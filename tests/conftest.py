"""Fixtures for the server's own tests: an in-process mock on a real SQLite store in a temp dir,
and a real ``tpns-mock`` process on a free port where the network path matters."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from tpns_mock.app import create_app
from tpns_mock.clock import Clock
from tpns_mock.settings import DEFAULT_ACCESS_ID, DEFAULT_SECRET_KEY, Settings

AUTH = (DEFAULT_ACCESS_ID, DEFAULT_SECRET_KEY)
UPLOAD = "/v3/push/package/upload"


@dataclass
class Mock:
    """An in-process mock: a TestClient plus the data dir it writes to."""

    client: TestClient
    data_dir: Path

    def upload(
        self, content: bytes, file_name: str = "accounts.zip", *, auth: Any = AUTH, **kw: Any
    ) -> dict[str, Any]:
        response = self.client.post(UPLOAD, files={"file": (file_name, content)}, auth=auth, **kw)
        assert response.status_code < 500, response.text
        body = response.json()
        body["_status"] = response.status_code
        return body

    def leftovers(self) -> list[str]:
        """Files in the data dir besides the database: must be empty after a refusal."""
        return sorted(
            str(p.relative_to(self.data_dir))
            for sub in ("tmp", "packages")
            for p in (self.data_dir / sub).iterdir()
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Container tests (podman, minutes) run only when ``-m`` names them (``-m container``), so
    both the full run and the quick loop (``-m "not slow"``) leave them out."""
    if "container" in (config.option.markexpr or ""):
        return
    left = [item for item in items if item.get_closest_marker("container")]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [item for item in items if not item.get_closest_marker("container")]


@pytest.fixture
def make_mock(tmp_path: Path) -> Iterator[Callable[..., Mock]]:
    clients: list[TestClient] = []

    def make(clock: Clock | None = None, **changes: Any) -> Mock:
        data_dir = tmp_path / f"data{len(clients)}"
        settings = replace(Settings(), data_dir=data_dir, **changes)
        client = TestClient(create_app(settings, clock=clock))
        client.__enter__()
        clients.append(client)
        return Mock(client, data_dir)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def mock(make_mock: Callable[..., Mock]) -> Mock:
    return make_mock()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A real ``python -m tpns_mock`` process on a free port."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path  # what the process printed (a file, not a pipe nobody reads while it runs)
    ca: Path | None = None  # with --tls: the CA to trust (the URL is then https://localhost)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


def start_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "tpns_mock",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    log = data_dir.parent / f"tpns-mock-{port}.log"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--log-level", "warning", *extra],
            env={**os.environ, **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    tls = "--tls" in extra
    url = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
    ca = data_dir / "tls" / "ca.pem" if tls else None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tpns-mock exited early:\n{log.read_text(errors='replace')}")
        try:
            if ca is None or ca.exists():
                verify = ssl.create_default_context(cafile=ca) if ca else True
                if httpx.get(f"{url}/_mock/health", timeout=1, verify=verify).status_code == 200:
                    return LiveServer(url, process, data_dir, log, ca)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("tpns-mock did not become healthy in 20 s")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "live-data")
    yield server
    server.stop()
