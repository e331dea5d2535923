"""The client against a live mock that fails on purpose (``POST /_mock/faults``): its retries
recover from a rate limit, and a slow answer becomes its timeout error.

A real server on a loopback port (the ``tpns_mock`` fixture), since a timeout needs a network
path. Backoff is kept to milliseconds so the retries cost no wall time.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tpns_client import (
    AsyncTPNSClient,
    RateLimitError,
    RetryPolicy,
    TransportError,
)
from tpns_mock.testing import MockServer

pytestmark = pytest.mark.slow  # waits out delays and timeouts

UPLOAD = "/v3/push/package/upload"
PUSH = "/v3/push/app"
FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.02)
MESSAGE = {"title": "Hello", "content": "Your order has shipped"}
# the answer comes 3 s late; only the read timeout (1 s) is short, so on a loaded machine a slow
# connect or write cannot be mistaken for it
DELAY_MS = 3000
TIMEOUT = httpx.Timeout(5.0, read=1.0)


def journal(tpns_mock: MockServer, path: str) -> list[tuple[int | None, int | None]]:
    """(retCode, faultId) of each request to ``path``, oldest first."""
    entries = tpns_mock.requests()
    return [(e["retCode"], e["faultId"]) for e in reversed(entries) if e["path"] == path]


@pytest.fixture
def delay(tpns_mock: MockServer) -> Iterator[Callable[[str], None]]:
    """``delay(path)`` arms a one-time delay; afterwards the test waits until the delayed request
    has been answered, so it cannot land in the next test's (shared) mock."""
    armed: list[str] = []

    def make(path: str) -> None:
        tpns_mock.fail(path, action="delay", delay_ms=DELAY_MS, times=1)
        armed.append(path)

    yield make
    deadline = time.monotonic() + 20
    while armed and time.monotonic() < deadline:
        answered = [e for e in journal(tpns_mock, armed[0]) if e[1] is not None]
        if answered:
            armed.pop(0)
        else:
            time.sleep(0.05)
    assert not armed, "the delayed request was never answered"


def pushes(tpns_mock: MockServer) -> list[dict[str, Any]]:
    return tpns_mock.pushes()


def credentials(tpns_mock: MockServer) -> list[str]:
    basic = base64.b64encode(f"{tpns_mock.access_id}:{tpns_mock.secret_key}".encode()).decode()
    return [tpns_mock.secret_key, basic]


# -- 1008028 once: the retry succeeds -----------------------------------------------------------


def test_upload_rate_limited_once_is_retried_and_succeeds(
    tpns_mock: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    tpns_mock.fail(UPLOAD, 1008028, times=1)
    with tpns_mock.client(retry=FAST) as tpns:
        upload_id = tpns.upload_package(["alice", "bob"]).upload_id
    assert tpns_mock.accounts(upload_id) == ["alice", "bob"]
    (fault_answer, accepted) = journal(tpns_mock, UPLOAD)
    assert fault_answer[0] == 1008028 and fault_answer[1] is not None
    assert accepted == (0, None)
    assert "retrying POST" in caplog.text and "1008028" in caplog.text


def test_push_rate_limited_once_is_retried_and_pushed_once(tpns_mock: MockServer) -> None:
    with tpns_mock.client(retry=FAST) as tpns:
        upload_id = tpns.upload_package(["alice", "bob"]).upload_id
        tpns_mock.fail(PUSH, 1008028, times=1)
        result = tpns.push_package(upload_id, MESSAGE, seq=7)
    assert result.ret_code == 0 and result.push_id.isdigit() and result.seq == 7
    assert [code for code, _ in journal(tpns_mock, PUSH)] == [1008028, 0]
    (pushed,) = pushes(tpns_mock)
    assert (str(pushed["pushId"]), pushed["uploadId"]) == (result.push_id, upload_id)


def test_without_retries_the_rate_limit_reaches_the_caller(tpns_mock: MockServer) -> None:
    with tpns_mock.client(retry=RetryPolicy(attempts=1)) as tpns:
        upload_id = tpns.upload_package(["alice", "bob"]).upload_id
        tpns_mock.fail(PUSH, 1008028, times=1)
        with pytest.raises(RateLimitError) as caught:
            tpns.push_package(upload_id, MESSAGE)
    assert (caught.value.ret_code, caught.value.http_status) == (1008028, 200)
    assert pushes(tpns_mock) == []


@pytest.mark.anyio
async def test_async_client_retries_a_rate_limited_push(tpns_mock: MockServer) -> None:
    async with AsyncTPNSClient(
        tpns_mock.access_id, tpns_mock.secret_key, base_url=tpns_mock.url, retry=FAST
    ) as tpns:
        upload_id = (await tpns.upload_package(["alice", "bob"])).upload_id
        tpns_mock.fail(PUSH, 1008028, times=2)
        result = await tpns.push_package(upload_id, MESSAGE)
    assert result.push_id.isdigit()
    assert [code for code, _ in journal(tpns_mock, PUSH)] == [1008028, 1008028, 0]


# -- a delay past the timeout: the client's timeout error ---------------------------------------


@pytest.mark.parametrize("auth", ["sign", "basic"])
def test_slow_push_is_a_timeout_error_with_the_url_and_no_credentials(
    tpns_mock: MockServer, delay: Callable[[str], None], caplog: pytest.LogCaptureFixture, auth: str
) -> None:
    caplog.set_level(logging.DEBUG)
    delay(PUSH)
    with (
        tpns_mock.client(auth=auth, timeout=TIMEOUT, retry=FAST) as tpns,
        pytest.raises(TransportError) as caught,
    ):
        tpns.push({"audience_type": "account_list", "account_list": ["alice"], **notify()})
    error = caught.value
    assert error.url == f"{tpns_mock.url}{PUSH}"
    assert f"failed at POST {tpns_mock.url}{PUSH}: ReadTimeout" in str(error)
    assert (error.ret_code, error.http_status) == (None, None)
    # a push that timed out may have arrived: it is not sent again
    assert "retrying" not in caplog.text
    for text in (str(error), repr(error), error.err_msg, caplog.text):
        for secret in credentials(tpns_mock):
            assert secret not in text


def test_slow_upload_times_out_and_the_retry_succeeds(
    tpns_mock: MockServer, delay: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    delay(UPLOAD)
    with tpns_mock.client(timeout=TIMEOUT, retry=FAST) as tpns:
        upload_id = tpns.upload_package(["alice", "bob"]).upload_id
    assert tpns_mock.accounts(upload_id) == ["alice", "bob"]
    assert "ReadTimeout" in caplog.text and "retrying POST" in caplog.text


@pytest.mark.anyio
async def test_async_client_times_out_too(
    tpns_mock: MockServer, delay: Callable[[str], None]
) -> None:
    delay(UPLOAD)
    async with AsyncTPNSClient(
        tpns_mock.access_id,
        tpns_mock.secret_key,
        base_url=tpns_mock.url,
        timeout=TIMEOUT,
        retry=RetryPolicy(attempts=1),
    ) as tpns:
        with pytest.raises(TransportError) as caught:
            await tpns.upload_package(["alice", "bob"])
    assert caught.value.url == f"{tpns_mock.url}{UPLOAD}"
    assert "Timeout" in caught.value.err_msg
    assert tpns_mock.secret_key not in str(caught.value)


def notify() -> dict[str, Any]:
    return {"message_type": "notify", "message": dict(MESSAGE)}
