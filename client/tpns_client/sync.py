"""``TPNSClient``: the blocking client. It only does I/O; the decisions are in ``_core``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from tpns_client._core import (
    Auth,
    Body,
    Call,
    ClientCore,
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


class TPNSClient:
    """A TPNS client for one app. Works unchanged against Tencent or tpns-mock.

    >>> with TPNSClient("1500000001", "secret", base_url="http://127.0.0.1:8080") as tpns:
    ...     tpns.upload_package(["alice", "bob"]).upload_id  # doctest: +SKIP
    """

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
        transport: httpx.BaseTransport | None = None,
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
        self._http = httpx.Client(transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        core = self._core
        return f"TPNSClient(access_id={core.access_id!r}, base_url={redact_url(core.base_url)!r})"

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TPNSClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- API ----------------------------------------------------------------------------------

    def upload_package(
        self, source: PackageSource, *, validate: bool = True, progress: Progress | None = None
    ) -> UploadResult:
        """Upload a number package; see :func:`client._package.prepare_package` for ``source``."""
        with prepare_package(source, validate, self._core.rules) as package:
            call = self._core.upload_call(package.path, package.file_name)
            return self._send(call, progress)

    def push(self, payload: Mapping[str, Any]) -> PushResult:
        """``POST /v3/push/app`` with ``payload`` as given (Tencent's field names)."""
        return self._send(self._core.push_call(payload))

    def push_package(
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
        return self.push(payload)

    def push_record(self, push_id: str) -> PushRecord | None:
        """The push's record (``POST /v3/statistics/get_push_record``): its ``status``
        (PUSH_INIT, PUSH_WAIT, PUSH_STARTED, PUSH_FINISHED, PUSH_FAILED, ...) and every field
        Tencent answers; None when there is no record of that push_id (yet)."""
        return self._send(self._core.push_record_call(push_id))

    def wait_for_push(
        self, push_id: str, timeout: float = 60.0, *, poll_s: float = 0.25
    ) -> PushRecord:
        """Poll the push's record until it reaches a final state (PUSH_FINISHED, PUSH_FAILED,
        ...) and return it; :class:`~tpns_client.errors.PushWaitTimeout` after ``timeout``
        seconds. Polls back off (``poll_s``, doubling, at most 30 s): Tencent allows 200
        record calls an hour."""
        waiter = self._core.push_waiter(push_id, timeout, poll_s)
        while True:
            record = self.push_record(push_id)
            if record is not None and record.final:
                return record
            time.sleep(waiter.next_wait(record))

    # -- I/O ----------------------------------------------------------------------------------

    def _send(self, call: Call[T], progress: Progress | None = None) -> T:
        # The error is raised after its except block, so it has no __context__ holding the
        # httpx exception (whose request carries the credentials); the headers are a
        # SecretHeaders, whose repr hides them from tracebacks shown with their locals.
        retry = self._core.retry
        attempt = 0
        while True:
            attempt += 1
            error: TPNSError
            headers = self._core.headers(call.body)
            try:
                response = self._http.request(
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
            time.sleep(wait)


def _stream(body: Body, progress: Progress | None) -> Iterator[bytes]:
    total, sent = body.length, 0
    for chunk in body.chunks():
        yield chunk
        sent += len(chunk)
        if progress is not None:
            progress(sent, total)
