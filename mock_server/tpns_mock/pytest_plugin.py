"""pytest fixtures for apps that talk to TPNS: a live tpns-mock per session, clean for each test.

Registered through the ``pytest11`` entry point, so installing tpns-mock is enough::

    def test_sends_the_vip_list(tpns_mock, tpns_client):
        upload_id = my_app.upload_vips(tpns_client)
        assert tpns_mock.accounts(upload_id) == ["alice", "bob"]

``tpns_mock`` is a real server on a loopback port (uvicorn in a background thread), so an app
that builds its own HTTP requests, or runs a subprocess, can reach it at ``tpns_mock.url``. Each
test starts with no uploads. Configured like the mock itself, from the environment: every
``TPNS_MOCK_*`` variable of ``tpns-mock`` applies (rules, credentials, limits), plus
``TPNS_MOCK_FIXTURE_HOST`` / ``TPNS_MOCK_FIXTURE_PORT`` (default ``127.0.0.1`` and a free port).

Nothing is imported or started until a test asks for a fixture, so the plugin costs nothing in
test sessions that do not use it.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    import asyncio

    import uvicorn
    from tpns_client.sync import TPNSClient

# how long shutdown lets requests in flight finish before cancelling them: an upload the app
# under test left half-sent would otherwise hold the session open for the mock's idle timeout
GRACEFUL_SHUTDOWN_S = 2
# how long a reset waits for requests in flight (an upload still arriving) to be answered
SETTLE_S = 2.0


@dataclass
class TPNSMock:
    """A running mock: where it is, the credentials it accepts, and what it has received."""

    url: str
    access_id: str
    secret_key: str = field(repr=False)
    _http: httpx.Client = field(repr=False)
    rules: str = "seed"  # the mock's TPNS_MOCK_RULES; clients from .client() check the same
    _server: _ServerThread | None = field(default=None, repr=False)

    def uploads(self) -> list[dict[str, Any]]:
        """Accepted uploads, newest first (``uploadId``, ``fileName``, ``accountCount``, ...)."""
        response = self._http.get("/_mock/uploads", params={"limit": 1000})
        response.raise_for_status()
        return list(response.json()["uploads"])

    def upload(self, upload_id: int) -> dict[str, Any]:
        """One upload's metadata."""
        response = self._http.get(f"/_mock/uploads/{upload_id}")
        response.raise_for_status()
        return dict(response.json())

    def accounts(self, upload_id: int) -> list[str]:
        """The accounts of an upload, as the mock parsed them."""
        response = self._http.get(f"/_mock/uploads/{upload_id}/accounts")
        response.raise_for_status()
        return response.text.split("\n")[:-1]  # not splitlines(): U+2028 is an account char

    def reset(self) -> None:
        """Forget every upload (uploadIds keep increasing).

        Requests still in flight are first given up to ``SETTLE_S`` seconds to be answered, so
        an upload that was nearly done cannot land after the reset; one still going after that
        (say, left half-sent) is not waited for again.
        """
        if self._server is not None:
            self._server.settle(SETTLE_S)
        self._http.post("/_mock/reset").raise_for_status()

    def client(self, **options: Any) -> TPNSClient:
        """A :class:`tpns_client.TPNSClient` for this mock (``auth="basic"`` etc. may be given)."""
        from tpns_client.sync import TPNSClient

        options.setdefault("rules", self.rules)
        return TPNSClient(self.access_id, self.secret_key, base_url=self.url, **options)


class _ServerThread:
    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self.server = server
        self.thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="tpns-mock", daemon=True
        )
        self._given_up: weakref.WeakSet[asyncio.Task[None]] = weakref.WeakSet()

    def settle(self, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, until no request is in flight.

        Reads uvicorn's set of request tasks (copied: ``set.copy`` is atomic, iterating the set
        from this thread is not); tasks still running at the deadline are not waited for again.
        """
        tasks = getattr(self.server.server_state, "tasks", None)
        if tasks is None:
            return
        deadline = time.monotonic() + timeout
        while True:
            pending = [t for t in tasks.copy() if not t.done() and t not in self._given_up]
            if not pending:
                return
            if time.monotonic() >= deadline:
                self._given_up.update(pending)
                return
            time.sleep(0.01)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("tpns-mock fixture: the server did not start")
            time.sleep(0.01)

    def stop(self) -> bool:
        """Stop the server; False if its thread is still running after all."""
        self.server.should_exit = True
        self.thread.join(timeout=GRACEFUL_SHUTDOWN_S + 3)
        if self.thread.is_alive():
            self.server.force_exit = True  # skip what is left of the graceful shutdown
            self.thread.join(timeout=5)
        return not self.thread.is_alive()


@pytest.fixture(scope="session")
def _tpns_mock_session() -> Iterator[TPNSMock]:
    import uvicorn

    from tpns_mock.app import create_app
    from tpns_mock.settings import Settings
    from tpns_mock.workers import listening_socket

    host = os.environ.get("TPNS_MOCK_FIXTURE_HOST", "127.0.0.1")
    port = int(os.environ.get("TPNS_MOCK_FIXTURE_PORT", "0"))
    settings = replace(Settings.from_env(), host=host, data_dir=None)
    app = create_app(settings)
    sock = listening_socket(host, port)  # TCP_NODELAY: no 40 ms stalls on kept-alive requests
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S
    )
    server = _ServerThread(uvicorn.Server(config), sock)
    server.start()
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}"
    (access_id, secret_key), *_ = settings.apps.items()
    with httpx.Client(base_url=url, timeout=30) as http:
        try:
            yield TPNSMock(url, access_id, secret_key, http, settings.rules.value, server)
        finally:
            stopped = server.stop()
            sock.close()
            # the store removes its throwaway dir on a clean shutdown; not after a forced one
            shutil.rmtree(app.state.store.data_dir, ignore_errors=True)
            if not stopped:
                warnings.warn(
                    "tpns-mock fixture: the server thread did not stop; its data dir was "
                    "removed anyway",
                    RuntimeWarning,
                    stacklevel=1,
                )


@pytest.fixture
def tpns_mock(_tpns_mock_session: TPNSMock) -> TPNSMock:
    """A live tpns-mock with no uploads: ``.url``, ``.access_id``, ``.secret_key``,
    ``.uploads()``, ``.accounts(upload_id)``."""
    _tpns_mock_session.reset()
    return _tpns_mock_session


@pytest.fixture
def tpns_client(tpns_mock: TPNSMock) -> Iterator[TPNSClient]:
    """A :class:`tpns_client.TPNSClient` signed in to ``tpns_mock``."""
    with tpns_mock.client() as client:
        yield client
