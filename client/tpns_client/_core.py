"""The sans-IO core shared by ``TPNSClient`` and ``AsyncTPNSClient``.

Everything that is the same for both lives here: where each region is, how a request is signed,
how a multipart body is framed, how an answer becomes a typed result or a :class:`TPNSError`, and
when to retry. The two client classes only move bytes (sync or async), so they cannot drift apart,
and adding an endpoint is one ``*_call`` builder here plus a one-line method on each class.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from tpns_client.errors import (
    AuthError,
    PackageRefused,
    PushWaitTimeout,
    RateLimitError,
    TPNSError,
    TransportError,
)
from tpns_client.protocol.codes import AUTH_FAILURE, PACKAGE_CODES, RATE_LIMITED
from tpns_client.protocol.paths import PUSH_PATH, PUSH_RECORD_PATH, REGIONS, UPLOAD_PATH
from tpns_client.protocol.records import (
    FINAL_STATES,
    INVALID_TARGETS_KEY,
    PUSH_FAILED,
    PUSH_FINISHED,
)
from tpns_client.protocol.signing import basic_header, sign_chunks

CHUNK_BYTES = 256 * 1024

Auth = Literal["sign", "basic"]
RulesName = Literal["seed", "current"]
T = TypeVar("T")
# headers whose values are credentials: never shown in a repr
SECRET_HEADERS = frozenset({"authorization", "sign"})
# httpx failures that the same request cannot get past: retrying only costs time
NOT_RETRYABLE = (httpx.UnsupportedProtocol, httpx.InvalidURL)


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadResult:
    """An accepted number package: ``upload_id`` is what a package push targets."""

    upload_id: int
    ret_code: int = 0
    err_msg: str = ""


@dataclass(frozen=True)
class PushResult:
    """An accepted push (``POST /v3/push/app``), in the push API's snake_case fields."""

    push_id: str
    seq: int = 0
    environment: str = ""
    result: Any = None
    ret_code: int = 0
    err_msg: str = ""  # Tencent answers "NO_ERROR" on success
    invalid_targets: tuple[str, ...] = ()  # Tencent's ``invalid_targe_list``


@dataclass(frozen=True)
class PushRecord:
    """What became of a push (``POST /v3/statistics/get_push_record``); ``data`` holds every
    field as answered (camelCase: ``date``, ``title``, ``uploadId``, ``targetList``, ...)."""

    push_id: str
    status: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        """The push will not change any more (finished, failed, canceled, ...)."""
        return self.status in FINAL_STATES

    @property
    def finished(self) -> bool:
        return self.status == PUSH_FINISHED

    @property
    def failed(self) -> bool:
        return self.status == PUSH_FAILED


@dataclass
class PushWaiter:
    """When to ask again while waiting for a push to reach a final state: first after
    ``poll_s``, then twice as long each time up to ``max_poll_s`` (Tencent allows 200 record
    calls an hour), never past the deadline."""

    push_id: str
    timeout_s: float
    poll_s: float = 0.25
    max_poll_s: float = 30.0
    started: float = field(default_factory=time.monotonic)

    def next_wait(self, record: PushRecord | None) -> float:
        """Seconds to wait before the next look, or :class:`PushWaitTimeout` if time is up."""
        remaining = self.started + self.timeout_s - time.monotonic()
        if remaining <= 0:
            raise PushWaitTimeout(self.push_id, record.status if record else None, self.timeout_s)
        wait = min(self.poll_s, remaining)
        self.poll_s = min(self.poll_s * 2, self.max_poll_s)
        return wait


# -- bodies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BytesBody:
    """A small body held in memory (JSON)."""

    data: bytes
    content_type: str

    @property
    def length(self) -> int:
        return len(self.data)

    def chunks(self) -> Iterator[bytes]:
        yield self.data


@dataclass(frozen=True)
class FileFormBody:
    """``multipart/form-data`` with one file part read from disk in chunks.

    Re-iterable (each call to ``chunks`` reads the file again), so it can be signed in one pass,
    sent in another and re-sent on a retry, all without holding it in memory; its length is known
    up front, so it is sent with a Content-Length rather than chunked.
    """

    path: Path
    file_name: str
    field_name: str = "file"
    part_type: str = "application/zip"
    boundary: str = field(default_factory=lambda: "tpns-" + os.urandom(12).hex())

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def _prefix(self) -> bytes:
        name = self.file_name.replace('"', "%22").replace("\r", "").replace("\n", "")
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{self.field_name}"; filename="{name}"\r\n'
            f"Content-Type: {self.part_type}\r\n\r\n"
        ).encode()

    @property
    def _suffix(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        return len(self._prefix) + self.path.stat().st_size + len(self._suffix)

    def chunks(self) -> Iterator[bytes]:
        yield self._prefix
        with self.path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk
        yield self._suffix


Body = BytesBody | FileFormBody


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call, ready to be sent (and re-sent: headers are made fresh for each attempt)."""

    method: str
    url: str
    body: Body
    parse: Callable[[int, bytes], T]
    # whether an attempt that may have reached the server can be repeated without harm
    idempotent: bool = True


# -- retries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying again.

    Retried: 1008028 (rate limited), HTTP 5xx and transport failures. Never retried: a refused
    package, bad credentials or any other TPNS refusal (the same request would fail the same
    way). A call that is not idempotent (a push) is only retried when it surely did not reach the
    server (connection refused, 1008028), so a flaky network cannot send a push twice.
    """

    attempts: int = 4  # tries in all, the first included; 1 turns retries off
    backoff_s: float = 0.5  # first wait; doubles each time, with jitter
    max_backoff_s: float = 8.0
    retry_codes: frozenset[int] = frozenset({RATE_LIMITED})

    def should_retry(self, error: TPNSError, attempt: int, idempotent: bool = True) -> bool:
        if attempt >= self.attempts or isinstance(error, (PackageRefused, AuthError)):
            return False
        if error.ret_code in self.retry_codes:
            return True
        if isinstance(error, TransportError):
            if not error.retryable:
                return False
            return idempotent or error.err_msg.startswith("could not connect")
        return idempotent and error.http_status is not None and error.http_status >= 500

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th failure (1-based)."""
        base = min(self.max_backoff_s, self.backoff_s * 2.0 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)


# -- the core -----------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages (even a malformed URL's)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: drop everything up to the last "@"
        scheme, sep, rest = url.partition("://")
        return scheme + sep + rest.rsplit("@", 1)[-1] if sep else url.rsplit("@", 1)[-1]
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash, or a ValueError saying what is wrong with it.

    Checked up front because httpx only objects when a request is sent, as an
    ``UnsupportedProtocol`` (``localhost:8080`` has the "scheme" ``localhost``) or an
    ``InvalidURL``, which says nothing about where the URL came from.
    """
    shown = redact_url(base_url)
    example = "e.g. http://127.0.0.1:8080 or https://api.tpns.tencent.com"
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"base_url {shown!r} is not a valid URL ({exc}); {example}") from None
    if url.scheme not in ("http", "https"):
        raise ValueError(f"base_url {shown!r} must start with http:// or https://; {example}")
    if not url.host:
        raise ValueError(f"base_url {shown!r} names no host; {example}")
    return base_url.rstrip("/")


class SecretHeaders(dict):  # type: ignore[type-arg]
    """Request headers whose repr hides the credentials (Authorization, Sign).

    The headers of an attempt live in a local variable of the send loop, and tracebacks shown
    with their locals (``pytest -l``, ``traceback`` with ``capture_locals``, rich, error
    trackers) print locals with ``repr``.
    """

    def __repr__(self) -> str:
        shown = {k: "[redacted]" if k.lower() in SECRET_HEADERS else v for k, v in self.items()}
        return f"SecretHeaders({shown!r})"

    __str__ = __repr__


sign = sign_chunks  # Tencent's Sign over a body given in pieces


class ClientCore:
    """Credentials, base URL, retry policy; builds calls and reads answers. Does no network I/O."""

    def __init__(
        self,
        access_id: str | int,
        secret_key: str,
        *,
        region: str | None = None,
        base_url: str | None = None,
        auth: Auth = "sign",
        retry: RetryPolicy | None = None,
        rules: RulesName = "seed",
    ) -> None:
        if auth not in ("sign", "basic"):
            raise ValueError(f"auth must be 'sign' or 'basic', not {auth!r}")
        if rules not in ("seed", "current"):
            raise ValueError(f"rules must be 'seed' or 'current', not {rules!r}")
        if base_url and region:
            raise ValueError("give either region or base_url, not both")
        if base_url is None:
            region = region or "guangzhou"
            if region not in REGIONS:
                raise ValueError(f"unknown region {region!r}; one of {', '.join(REGIONS)}")
            base_url = REGIONS[region]
        base_url = check_base_url(base_url)
        self.access_id = str(access_id)
        self.__secret_key = secret_key
        self.region = region
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.rules: RulesName = rules

    def __repr__(self) -> str:
        return (
            f"ClientCore(access_id={self.access_id!r}, base_url={redact_url(self.base_url)!r}, "
            f"auth={self.auth!r})"
        )

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- requests -----------------------------------------------------------------------------

    def headers(self, body: Body, now: float | None = None) -> SecretHeaders:
        """Auth and content headers for one attempt (a signed body is read once to sign it)."""
        headers = SecretHeaders(
            {"Content-Type": body.content_type, "Content-Length": str(body.length)}
        )
        if self.auth == "basic":
            headers["Authorization"] = basic_header(self.access_id, self.__secret_key)
        else:
            timestamp = str(int(time.time() if now is None else now))
            headers["AccessId"] = self.access_id
            headers["TimeStamp"] = timestamp
            headers["Sign"] = sign(self.__secret_key, timestamp, self.access_id, body.chunks())
        return headers

    def upload_call(self, path: Path, file_name: str) -> Call[UploadResult]:
        body = FileFormBody(
            path,
            file_name,
            part_type=_PART_TYPES.get(Path(file_name).suffix.lower(), "application/zip"),
        )
        return Call("POST", self.url(UPLOAD_PATH), body, self.parse_upload)

    def push_call(self, payload: Mapping[str, Any]) -> Call[PushResult]:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        body = BytesBody(data, "application/json")
        return Call("POST", self.url(PUSH_PATH), body, self.parse_push, idempotent=False)

    def push_record_call(self, push_id: str) -> Call[PushRecord | None]:
        data = json.dumps({"pushId": str(push_id)}, separators=(",", ":")).encode()
        body = BytesBody(data, "application/json")

        def parse(status: int, content: bytes) -> PushRecord | None:
            return self.parse_push_record(str(push_id), status, content)

        return Call("POST", self.url(PUSH_RECORD_PATH), body, parse)

    def push_waiter(self, push_id: str, timeout_s: float, poll_s: float) -> PushWaiter:
        if timeout_s < 0 or poll_s <= 0:
            raise ValueError("timeout must be 0 or more and poll_s above 0")
        return PushWaiter(str(push_id), timeout_s, poll_s=poll_s)

    # -- answers ------------------------------------------------------------------------------

    def parse_upload(self, status: int, content: bytes) -> UploadResult:
        data = _answer(status, content, UPLOAD_PATH)
        code, message = data.get("retCode"), data.get("errMsg", "")
        _raise_for(code, message, status, package=True)
        upload_id = data.get("uploadId")
        if not isinstance(upload_id, int) or isinstance(upload_id, bool) or upload_id <= 0:
            raise TPNSError(
                None, f"retCode 0 without a positive uploadId: {_snippet(content)}", status
            )
        return UploadResult(upload_id, 0, str(message))  # _raise_for let only 0 through

    def parse_push(self, status: int, content: bytes) -> PushResult:
        data = _answer(status, content, PUSH_PATH)
        code, message = data.get("ret_code"), data.get("err_msg", "")
        _raise_for(code, message, status, package=False)
        return PushResult(
            push_id=str(data.get("push_id", "")),
            seq=int(data.get("seq") or 0),
            environment=str(data.get("environment", "")),
            result=data.get("result"),
            ret_code=code,  # type: ignore[arg-type]
            err_msg=str(message),
            invalid_targets=tuple(
                str(t) for t in data.get(INVALID_TARGETS_KEY) or () if isinstance(t, str)
            ),
        )

    def parse_push_record(self, push_id: str, status: int, content: bytes) -> PushRecord | None:
        """The push's record, or None when TPNS has none (yet) for that push_id."""
        data = _answer(status, content, PUSH_RECORD_PATH)
        _raise_for(data.get("retCode"), data.get("errMsg", ""), status, package=False)
        records = data.get("pushRecordData")
        for item in records if isinstance(records, list) else []:
            if isinstance(item, dict) and str(item.get("pushId")) == push_id:
                return PushRecord(push_id, str(item.get("status", "")), item)
        return None

    def transport_error(
        self, call: Call[Any], exc: httpx.TransportError | httpx.InvalidURL
    ) -> TransportError:
        """The error to raise for ``exc``: its type and message and the URL, not ``exc`` itself
        (whose ``request`` holds the credentials)."""
        url = redact_url(call.url)
        what = "could not connect to" if isinstance(exc, httpx.ConnectError) else "failed at"
        kind = type(exc).__name__
        reason = str(exc) or kind
        return TransportError(
            url,
            f"{what} {call.method} {url}: {kind}: {reason}",
            kind=kind,
            retryable=not isinstance(exc, NOT_RETRYABLE),
        )


_PART_TYPES = {".zip": "application/zip", ".txt": "text/plain", ".csv": "text/csv"}


def _snippet(content: bytes) -> str:
    text = content[:200].decode("utf-8", errors="replace")
    return repr(text) + ("..." if len(content) > 200 else "")


def _answer(status: int, content: bytes, path: str) -> dict[str, Any]:
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if status in (401, 403):
            raise AuthError(None, f"HTTP {status} from {path}: {_snippet(content)}", status)
        raise TPNSError(
            None, f"HTTP {status} from {path}, not a TPNS answer: {_snippet(content)}", status
        )
    return data


def _raise_for(code: object, message: object, status: int, *, package: bool) -> None:
    if not isinstance(code, int) or isinstance(code, bool):
        raise TPNSError(None, f"the answer has no integer return code (HTTP {status})", status)
    if code == 0 and 200 <= status < 300:
        return
    text = str(message) or f"HTTP {status}"
    if code == AUTH_FAILURE or status in (401, 403):
        raise AuthError(code, text, status)
    if code == RATE_LIMITED:
        raise RateLimitError(code, text, status)
    if package and code in PACKAGE_CODES:
        raise PackageRefused(code, text, status)
    raise TPNSError(code, text, status)
