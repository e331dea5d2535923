"""Reading a request body in bounded time and size, for routes that read it themselves.

A body is read chunk by chunk; each chunk must come within ``idle_timeout_s`` of the last, and
the whole body within ``deadline_s``. The idle timeout ends a client that stopped sending; the
deadline ends one trickling a byte at a time, which never goes idle but would otherwise hold a
connection (and a worker's attention) forever. Raises plain exceptions carrying a human message,
so each route answers them in its own shape (TPNS push JSON, the ``/_mock/`` error JSON, ...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

# after refusing a request early, read and discard at most this much more so the client sees the
# answer instead of a reset connection; past it the connection is simply closed
DRAIN_LIMIT_BYTES = 256 * 1024 * 1024
DRAIN_LIMIT_S = 10.0


class BodyTimeout(Exception):
    """The body stalled or took too long; the message says which."""


class BodyTooLong(Exception):
    """The body passed ``max_bytes``; the message says the limit."""


async def timed_chunks(
    body: AsyncIterator[bytes],
    *,
    idle_timeout_s: float,
    deadline_s: float = float("inf"),
    what: str = "the body",
) -> AsyncIterator[bytes]:
    """Yield ``body``'s chunks, raising :class:`BodyTimeout` when a chunk is late."""
    iterator = body.__aiter__()
    deadline = time.monotonic() + deadline_s
    while True:
        left = deadline - time.monotonic()
        try:
            chunk = await _within(iterator.__anext__(), min(idle_timeout_s, left))
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            if idle_timeout_s > left:
                raise BodyTimeout(
                    f"{what} took longer than {deadline_s:g} s; send it faster or raise the "
                    "body deadline"
                ) from None
            raise BodyTimeout(f"{what} stalled: no data for {idle_timeout_s:g} s") from None
        yield chunk


async def _within(awaitable: Awaitable[bytes], seconds: float) -> bytes:
    """``awaitable``'s result, or ``asyncio.TimeoutError`` after ``seconds``.

    ``asyncio.timeout`` (Python 3.11+) only schedules a timer; ``wait_for`` (before 3.12) also
    wraps the awaitable in a new task, which per chunk of a small upload is a measurable cost.
    """
    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:  # pragma: no cover - Python 3.10
        return await asyncio.wait_for(awaitable, timeout=seconds)
    async with timeout(max(seconds, 0)):
        return await awaitable


async def read_bounded(
    body: AsyncIterator[bytes],
    *,
    max_bytes: int,
    idle_timeout_s: float,
    deadline_s: float = float("inf"),
    what: str = "the body",
) -> AsyncIterator[bytes]:
    """:func:`timed_chunks`, also raising :class:`BodyTooLong` once ``max_bytes`` is passed."""
    size = 0
    async for chunk in timed_chunks(
        body, idle_timeout_s=idle_timeout_s, deadline_s=deadline_s, what=what
    ):
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLong(f"{what} passes {max_bytes:,} bytes")
        yield chunk


async def drain(
    body: AsyncIterator[bytes], on_chunk: Callable[[bytes], None] = lambda _: None
) -> bool:
    """Read and discard what the client is still sending, within bounds; True if it all came.

    ``on_chunk`` sees every byte, so a signature over the whole body can still be checked.
    """
    try:
        async for chunk in read_bounded(
            body,
            max_bytes=DRAIN_LIMIT_BYTES,
            idle_timeout_s=DRAIN_LIMIT_S,
            deadline_s=DRAIN_LIMIT_S,
        ):
            on_chunk(chunk)
    except Exception:  # too much, too slow, the client went away, or the stream was broken
        return False
    return True


async def asgi_body(receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> AsyncIterator[bytes]:
    """An ASGI ``receive`` as an iterator of body chunks, for code below the routes."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def expects_continue(headers: Mapping[str, str]) -> bool:
    """The client sent ``Expect: 100-continue``: it waits for a go-ahead before the body, and a
    server that refuses first can answer at once without reading (or draining) anything."""
    return "100-continue" in headers.get("expect", "").lower()


class Started:
    """Wraps a body iterator and remembers whether its first chunk was asked for. Asking is
    what makes the server send ``100 Continue`` to a client that expects it."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self._body = body
        self.started = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        self.started = True
        return await self._body.__anext__()
