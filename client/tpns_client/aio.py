"""``AsyncTPNSClient``: the asyncio/trio client. Same core as the blocking one; only the I/O
differs (file reads and signing run in a worker thread, so a 100 MiB upload never blocks the loop).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import httpx

from tpns_client._core import (
    Auth,
    BytesBody,
    Call,
    ClientCore,
    FileFormBody,
    PushRecord,
    PushResult,
    RetryPolicy,
    RulesName,
    UploadResult,
    redact_url,
)
from tpns_client._package import PackageSource, prepare_package
from tpns_client.errors import TPNSError

log = logging.getLogger("tpns")
T = TypeVar("T")
Progress = Callable[[int, int], None]


class AsyncTPNSClient:
    """The async twin of :class:`tpns_client.TPNSClient`; pass
    ``transport=httpx.ASGITransport(app)`` to talk to a mock app in-process."""

    def __init__(
        self,
        access_id: str | int,
        secret_key: str,
        *,
        region: str | None = None,
        base_url: str | None = None,
        auth: Auth = "sign",
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        rules: RulesName = "seed",
    ) -> None:
        self._core = ClientCore(
            access_id,
            secret_key,
            region=region,
            base_url=base_url,
            auth=auth,
            retry=retry,
            rules=rules,
        )
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        core = self._core
        return (
            f"AsyncTPNSClient(access_id={core.access_id!r}, base_url={redact_url(core.base_url)!r})"
        )

    @property
    def base_url(self) -> str:
        return self._core.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncTPNSClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- API ----------------------------------------------------------------------------------

    async def upload_package(
        self, source: PackageSource, *, validate: bool = True, progress: Progress | None = None
    ) -> UploadResult:
        """Upload a number package. An iterable of accounts is consumed in a worker thread."""
        manager = prepare_package(source, validate, self._core.rules)
        package = await anyio.to_thread.run_sync(manager.__enter__)
        try:
            call = self._core.upload_call(package.path, package.file_name)
            return await self._send(call, progress)
        finally:
            await anyio.to_thread.run_sync(manager.__exit__, None, None, None)

    async def push(self, payload: Mapping[str, Any]) -> PushResult:
        """``POST /v3/push/app`` with ``payload`` as given (Tencent's field names)."""
        return await self._send(self._core.push_call(payload))

    async def push_package(
        self,
        upload_id: int,
        message: Mapping[str, Any],
        *,
        message_type: str = "notify",
        audience_type: str = "package_account_push",
        **fields: Any,
    ) -> PushResult:
        """Push ``message`` to the accounts of an uploaded package."""
        payload = {
            "audience_type": audience_type,
            "upload_id": upload_id,
            "message_type": message_type,
            "message": dict(message),
            **fields,
        }
        return await self.push(payload)

    async def push_record(self, push_id: str) -> PushRecord | None:
        """The push's record (``POST /v3/statistics/get_push_record``): its ``status``
        (PUSH_INIT, PUSH_WAIT, PUSH_STARTED, PUSH_FINISHED, PUSH_FAILED, ...) and every field
        Tencent answers; None when there is no record of that push_id (yet)."""
        return await self._send(self._core.push_record_call(push_id))

    async def wait_for_push(
        self, push_id: str, timeout: float = 60.0, *, poll_s: float = 0.25
    ) -> PushRecord:
        """Poll the push's record until it reaches a final state (PUSH_FINISHED, PUSH_FAILED,
        ...) and return it; :class:`~tpns_client.errors.PushWaitTimeout` after ``timeout``
        seconds. Polls back off (``poll_s``, doubling, at most 30 s): Tencent allows 200
        record calls an hour."""
        waiter = self._core.push_waiter(push_id, timeout, poll_s)
        while True:
            record = await self.push_record(push_id)
            if record is not None and record.final:
                return record
            await anyio.sleep(waiter.next_wait(record))

    # -- I/O ----------------------------------------------------------------------------------

    async def _send(self, call: Call[T], progress: Progress | None = None) -> T:
        # As in the blocking client: the error is raised outside its except block (no
        # __context__ holding the httpx request) and the headers' repr hides the credentials.
        retry = self._core.retry
        attempt = 0
        while True:
            attempt += 1
            error: TPNSError
            if isinstance(call.body, BytesBody):
                headers = self._core.headers(call.body)
            else:
                headers = await anyio.to_thread.run_sync(self._core.headers, call.body)
            try:
                response = await self._http.request(
                    call.method, call.url, headers=headers, content=_stream(call.body, progress)
                )
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                error = self._core.transport_error(call, exc)
            else:
                try:
                    return call.parse(response.status_code, response.content)
                except TPNSError as exc:
                    error = exc
            if not retry.should_retry(error, attempt, call.idempotent):
                raise error
            wait = retry.delay(attempt)
            log.warning(
                "retrying %s %s in %.1f s after: %s", call.method, redact_url(call.url), wait, error
            )
            await anyio.sleep(wait)


async def _stream(
    body: BytesBody | FileFormBody, progress: Progress | None
) -> AsyncIterator[bytes]:
    total, sent = body.length, 0
    chunks = body.chunks()
    done = object()
    while True:
        chunk = (
            await anyio.to_thread.run_sync(next, chunks, done)
            if isinstance(body, FileFormBody)
            else next(chunks, done)
        )
        if chunk is done:
            return
        assert isinstance(chunk, bytes)
        yield chunk
        sent += len(chunk)
        if progress is not None:
            progress(sent, total)
