"""``/_mock/`` from a web page: other origins and unexpected Host names are refused, while curl,
the client, the tests and a page the mock serves itself (same origin) keep working.

Over a real socket, since what a browser sends (Origin, Host, Sec-Fetch-Site, a text/plain
body) is what matters; the rules themselves are also checked one by one as pure functions.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from conftest import AUTH, LiveServer, start_server
from fastapi.testclient import TestClient
from tpns_mock.app import create_app
from tpns_mock.guard import host_allowed, refusal, same_origin, split_host
from tpns_mock.settings import Settings
from zips import accounts_zip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path_factory.mktemp("guard") / "data",
        env={"TPNS_MOCK_ALLOWED_HOSTS": "mock.internal, 10.1.2.3"},
    )
    yield live
    live.stop()


def port_of(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def raw(server: LiveServer, request: str) -> tuple[int, bytes]:
    """Send ``request`` (CRLFs added) as is: httpx would fix the Host header for us."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(request.replace("\n", "\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[1]


def get(server: LiveServer, path: str, host: str, *extra: str) -> tuple[int, bytes]:
    headers = "".join(f"{h}\n" for h in extra)
    return raw(server, f"GET {path} HTTP/1.1\nHost: {host}\n{headers}Connection: close\n\n")


def post(server: LiveServer, path: str, host: str, body: str, *extra: str) -> tuple[int, bytes]:
    headers = "".join(f"{h}\n" for h in extra)
    return raw(
        server,
        f"POST {path} HTTP/1.1\nHost: {host}\n{headers}Content-Length: {len(body)}\n"
        f"Connection: close\n\n{body}",
    )


def uploads(server: LiveServer) -> int:
    return int(httpx.get(f"{server.url}/_mock/uploads", timeout=10).json()["total"])


def upload_one(server: LiveServer) -> None:
    answer = httpx.post(
        f"{server.url}/v3/push/package/upload",
        files={"file": ("a.zip", accounts_zip(["alice", "bob"]))},
        auth=AUTH,
        timeout=10,
    ).json()
    assert answer["retCode"] == 0


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "127.8.9.10", "[::1]", "app.localhost", "tpns-mock", "LOCALHOST."],
)
def test_loopback_names_and_the_service_name_are_served(server: LiveServer, host: str) -> None:
    status, _ = get(server, "/_mock/uploads", f"{host}:{port_of(server)}")
    assert status == 200


@pytest.mark.parametrize("host", ["mock.internal", "10.1.2.3"])
def test_names_added_by_the_setting_are_served(server: LiveServer, host: str) -> None:
    assert get(server, "/_mock/health", host)[0] == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "192.168.1.7", "[fe80::1]"])
def test_a_rebinding_page_cannot_read_the_control_plane(server: LiveServer, host: str) -> None:
    upload_one(server)
    status, body = get(server, "/_mock/uploads/1/accounts", host)
    assert status == 403 and b"forbidden_host" in body and b"alice" not in body
    assert b"TPNS_MOCK_ALLOWED_HOSTS" in body


def test_tpns_endpoints_are_not_guarded(server: LiveServer) -> None:
    """The TPNS API has its own auth: apps reach it under whatever name they use."""
    status, body = get(server, "/v3/push/package/upload", "evil.example")
    assert status == 405 and b"forbidden_host" not in body  # GET: the route's own answer


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/_mock/reset", "", ["Origin: http://evil.example"]),
        ("/_mock/reset", "x", ["Origin: http://evil.example", "Content-Type: text/plain"]),
        ("/_mock/reset", "", ["Origin: null"]),
        ("/_mock/reset", "", ["Origin: http://localhost:1"]),  # another port: another origin
        ("/_mock/reset", "", ["Sec-Fetch-Site: cross-site"]),
        ("/_mock/reset", "", ["Sec-Fetch-Site: same-site"]),
        ("/_mock/reset", "a=1", ["Content-Type: application/x-www-form-urlencoded"]),
        ("/_mock/reset", "{}", ["Content-Type: text/plain"]),
        ("/_mock/faults", '{"path": "/v3/push/app", "retCode": 1}', ["Content-Type: text/plain"]),
    ],
)
def test_browser_requests_from_elsewhere_change_nothing(
    server: LiveServer, path: str, body: str, headers: list[str]
) -> None:
    upload_one(server)
    before = uploads(server)
    status, answer = post(server, path, f"127.0.0.1:{port_of(server)}", body, *headers)
    assert status in (403, 415), answer
    assert uploads(server) == before
    assert httpx.get(f"{server.url}/_mock/faults", timeout=10).json()["faults"] == []


def test_a_same_origin_page_and_curl_can_change_state(server: LiveServer) -> None:
    host = f"localhost:{port_of(server)}"
    fault = '{"path": "/v3/push/app", "retCode": 1008028}'
    same_origin_post = post(
        server,
        "/_mock/faults",
        host,
        fault,
        f"Origin: http://{host}",
        "Sec-Fetch-Site: same-origin",
        "Content-Type: application/json",
    )
    assert same_origin_post[0] == 201, same_origin_post
    assert get(server, "/_mock/faults", host, "Sec-Fetch-Site: same-origin")[0] == 200
    # curl -X POST with no body, and httpx (what the client and the pytest plugin use)
    assert post(server, "/_mock/reset", host, "")[0] == 200
    assert httpx.post(f"{server.url}/_mock/reset", timeout=10).status_code == 200
    assert httpx.delete(f"{server.url}/_mock/faults", timeout=10).status_code == 200


def test_binding_to_an_address_serves_it(tmp_path: Path) -> None:
    settings = replace(Settings(), data_dir=tmp_path / "data", host="192.168.5.5")
    with TestClient(create_app(settings), base_url="http://192.168.5.5:8080") as client:
        assert client.get("/_mock/health").status_code == 200
        assert client.get("/_mock/health", headers={"Host": "192.168.5.6"}).status_code == 403


# -- the rules as pure functions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost:8080", ("localhost", 8080)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::1]", ("::1", None)),
        ("Example.COM.", ("example.com", None)),
        ("::1", ("::1", None)),
    ],
)
def test_split_host(value: str, expected: tuple[str, int | None]) -> None:
    assert split_host(value) == expected


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("localhost", True),
        ("a.b.localhost", True),
        ("127.0.0.1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),
        ("localhost.evil.example", False),
        ("evillocalhost", False),
        ("128.0.0.1", False),
        ("", False),
    ],
)
def test_host_allowed(name: str, allowed: bool) -> None:
    assert host_allowed(name) is allowed


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://localhost:8080", "localhost:8080", True),
        ("http://localhost", "localhost:80", True),
        ("https://localhost", "localhost:443", True),
        ("http://localhost:8081", "localhost:8080", False),
        ("https://localhost:8080", "localhost:8080", True),  # behind a TLS proxy: same host:port
        ("file://", "localhost:8080", False),
        ("http://[::1]:8080", "[::1]:8080", True),
        ("http://localhost:99999", "localhost:8080", False),
    ],
)
def test_same_origin(origin: str, host: str, same: bool) -> None:
    assert same_origin(origin, host) is same


def test_a_missing_host_is_not_refused_by_name() -> None:
    """HTTP/1.0 clients may send none; no browser does, so no page can use that."""
    assert refusal({}, "GET", ()) is None
