"""``MockServer``: a real tpns-mock on a free loopback port, for any test framework.

::

    from tpns_mock.testing import MockServer

    with MockServer(rules="current", rate_limit=False) as mock:
        with mock.client() as tpns:  # a tpns_client.TPNSClient signed in to the mock
            upload_id = tpns.upload_package(["alice", "bob"]).upload_id
        assert mock.accounts(upload_id) == ["alice", "bob"]

The server is uvicorn in a background thread serving a socket bound before it starts, so
``.url`` is reachable at once, from this process, a subprocess or another language. It works in
unittest, scripts and notebooks; the pytest fixture ``tpns_mock`` is one of these (reset for each
test). Settings are the mock's own (``tpns_mock.settings.Settings`` fields, or their short names
below), on top of the ``TPNS_MOCK_*`` environment; the data dir is a throwaway one unless
``data_dir`` is given.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import asyncio

    import uvicorn
    from tpns_client.sync import TPNSClient

    from tpns_mock.clock import Clock
    from tpns_mock.settings import Settings

__all__ = ["MockServer"]

# how long stop() lets requests in flight finish before cancelling them: an upload the app
# under test left half-sent would otherwise hold the stop for the mock's idle timeout
GRACEFUL_SHUTDOWN_S = 2
# how long a reset waits for requests in flight (an upload still arriving) to be answered
SETTLE_S = 2.0
# short names the harness and the pytest marker accept for Settings fields
SHORT_NAMES = {"rate_limit": "push_rate_limit", "timestamp_window": "timestamp_window_s"}
# the fault fields' wire names, for .fail()'s snake_case keywords
FAULT_FIELDS = {
    "method": "method",
    "action": "action",
    "err_msg": "errMsg",
    "http_status": "httpStatus",
    "delay_ms": "delayMs",
    "probability": "probability",
}
PAGE = 1000


def settings_for(options: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """``base`` (default: the ``TPNS_MOCK_*`` environment, with a throwaway data dir) changed
    by ``options``: ``Settings`` field names or their short names, values typed or as text
    (``rules="current"``); ``access_id`` / ``secret_key`` set the first app."""
    from tpns_mock.settings import Settings, specs

    settings = base or dataclasses.replace(Settings.from_env(), data_dir=None)
    known = {spec.name: spec for spec in specs()}
    changes: dict[str, Any] = {}
    options = dict(options)
    access_id, secret_key = options.pop("access_id", None), options.pop("secret_key", None)
    if access_id is not None or secret_key is not None:
        (first_id, first_secret), *_ = settings.apps.items()
        changes["apps"] = {access_id or first_id: secret_key or first_secret}
    for name, value in options.items():
        spec = known.get(SHORT_NAMES.get(name, name))
        if spec is None:
            names = sorted([*known, *SHORT_NAMES, "access_id", "secret_key"])
            raise TypeError(f"unknown tpns-mock setting {name!r}; the settings are {names}")
        if isinstance(value, str) and spec.kind is not str:
            value = spec.parse(value, name)
        changes[spec.name] = value
    return dataclasses.replace(settings, **changes).checked()


class MockServer:
    """A running mock: where it is, the credentials it accepts, what it has received, and
    faults to arm. Use it as a context manager, or call ``start()`` and ``stop()``."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None, **settings: Any
    ) -> None:
        """``clock``: a :class:`tpns_mock.clock.ManualClock` lets a test set the mock's time
        (TimeStamp window, rate limits, push progress) instead of sleeping."""
        self.settings = dataclasses.replace(settings_for(settings), host=host, port=port)
        self.clock = clock
        (self.access_id, self._secret_key), *_ = self.settings.apps.items()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._http: httpx.Client | None = None
        self._app: Any = None
        self._given_up: weakref.WeakSet[asyncio.Task[None]] = weakref.WeakSet()

    @property
    def secret_key(self) -> str:
        return self._secret_key

    @property
    def rules(self) -> str:
        """The mock's upload rules (``seed`` or ``current``); ``.client()`` checks the same."""
        return self.settings.rules.value

    def __repr__(self) -> str:  # no secret
        return f"MockServer(url={self.url!r}, access_id={self.access_id!r}, rules={self.rules!r})"

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> MockServer:
        """Bind a port and serve from a background thread; returns once requests are served."""
        import uvicorn

        from tpns_mock.app import create_app

        if self._thread is not None:
            raise RuntimeError("this MockServer is already started")
        host = self.settings.host
        self._app = create_app(self.settings, clock=self.clock)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, self.settings.port))
        self._sock = sock
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="tpns-mock", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("tpns-mock: the server did not start")
            time.sleep(0.01)
        shown_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown_host}:{sock.getsockname()[1]}"
        self._http = httpx.Client(base_url=self.url, timeout=30)
        return self

    def stop(self) -> None:
        """Stop serving (requests in flight get ``GRACEFUL_SHUTDOWN_S``) and remove the
        throwaway data dir. Stopping twice does nothing."""
        server, thread = self._server, self._thread
        if self._http is not None:
            self._http.close()
            self._http = None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=GRACEFUL_SHUTDOWN_S + 3)
            if thread.is_alive():
                server.force_exit = True  # skip what is left of the graceful shutdown
                thread.join(timeout=5)
            if thread.is_alive():
                warnings.warn(
                    "tpns-mock: the server thread did not stop; its data dir is removed anyway",
                    RuntimeWarning,
                    stacklevel=2,
                )
        if self._sock is not None:
            self._sock.close()
        if self._app is not None and self.settings.data_dir is None:
            # the store removes its throwaway dir on a clean shutdown; not after a forced one
            shutil.rmtree(self._app.state.store.data_dir, ignore_errors=True)
        self._server = self._thread = self._sock = self._app = None

    def settle(self, timeout: float = SETTLE_S) -> None:
        """Wait, at most ``timeout`` seconds, until no request is in flight.

        Reads uvicorn's set of request tasks (copied: ``set.copy`` is atomic, iterating the set
        from this thread is not); tasks still running at the deadline are not waited for again.
        """
        tasks = getattr(getattr(self._server, "server_state", None), "tasks", None)
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

    # -- what the mock received ------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            raise RuntimeError("the MockServer is not running: use `with MockServer() as mock`")
        return self._http

    def _get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def _all(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self._get(path, limit=PAGE, offset=len(items))
            items.extend(page[key])
            if len(page[key]) < PAGE or len(items) >= page["total"]:
                return items

    def uploads(self) -> list[dict[str, Any]]:
        """Accepted uploads, newest first (``uploadId``, ``fileName``, ``accountCount``, ...)."""
        return self._all("/_mock/uploads", "uploads")

    def upload(self, upload_id: int) -> dict[str, Any]:
        """One upload's metadata."""
        return dict(self._get(f"/_mock/uploads/{upload_id}"))

    def accounts(self, upload_id: int) -> list[str]:
        """The accounts of an upload, as the mock parsed them."""
        response = self.http.get(f"/_mock/uploads/{upload_id}/accounts")
        response.raise_for_status()
        return response.text.split("\n")[:-1]  # not splitlines(): U+2028 is an account char

    def pushes(self) -> list[dict[str, Any]]:
        """Accepted pushes, newest first, each with the request as sent (``request``)."""
        return self._all("/_mock/pushes", "pushes")

    def requests(self) -> list[dict[str, Any]]:
        """The request journal: TPNS calls, newest first (credentials redacted)."""
        return self._all("/_mock/requests", "requests")

    # -- making it fail, and forgetting ----------------------------------------------------------

    def fail(
        self, path: str, ret_code: int | None = None, times: int | None = 1, **fault: Any
    ) -> dict[str, Any]:
        """Arm a fault: the next ``times`` requests to ``path`` (``None``: every one) answer
        ``ret_code``. Keywords: ``err_msg``, ``http_status``, ``method``, ``probability``,
        ``action="drop"`` (close without an answer) or ``"delay"`` with ``delay_ms``.
        Returns the armed fault; a mistake raises ``ValueError`` with the mock's message."""
        body: dict[str, Any] = {"path": path, "times": times}
        if ret_code is not None:
            body["retCode"] = ret_code
        for name, value in fault.items():
            if name not in FAULT_FIELDS:
                raise TypeError(
                    f"unknown fault field {name!r}; the fields are {list(FAULT_FIELDS)}"
                )
            body[FAULT_FIELDS[name]] = value
        response = self.http.post("/_mock/faults", json=body)
        if response.status_code >= 400:
            raise ValueError(f"tpns-mock refused the fault: {response.text}")
        return dict(response.json())

    def reset(self) -> None:
        """Forget uploads, pushes, the journal, faults and rate limits (uploadIds keep
        increasing). Requests still in flight are first given up to ``SETTLE_S`` seconds to be
        answered, so an upload that was nearly done cannot land after the reset; one still
        going after that (say, left half-sent) is not waited for again."""
        self.settle(SETTLE_S)
        self.http.post("/_mock/reset").raise_for_status()

    def client(self, **options: Any) -> TPNSClient:
        """A :class:`tpns_client.TPNSClient` for this mock, checking packages by its rules
        (``auth="basic"``, ``retry=...`` and other options may be given)."""
        from tpns_client.sync import TPNSClient

        options.setdefault("rules", self.rules)
        return TPNSClient(self.access_id, self.secret_key, base_url=self.url, **options)
