"""Where an arriving package goes: its temp file in the data dir, its hash, the streaming check.

The multipart reader writes the ``file`` part here as it arrives. Each chunk is written to the
temp file, hashed (SHA-256) and fed to :class:`~tpns_client.protocol.streaming.StreamingCheck`,
so the package is checked in the same pass that stores it and the verdict is ready at the last
byte.

A large upload is written, hashed and checked on a thread of its own, fed through a short queue:
the event loop keeps parsing HTTP and multipart while the thread inflates and hashes (zlib, isal
and hashlib release the GIL) and writes, so receiving and checking overlap on two cores. The
queue is bounded, so a client faster than the check waits (TCP backpressure) instead of filling
memory. Small uploads are handled inline: a thread hand-off would cost more than the work.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool
from tpns_client.protocol.package import PackageSummary, Rules, validate_package
from tpns_client.protocol.streaming import StreamingCheck

# uploads declared larger than this are checked on their own thread
THREAD_MIN_BYTES = 1024 * 1024
# chunks (of up to 64 KiB from the server) waiting for the thread: bounds memory per upload
QUEUE_CHUNKS = 64
_END = object()  # tells the thread the body is complete


class Intake:
    """A file-like sink (``write``/``flush``) for the ``file`` part of one upload."""

    def __init__(
        self,
        handle: BinaryIO,
        rules: Rules,
        max_inflated: int,
        *,
        expected_bytes: int | None,
    ) -> None:
        self.handle = handle
        self.rules = rules
        self.max_inflated = max_inflated
        self.check: StreamingCheck | None = None
        self._digest = hashlib.sha256()
        self._threaded = expected_bytes is None or expected_bytes > THREAD_MIN_BYTES
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_CHUNKS)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._discard = False

    def start(self, file_name: str) -> None:
        """The file part's headers are in: its name says what kind of package to expect."""
        self.check = StreamingCheck(file_name, self.rules, self.max_inflated)
        if self._threaded:
            self._thread = threading.Thread(target=self._consume, name="tpns-intake", daemon=True)
            self._thread.start()

    def write(self, chunk: bytes) -> int:
        if self._thread is not None:
            self._queue.put(chunk)  # blocks only while the thread is a queue behind
        else:
            self.handle.write(chunk)
            self._digest.update(chunk)
            if self.check is not None:
                self.check.feed(chunk)
        return len(chunk)

    def sha256(self) -> str:
        """The hex SHA-256 of every byte written (once :meth:`verdict` has waited for them)."""
        return self._digest.hexdigest()

    def flush(self) -> None:
        if self._thread is None:
            self.handle.flush()

    async def verdict(self, file_name: str) -> PackageSummary:
        """The package's summary or its refusal, once every byte has been written.

        The stream's own verdict needs only the zip's directory (read inline); the fallback
        may inflate a gigabyte, so it runs on a worker thread.
        """
        if self._thread is not None:
            await run_in_threadpool(self._join)
        if self._failure is not None:
            raise self._failure
        self.handle.flush()
        check = self.check
        summary = check.streamed_summary(self.handle) if check is not None else None
        if summary is not None:
            return summary
        return await run_in_threadpool(
            validate_package, self.handle, file_name, self.rules, self.max_inflated
        )

    def close(self) -> None:
        """Stop the thread (dropping what it has not written yet); idempotent."""
        if self._thread is not None:
            self._discard = True
            self._join()

    def _join(self) -> None:
        thread = self._thread
        if thread is None:
            return
        if thread.is_alive():
            self._queue.put(_END)
            thread.join()
        self._thread = None

    def _consume(self) -> None:
        check = self.check
        assert check is not None
        while (chunk := self._queue.get()) is not _END:
            if self._discard or self._failure is not None:
                continue
            try:
                self.handle.write(chunk)  # type: ignore[arg-type]
                self._digest.update(chunk)  # type: ignore[arg-type]
                check.feed(chunk)  # type: ignore[arg-type]
            except BaseException as exc:  # a full disk: raised to the route at the verdict
                self._failure = exc
        if not self._discard and self._failure is None:
            try:
                self.handle.flush()
            except BaseException as exc:
                self._failure = exc
