"""Checking a package while it arrives: one pass over the upload's bytes instead of two.

A server writes an upload to disk as it streams in; :class:`StreamingCheck` is fed the same bytes
and, for an ordinary zip (its local header first, the sizes in it, deflate or store), inflates the
member and checks its lines as they come, so the verdict is ready at the last byte.

It only ever *accepts* on its own. When the stream ends, the zip's central directory is read
from the stored file (the end of it only) by :func:`~tpns_client.protocol.package.checked_member`
and the member's local header by :func:`~tpns_client.protocol.package.data_offset`, the same
checks :func:`~tpns_client.protocol.package.validate_package` makes, and must describe
exactly the member that was streamed (at offset 0, same name, method, sizes and CRC), so that
``validate_package`` would have inflated the same bytes in the same way. Anything else falls back
to ``validate_package`` on the stored file: a broken rule (so every refusal is the one it always
was, with its message, and the rules live in one place), a zip that cannot be streamed (sizes in
a data descriptor after the data, zip64 sizes, an encrypted entry, something before the first
local header), or a directory that disagrees with what was streamed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import BinaryIO, Protocol

from tpns_client.protocol.package import (
    _INFLATE_ERRORS,
    _LOCAL_HEADER,
    CHUNK_BYTES,
    DEFAULT_MAX_INFLATED_BYTES,
    AccountChecker,
    PackageError,
    PackageSummary,
    Rules,
    _suffix,
    _zlib,
    check_file_name,
    checked_member,
    data_offset,
    header_name,
    validate_package,
)

LOCAL_SIGNATURE = b"PK\x03\x04"
_ENCRYPTED = 0x1
_DATA_DESCRIPTOR = 0x8
_STORED, _DEFLATED = 0, 8
_ZIP64_SIZE = 0xFFFFFFFF


class LineChecker(Protocol):
    """What checks the accounts file's lines: :class:`AccountChecker`, or one that runs it
    elsewhere (a server may check lines on another thread while this one inflates)."""

    content_bytes: int

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> int: ...


class _Phase(enum.Enum):
    HEADER = "header"  # gathering the first local header
    MEMBER = "member"  # inflating and checking the member's data
    TEXT = "text"  # a .txt/.csv upload: every byte is the accounts file
    AFTER = "after"  # the member is complete; the rest (the directory) is only stored
    OFF = "off"  # not streaming: the verdict is validate_package's


class StreamingCheck:
    """Fed an upload's bytes in order (any chunking); :meth:`verdict` at the end.

    ``feed`` never raises for a broken rule: it stops checking and leaves the refusal to the
    fallback, which names it exactly as it always has.
    """

    def __init__(
        self,
        file_name: str,
        rules: Rules = Rules.SEED,
        max_inflated: int = DEFAULT_MAX_INFLATED_BYTES,
        make_checker: Callable[[bool], LineChecker] = AccountChecker,
    ) -> None:
        """``make_checker(csv)`` makes the line checker (an :class:`AccountChecker` by default);
        one with a ``close()`` is closed once the stream no longer needs it."""
        self.file_name = file_name
        self.rules = rules
        self.max_inflated = max_inflated
        self.fallback_reason: str | None = None  # why the stream was not enough, once known
        self.streamed = False  # whether the last verdict came from the stream
        self._phase = _Phase.HEADER
        self._pending = bytearray()
        self._kind = "zip"
        self._name = ""
        self._raw_name = b""
        self._data_at = 0
        self._method = _STORED
        self._crc_declared = 0
        self._compressed = 0
        self._inflated_declared = 0
        self._remaining = 0
        self._inflater: object | None = None
        self._inflated = 0
        self._crc = 0
        self._make_checker = make_checker
        self._checker: LineChecker | None = None
        try:
            self._kind = check_file_name(file_name, rules)
        except PackageError as exc:
            self._stop(str(exc))
            return
        if self._kind != "zip":
            self._phase = _Phase.TEXT
            self._checker = make_checker(self._kind == "csv")

    @property
    def streaming(self) -> bool:
        """False once the verdict is known to be the fallback's."""
        return self._phase is not _Phase.OFF

    def feed(self, data: bytes) -> None:
        """The next bytes of the upload, in order."""
        if not data or self._phase in (_Phase.OFF, _Phase.AFTER):
            return
        try:
            if self._phase is _Phase.TEXT:
                self._take(data)
            elif self._phase is _Phase.HEADER:
                self._header(data)
            else:
                self._member(data)
        except PackageError as exc:
            self._stop(str(exc))

    def verdict(self, upload: BinaryIO) -> PackageSummary:
        """The package's summary, or the :class:`PackageError` it breaks, at the last byte.

        ``upload`` is the stored upload (seekable), the one every fed byte was written to.
        """
        summary = self.streamed_summary(upload)
        if summary is not None:
            return summary
        return validate_package(upload, self.file_name, self.rules, self.max_inflated)

    def streamed_summary(self, upload: BinaryIO) -> PackageSummary | None:
        """The summary if the stream alone decides it (reading only the zip's directory from
        ``upload``), else None: then ``validate_package`` on ``upload`` decides."""
        try:
            summary = self._decide(upload)
        finally:
            self.close()
        self.streamed = summary is not None
        return summary

    # -- the stream ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the line checker (a thread, say); idempotent."""
        close = getattr(self._checker, "close", None)
        if close is not None:
            close()

    def _stop(self, reason: str) -> None:
        self.fallback_reason = reason
        self._phase = _Phase.OFF
        self._pending = bytearray()
        self._inflater = None
        self.close()

    def _header(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) < _LOCAL_HEADER.size:
            return
        (
            signature,
            _version,
            flags,
            method,
            _time,
            _date,
            crc,
            compressed,
            inflated,
            name_length,
            extra_length,
        ) = _LOCAL_HEADER.unpack_from(self._pending)
        if signature != LOCAL_SIGNATURE:
            raise PackageError("the upload does not start with a local file header")
        if flags & _ENCRYPTED:
            raise PackageError("the entry is encrypted")
        if flags & _DATA_DESCRIPTOR:
            raise PackageError("the entry's sizes follow its data (a data descriptor)")
        if method not in (_STORED, _DEFLATED):
            raise PackageError(f"compression method {method}")
        if _ZIP64_SIZE in (compressed, inflated):
            raise PackageError("zip64 sizes")
        if inflated > self.max_inflated:
            raise PackageError("the entry's declared size passes the inflate limit")
        start = _LOCAL_HEADER.size + name_length + extra_length
        if len(self._pending) < start:
            return
        self._raw_name = bytes(self._pending[_LOCAL_HEADER.size : _LOCAL_HEADER.size + name_length])
        self._name = header_name(self._raw_name, flags)
        self._data_at = start
        self._method = method
        self._crc_declared = crc
        self._compressed = self._remaining = compressed
        self._inflated_declared = inflated
        self._inflater = _zlib.decompressobj(-15) if method == _DEFLATED else None
        self._checker = self._make_checker(_suffix(self._name) == ".csv")
        rest = bytes(self._pending[start:])
        self._pending = bytearray()
        self._phase = _Phase.MEMBER
        self._member(rest)

    def _member(self, raw: bytes) -> None:
        """Inflate and check the member's data, exactly as ``_member_chunks`` reads it."""
        if len(raw) > self._remaining:
            raw = raw[: self._remaining]  # what follows the member is only stored
        self._remaining -= len(raw)
        inflater = self._inflater
        if inflater is None:
            self._take(raw)
        else:
            while raw:
                try:
                    out = inflater.decompress(raw, CHUNK_BYTES)  # type: ignore[attr-defined]
                except _INFLATE_ERRORS as exc:
                    raise PackageError(f"the member does not inflate ({exc})") from None
                raw = inflater.unconsumed_tail  # type: ignore[attr-defined]
                if not out:
                    break
                self._take(out)
        if self._remaining == 0 or (inflater is not None and inflater.eof):  # type: ignore[attr-defined]
            self._phase = _Phase.AFTER

    def _take(self, out: bytes) -> None:
        self._inflated += len(out)
        if self._inflated > self.max_inflated:
            raise PackageError("the accounts file inflates past the limit")
        if self._phase is _Phase.MEMBER:
            if self._inflated > self._inflated_declared:
                raise PackageError("the member inflates past its declared size")
            self._crc = _zlib.crc32(out, self._crc)
        assert self._checker is not None
        self._checker.feed(out)

    # -- the verdict --------------------------------------------------------------------------

    def _decide(self, upload: BinaryIO) -> PackageSummary | None:
        checker = self._checker
        if self._phase is _Phase.TEXT:
            assert checker is not None
            if self._inflated == 0:
                return None
            try:
                count = checker.finish()
            except PackageError:
                return None
            return PackageSummary(self._kind, self.file_name, checker.content_bytes, count)
        if self._phase is not _Phase.AFTER:
            if self._phase is not _Phase.OFF:
                self.fallback_reason = "the upload ended inside the member"
            return None
        inflater = self._inflater
        complete = (
            (inflater is None or inflater.eof)  # type: ignore[attr-defined]
            and self._inflated == self._inflated_declared
            and self._crc == self._crc_declared
        )
        if not complete:
            self.fallback_reason = "the member's size or CRC is not what its header declares"
            return None
        assert checker is not None
        try:
            count = checker.finish()
            info, end = checked_member(upload, self.rules, self.max_inflated)
            data_at = data_offset(upload, info, end)
        except Exception as exc:  # refused by the directory: the fallback names the rule
            self.fallback_reason = str(exc)
            return None
        streamed = (0, self._data_at, self._raw_name, self._name, self._method)
        described = (info.header_offset, data_at, info.raw_name, info.filename, info.compress_type)
        sizes = (self._compressed, self._inflated_declared, self._crc_declared)
        if described != streamed or (info.compress_size, info.file_size, info.CRC) != sizes:
            self.fallback_reason = "the central directory does not describe the streamed member"
            return None
        return PackageSummary("zip", info.filename, checker.content_bytes, count)
