"""Fixtures for the server's own tests: an in-process mock on a real SQLite store in a temp dir,
and a real ``tpns-mock`` process on a free port where the network path matters."""

from __future__ import annotations

import json
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
from stored import leftovers
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
        """Packages stored or arriving (files, and packages kept in the database): must be
        empty after a refusal."""
        return leftovers(self.data_dir)


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


@pytest.fixture(params=["streamed", "streamed-on-a-thread", "stored"])
def upload_check_path(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Run a test three times: uploads checked as they arrive (inline, as small uploads are,
    and on a thread of their own, as large ones are) and checked from the stored file.

    "stored" turns the stream's verdict off, so every upload takes the fallback (the check of
    the stored file, as before the streaming check existed). "streamed" requires that no
    upload the fallback accepted could have been accepted by the stream: a well-formed package
    must be decided in one pass, or the stream is silently not doing its job.
    """
    from tpns_client.protocol.streaming import StreamingCheck
    from tpns_mock import intake

    fallback_accepted: list[str] = []
    if request.param == "stored":
        monkeypatch.setattr(StreamingCheck, "streamed_summary", lambda self, upload: None)
    else:
        if request.param == "streamed-on-a-thread":
            monkeypatch.setattr(intake, "THREAD_MIN_BYTES", -1)
        real_fallback = intake.validate_package

        def fallback(upload: Any, file_name: str, *args: Any) -> Any:
            summary = real_fallback(upload, file_name, *args)
            fallback_accepted.append(file_name)
            return summary

        monkeypatch.setattr(intake, "validate_package", fallback)
    yield request.param
    assert fallback_accepted == [], "accepted by the fallback, not by the stream"


# -- the hostile suite (tests/hostile) ---------------------------------------------------------
# One real server takes every hostile case of the run, so its peak RSS is the whole suite's.
# Its limits are small so cases stay quick: an inflate cap of 64 MiB and short body timeouts.

HOSTILE_SEED = 20261125
HOSTILE_ENV = {
    "TPNS_MOCK_MAX_INFLATED_BYTES": str(64 * 1024 * 1024),
    "TPNS_MOCK_BODY_TIMEOUT": "1.0",
    "TPNS_MOCK_BODY_DEADLINE": "4.0",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hostile", "the hostile suite (tests/hostile)")
    group.addoption(
        "--hostile-long",
        action="store_true",
        help="run the hostile generators at full size: many more mutants and examples (minutes)",
    )
    group.addoption(
        "--hostile-seed",
        type=int,
        default=HOSTILE_SEED,
        help=f"seed of the hostile generators (default {HOSTILE_SEED}, what CI runs)",
    )


@dataclass
class HostileRun:
    """The generators' settings for this run, and what the run measured."""

    seed: int
    long: bool
    slowest_s: float = 0.0
    slowest_case: str = ""
    cases: int = 0
    slowest_timeout_s: float = 0.0  # answers a body timeout gave, on purpose as slow as it is

    @property
    def scale(self) -> int:
        return 20 if self.long else 1

    def took(self, seconds: float, case: str, timeout: bool = False) -> None:
        """Record how long one hostile request took to be answered; ``timeout``: it was
        answered by a body timeout, which takes as long as the timeout by design."""
        self.cases += 1
        if timeout:
            self.slowest_timeout_s = max(self.slowest_timeout_s, seconds)
        elif seconds > self.slowest_s:
            self.slowest_s, self.slowest_case = seconds, case


@pytest.fixture(scope="session")
def hostile_run(pytestconfig: pytest.Config) -> HostileRun:
    return HostileRun(
        pytestconfig.getoption("--hostile-seed"), pytestconfig.getoption("--hostile-long")
    )


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory (VmHWM), where /proc has it."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


@pytest.fixture(scope="session")
def hostile_server(
    tmp_path_factory: pytest.TempPathFactory, hostile_run: HostileRun
) -> Iterator[LiveServer]:
    """The one server of the hostile suite. With ``TPNS_HOSTILE_REPORT`` set, its peak RSS and
    the slowest answer of the run are written there as JSON (benchmarks/hostile.py reads it)."""
    live = start_server(tmp_path_factory.mktemp("hostile") / "data", env=HOSTILE_ENV)
    yield live
    peak = peak_rss_mb(live.process.pid)
    live.stop()
    report = os.environ.get("TPNS_HOSTILE_REPORT")
    if report:
        Path(report).write_text(
            json.dumps(
                {
                    "peak_rss_mb": peak,
                    "slowest_s": hostile_run.slowest_s,
                    "slowest_case": hostile_run.slowest_case,
                    "slowest_timeout_s": hostile_run.slowest_timeout_s,
                    "cases": hostile_run.cases,
                    "seed": hostile_run.seed,
                    "long": hostile_run.long,
                }
            )
        )
