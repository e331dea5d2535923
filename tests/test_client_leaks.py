"""No credential in anything a failed call leaves behind: not in the error's str or repr, not in
its ``__cause__``/``__context__`` chain (an httpx exception's ``request.headers`` hold the
Authorization or Sign header), not in a traceback printed with its locals (``pytest -l``, rich,
error trackers).

The Sign changes with every attempt (it covers the TimeStamp), so each one actually sent is
captured by a transport wrapper and looked for too.
"""

from __future__ import annotations

import base64
import socket
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from conftest import LiveServer, free_port
from tpns_client import (
    AsyncTPNSClient,
    AuthError,
    RetryPolicy,
    TPNSClient,
    TPNSError,
    TransportError,
)

pytestmark = pytest.mark.slow  # waits out timeouts

ACCESS_ID = "1500000001"
SECRET = "s3cr3t-value-that-must-not-leak"
FAST = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.02)
# generous everywhere but the read: only a server that never answers can make it fire
READ_TIMEOUT = httpx.Timeout(5.0, read=0.5)
CREDENTIAL_HEADERS = ("authorization", "sign")


class Recording(httpx.HTTPTransport):
    """An ordinary transport that notes the credential headers of each request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += [v for k, v in request.headers.items() if k.lower() in CREDENTIAL_HEADERS]
        return super().handle_request(request)


class AsyncRecording(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += [v for k, v in request.headers.items() if k.lower() in CREDENTIAL_HEADERS]
        return await super().handle_async_request(request)


def secrets(sent: list[str]) -> list[str]:
    """The SecretKey, the Basic token and every Authorization/Sign value actually sent."""
    basic = base64.b64encode(f"{ACCESS_ID}:{SECRET}".encode()).decode()
    tokens = [value.split()[-1] for value in sent]  # "Basic <token>" -> "<token>"
    return [SECRET, basic, *sent, *tokens]


def texts_left_by(error: BaseException) -> Iterator[tuple[str, str]]:
    """(where, text) for everything a caller, a log or a traceback printer could show."""
    yield "str", str(error)
    yield "repr", repr(error)
    seen: set[int] = set()
    chain: list[BaseException] = [error]
    while chain:
        exc = chain.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        yield f"chain: repr of {type(exc).__name__}", repr(exc)
        yield f"chain: str of {type(exc).__name__}", str(exc)
        try:
            request = exc.request  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):  # httpx raises RuntimeError when it has none
            request = None
        if request is not None:
            yield f"chain: {type(exc).__name__}.request.headers", repr(request.headers.raw)
        chain += [e for e in (exc.__cause__, exc.__context__) if e is not None]
    formatted = traceback.TracebackException.from_exception(error, capture_locals=True)
    yield "traceback with locals", "".join(formatted.format())


def assert_no_leak(error: BaseException, sent: list[str]) -> None:
    assert sent, "no request was sent: the test proves nothing"
    for where, text in texts_left_by(error):
        for secret in secrets(sent):
            assert secret not in text, f"a credential in the {where}:\n{text}"


def failure(call: Callable[[], Any]) -> TPNSError:
    """The TPNSError ``call`` raises, caught here so the traceback starts in this frame (the
    test's own locals, which hold the secret, are not part of it)."""
    try:
        call()
    except TPNSError as error:
        return error
    raise AssertionError("the call did not fail")


async def async_failure(call: Callable[[], Awaitable[Any]]) -> TPNSError:
    try:
        await call()
    except TPNSError as error:
        return error
    raise AssertionError("the call did not fail")


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections (the kernel does) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def where(kind: str, live_server_url: Callable[[], str], silent: str) -> str:
    return {
        "refused": f"http://127.0.0.1:{free_port()}",
        "wrong secret": live_server_url(),
        "read timeout": silent,
    }[kind]


KINDS = ["refused", "wrong secret", "read timeout"]
EXPECTED = {"refused": TransportError, "wrong secret": AuthError, "read timeout": TransportError}


@pytest.mark.parametrize("auth", ["sign", "basic"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_upload_leaves_no_credential_anywhere(
    request: pytest.FixtureRequest, silent_url: str, kind: str, auth: str
) -> None:
    url = where(kind, lambda: request.getfixturevalue("live_server").url, silent_url)
    transport = Recording()
    with TPNSClient(
        ACCESS_ID,
        SECRET,
        base_url=url,
        auth=auth,  # type: ignore[arg-type]
        retry=FAST,
        timeout=READ_TIMEOUT,
        transport=transport,
    ) as tpns:
        error = failure(lambda: tpns.upload_package(["alice", "bob"]))
    assert type(error) is EXPECTED[kind], error
    assert_no_leak(error, transport.sent)
    if isinstance(error, TransportError):
        assert error.__cause__ is None and error.__context__ is None
        # what the httpx exception said is kept, as text
        assert error.kind == ("ConnectError" if kind == "refused" else "ReadTimeout")
        assert error.kind in str(error) and error.url == f"{url}/v3/push/package/upload"


@pytest.mark.anyio
@pytest.mark.parametrize("auth", ["sign", "basic"])
@pytest.mark.parametrize("kind", KINDS)
async def test_the_async_client_leaves_none_either(
    request: pytest.FixtureRequest, silent_url: str, kind: str, auth: str
) -> None:
    url = where(kind, lambda: request.getfixturevalue("live_server").url, silent_url)
    transport = AsyncRecording()
    async with AsyncTPNSClient(
        ACCESS_ID,
        SECRET,
        base_url=url,
        auth=auth,  # type: ignore[arg-type]
        retry=FAST,
        timeout=READ_TIMEOUT,
        transport=transport,
    ) as tpns:
        error = await async_failure(lambda: tpns.upload_package(["alice", "bob"]))
    assert type(error) is EXPECTED[kind], error
    assert_no_leak(error, transport.sent)
    if isinstance(error, TransportError):
        assert error.__cause__ is None and error.__context__ is None


def test_a_failed_push_leaves_no_sign_in_the_traceback(live_server: LiveServer) -> None:
    transport = Recording()
    with TPNSClient(
        ACCESS_ID, SECRET, base_url=live_server.url, retry=FAST, transport=transport
    ) as tpns:
        error = failure(lambda: tpns.push({"audience_type": "all", "message_type": "notify"}))
    assert isinstance(error, AuthError)
    assert_no_leak(error, transport.sent)


def test_the_headers_repr_hides_the_credentials_and_httpx_still_sends_them() -> None:
    from tpns_client._core import ClientCore

    core = ClientCore(ACCESS_ID, SECRET, base_url="http://127.0.0.1:9", auth="basic")
    headers = core.headers(core.push_call({"a": 1}).body)
    basic = base64.b64encode(f"{ACCESS_ID}:{SECRET}".encode()).decode()
    assert basic not in repr(headers) and basic not in str(headers)
    assert "Authorization" in repr(headers) and "Content-Length" in repr(headers)
    assert (
        httpx.Request("POST", "http://x", headers=headers).headers["Authorization"].endswith(basic)
    )
