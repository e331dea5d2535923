"""Where an arriving package goes: its temp file in the data dir, its hash, the streaming check.

The multipart reader writes the ``file`` part here as it arrives. Each chunk is written to the
temp file, hashed (SHA-256) and fed to :class:`~tpns_client.protocol.streaming.StreamingCheck`,
so the package is checked in the same pass that stores it and the verdict is ready at the last
byte.

A large upload is written and hashed on one thread, inflated on a second and its lines checked
on a third, each fed through a short queue: the event loop keeps parsing HTTP and multipart
while writing, hashing and inflating (which release the GIL) and the line checks (which hold
it) run beside it, so they overlap on two cores. The queues are bounded, so a client faster
than the check waits (TCP backpressure) instead of filling memory. Small uploads are handled
inline: a thread hand-off would cost more than the work.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from typing import BinaryIO, cast

from starlette.concurrency import run_in_threadpool
from tpns_client.protocol.package import AccountChecker, PackageSummary, Rules, validate_package
from tpns_client.protocol.streaming import StreamingCheck

# uploads declared larger than this are checked on their own thread
THREAD_MIN_BYTES = 1024 * 1024
# chunks (of up to 256 KiB from the server) waiting for the thread: bounds memory per upload
QUEUE_CHUNKS = 64
# inflated chunks (up to 1 MiB each) waiting for the line checker's thread
CHECK_QUEUE_CHUNKS = 8
_END = object()  # tells the thread the body is complete


class _Stage:
    """One thread doing one job on every chunk of the body, fed through a bounded queue.

    A failure (a full disk, say) is kept and raised to the route at the verdict; chunks after
    it, or after a discard, are dropped unread so the feeder never blocks on a dead stage.
    """

    def __init__(self, name: str, work: Callable[[bytes], object], end: Callable[[], object]):
        self._work = work
        self._end = end
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_CHUNKS)
        self.failure: BaseException | None = None
        self.discard = False
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name=name, daemon=True
        )
        self._thread.start()

    def put(self, chunk: bytes) -> None:
        self._queue.put(chunk)  # blocks only while the thread is a queue behind

    def join(self) -> None:
        thread = self._thread
        if thread is None:
            return
        if thread.is_alive():
            self._queue.put(_END)
            thread.join()
        self._thread = None

    def _run(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self.discard or self.failure is not None:
                continue
            try:
                self._work(cast(bytes, item))
            except BaseException as exc:  # raised to the route at the verdict
                self.failure = exc
        if not self.discard and self.failure is None:
            try:
                self._end()
            except BaseException as exc:
                self.failure = exc


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
        self._stages: list[_Stage] = []

    def start(self, file_name: str) -> None:
        """The file part's headers are in: its name says what kind of package to expect."""
        make_checker = ThreadedChecker if self._threaded else AccountChecker
        self.check = StreamingCheck(file_name, self.rules, self.max_inflated, make_checker)
        if self._threaded:
            self._stages = [
                _Stage("tpns-store", self._store, self.handle.flush),
                _Stage("tpns-inflate", self.check.feed, _nothing),
            ]

    def write(self, chunk: bytes) -> int:
        if self._stages:
            for stage in self._stages:
                stage.put(chunk)
        else:
            self._store(chunk)
            if self.check is not None:
                self.check.feed(chunk)
        return len(chunk)

    def sha256(self) -> str:
        """The hex SHA-256 of every byte written (once :meth:`verdict` has waited for them)."""
        return self._digest.hexdigest()

    def flush(self) -> None:
        if not self._stages:
            self.handle.flush()

    async def verdict(self, file_name: str) -> PackageSummary:
        """The package's summary or its refusal, once every byte has been written.

        A small upload's streamed verdict (reading only the zip's directory) is taken inline; a
        large one waits for its threads, and the fallback may inflate a gigabyte, so those run
        on a worker thread.
        """
        if self._stages:
            summary = await run_in_threadpool(self._streamed_summary)
        else:
            summary = self._streamed_summary()
        if summary is not None:
            return summary
        return await run_in_threadpool(
            validate_package, self.handle, file_name, self.rules, self.max_inflated
        )

    def _streamed_summary(self) -> PackageSummary | None:
        self._join()
        for stage in self._stages:
            if stage.failure is not None:
                raise stage.failure
        self.handle.flush()
        return self.check.streamed_summary(self.handle) if self.check is not None else None

    def close(self) -> None:
        """Stop the threads (dropping what they have not done yet); idempotent."""
        for stage in self._stages:
            stage.discard = True
        self._join()
        if self.check is not None:
            self.check.close()

    def _join(self) -> None:
        for stage in self._stages:
            stage.join()

    def _store(self, chunk: bytes) -> None:
        self.handle.write(chunk)
        self._digest.update(chunk)


def _nothing() -> None:
    pass


class ThreadedChecker:
    """An :class:`AccountChecker` on a thread of its own: ``feed`` hands a chunk over and
    returns, so the caller inflates the next chunk while this one's lines are checked.

    A refusal found on the thread is raised by the next ``feed`` (the caller stops feeding) and
    by ``finish``, with the line the checker names, exactly as the checker would raise it.
    """

    def __init__(self, csv: bool = False) -> None:
        self._checker = AccountChecker(csv=csv)
        self.content_bytes = 0
        self._queue: queue.Queue[object] = queue.Queue(CHECK_QUEUE_CHUNKS)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="tpns-lines", daemon=True
        )
        self._thread.start()

    def feed(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self.content_bytes += len(chunk)
        self._queue.put(chunk)

    def finish(self) -> int:
        self.close()
        if self._error is not None:
            raise self._error
        return self._checker.finish()

    def close(self) -> None:
        thread = self._thread
        if thread is not None:
            self._thread = None
            self._queue.put(_END)
            thread.join()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._checker.feed(chunk)  # type: ignore[arg-type]
                except BaseException as exc:  # a refusal (or worse): raised to the feeder
                    self._error = exc
