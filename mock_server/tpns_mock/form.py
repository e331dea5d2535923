"""Reads the upload's multipart body as it streams in, writing the ``file`` part to disk.

Starlette's ``request.form()`` would spool the whole body (outside the data dir) before the route
runs, so a 5 GB body would be read in full before being refused. Here python-multipart's
streaming parser is fed chunk by chunk: the file part goes straight to the given file, its size
is counted as it arrives, and the request is refused the moment a limit is passed.

Tolerates what Tencent's own examples send: ``multipart/form-data,boundary=...`` (a comma for the
semicolon) and extra CRLFs after the file's bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from tpns_mock.body import BodyTimeout, timed_chunks
from tpns_mock.errors import MISSING_PARAM, PARAM_PARSE_ERROR, UPLOAD_FILE_ERROR, TPNSError

MAX_PARTS = 16
# room for the multipart framing and any small fields around a file at the size limit
FRAMING_SLACK_BYTES = 1024 * 1024
FIELD_NAME = "file"


class Sink(Protocol):
    """Where the file part's bytes go: a file, or something that also checks them on the way."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


@dataclass
class ReceivedFile:
    file_name: str
    size: int


class BodyTooLarge(TPNSError):
    """Raised as soon as the body passes the limit; the route stops reading."""


@dataclass
class _PartState:
    headers: dict[str, bytes] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)


def boundary_of(content_type: str) -> bytes:
    """The multipart boundary, or a 1008002 saying how to send the file."""
    if ";" not in content_type and "," in content_type:
        content_type = content_type.replace(",", ";", 1)
    media_type, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise TPNSError(
            MISSING_PARAM,
            f"form key {FIELD_NAME!r} not found: send multipart/form-data with the package "
            f"under the key {FIELD_NAME!r} (got Content-Type {content_type[:80]!r})",
        )
    return boundary


def _clean_file_name(raw: str) -> str:
    # browsers and some clients send a full Windows path; only the last component is the name
    return raw.replace("\\", "/").rsplit("/", 1)[-1]


async def receive_file(
    body: AsyncIterator[bytes],
    content_type: str,
    content_length: int | None,
    sink: Sink,
    *,
    max_file_bytes: int,
    idle_timeout_s: float,
    deadline_s: float = float("inf"),
    on_chunk: Callable[[bytes], None] = lambda _: None,
    on_file: Callable[[str], None] = lambda _: None,
) -> ReceivedFile:
    """Stream the body, writing the ``file`` part to ``sink``; refuse as soon as a rule breaks.

    ``on_file`` hears the file part's name before its first byte is written to ``sink``.

    ``idle_timeout_s`` bounds the wait for each chunk, ``deadline_s`` the whole body: a client
    trickling one byte a second never goes idle, but still cannot hold the upload open forever.
    """
    boundary = boundary_of(content_type)
    max_body = max_file_bytes + FRAMING_SLACK_BYTES
    if content_length is not None and content_length > max_body:
        raise _too_large(max_file_bytes)

    part = _PartState()
    found: list[str] = []  # file name of the file part, once its headers are complete
    state = {"parts": 0, "writing": False, "size": 0, "ended": False}

    def on_part_begin() -> None:
        nonlocal part
        state["parts"] += 1
        if state["parts"] > MAX_PARTS:
            raise TPNSError(PARAM_PARSE_ERROR, f"the form has more than {MAX_PARTS} parts")
        part = _PartState()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end]

    def on_header_end() -> None:
        part.headers[part.header_field.decode("latin-1").strip().lower()] = bytes(part.header_value)
        part.header_field.clear()
        part.header_value.clear()

    def on_headers_finished() -> None:
        _, options = parse_options_header(part.headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("latin-1")
        if name != FIELD_NAME:
            return
        if found:
            raise TPNSError(
                UPLOAD_FILE_ERROR, f"the form has more than one {FIELD_NAME!r} part; send one"
            )
        found.append(_clean_file_name(_decode(options.get(b"filename", b""))))
        on_file(found[0])
        state["writing"] = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if not state["writing"]:
            return
        state["size"] += end - start
        if state["size"] > max_file_bytes:
            raise _too_large(max_file_bytes)
        chunk = data[start:end]
        sink.write(chunk)

    def on_part_end() -> None:
        state["writing"] = False

    def on_end() -> None:
        state["ended"] = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_end": on_end,
        },
    )
    received = 0
    try:
        async for chunk in timed_chunks(
            body, idle_timeout_s=idle_timeout_s, deadline_s=deadline_s, what="the upload"
        ):
            received += len(chunk)
            if received > max_body:
                raise _too_large(max_file_bytes)
            on_chunk(chunk)
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise TPNSError(PARAM_PARSE_ERROR, f"malformed multipart body ({exc})") from None
    except BodyTimeout as exc:
        raise TPNSError(UPLOAD_FILE_ERROR, str(exc), http_status=408) from None
    if not found:
        raise TPNSError(MISSING_PARAM, f"form key {FIELD_NAME!r} not found in the multipart body")
    if not state["ended"]:
        raise TPNSError(
            PARAM_PARSE_ERROR, "the multipart body ends before its closing boundary (truncated?)"
        )
    sink.flush()
    return ReceivedFile(found[0], state["size"])


def _decode(raw: bytes | bytearray) -> str:
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(raw).decode("latin-1")


def _too_large(limit: int) -> TPNSError:
    return BodyTooLarge(
        UPLOAD_FILE_ERROR,
        f"the upload is larger than {limit:,} bytes ({limit / 2**20:g} MiB); split the accounts "
        "into several packages",
    )
