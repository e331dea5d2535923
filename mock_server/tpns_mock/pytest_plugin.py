"""pytest fixtures for apps that talk to TPNS: a live tpns-mock, clean for each test.

Registered through the ``pytest11`` entry point, so installing tpns-mock is enough::

    def test_sends_the_vip_list(tpns_mock, tpns_client):
        upload_id = my_app.upload_vips(tpns_client)
        assert tpns_mock.accounts(upload_id) == ["alice", "bob"]

    @pytest.mark.tpns_mock(rate_limit=False, rules="current")
    def test_many_pushes(tpns_mock): ...

``tpns_mock`` is a :class:`tpns_mock.testing.MockServer`: a real server on a loopback port, so an
app that builds its own HTTP requests, or runs a subprocess, reaches it at ``tpns_mock.url``.
Each test starts with an empty mock. Configured like the mock itself, from the environment
(every ``TPNS_MOCK_*`` variable of ``tpns-mock``), plus ``TPNS_MOCK_FIXTURE_HOST`` /
``TPNS_MOCK_FIXTURE_PORT`` (default ``127.0.0.1`` and a free port); the marker changes settings
for one test. One server runs per distinct set of settings, for the whole session.

This module imports only pytest: nothing of the server is imported or started until a test asks
for a fixture, so the plugin costs nothing, and cannot break, a session that does not use it
(``-p no:tpns_mock`` turns it off).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tpns_client.sync import TPNSClient

    from tpns_mock.testing import MockServer

MARKER = "tpns_mock"


def __getattr__(name: str) -> Any:
    """``TPNSMock``, the fixture's former class name, is the harness (imported when asked)."""
    if name == "TPNSMock":
        from tpns_mock.testing import MockServer

        return MockServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): settings of the tpns_mock fixture's mock for this test, "
        "e.g. rate_limit=False, rules='current' (tpns_mock.testing.MockServer's keywords)",
    )


class _Servers:
    """The session's mocks, one per distinct set of marker settings, stopped at session end."""

    def __init__(self) -> None:
        self.running: dict[tuple[tuple[str, str], ...], MockServer] = {}

    def get(self, settings: dict[str, Any]) -> MockServer:
        from tpns_mock.testing import MockServer

        key = tuple(sorted((name, repr(value)) for name, value in settings.items()))
        if key not in self.running:
            host = os.environ.get("TPNS_MOCK_FIXTURE_HOST", "127.0.0.1")
            port = int(os.environ.get("TPNS_MOCK_FIXTURE_PORT", "0")) if not settings else 0
            self.running[key] = MockServer(host=host, port=port, **settings).start()
        return self.running[key]

    def stop(self) -> None:
        for server in self.running.values():
            server.stop()


@pytest.fixture(scope="session")
def _tpns_mock_servers() -> Iterator[_Servers]:
    servers = _Servers()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def tpns_mock(request: pytest.FixtureRequest, _tpns_mock_servers: _Servers) -> MockServer:
    """A live, empty tpns-mock (:class:`tpns_mock.testing.MockServer`): ``.url``,
    ``.access_id``, ``.secret_key``, ``.uploads()``, ``.accounts(id)``, ``.pushes()``,
    ``.requests()``, ``.fail(path, ret_code)``, ``.reset()``, ``.client()``."""
    settings: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):  # the closest one wins
        if marker.args:
            raise TypeError(f"@pytest.mark.{MARKER} takes keywords only, not {marker.args}")
        settings.update(marker.kwargs)
    server = _tpns_mock_servers.get(settings)
    server.reset()
    return server


@pytest.fixture
def tpns_client(tpns_mock: MockServer) -> Iterator[TPNSClient]:
    """A :class:`tpns_client.TPNSClient` signed in to ``tpns_mock``."""
    with tpns_mock.client() as client:
        yield client
