"""The number-package rules: bytes of an upload in, a count of accounts or a precise error out.

Pure Python with no web framework in sight, so the server and the client's local pre-check share
one implementation. Everything streams: the archive is inflated in chunks and lines are checked
chunk by chunk with a handful of C-speed passes (``translate``, substring search), so memory stays
flat whatever the package size and the per-line Python work only happens on the first bad line.
"""

from __future__ import annotations

import enum
import functools
import re
import stat
import struct
import types
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from tpns_client.protocol.codes import UPLOAD_EMPTY_FILE, UPLOAD_FILE_ERROR, Refusal

_zlib: types.ModuleType
_INFLATE_ERRORS: tuple[type[Exception], ...]
try:  # isal inflates about three times faster than zlib; zlib is the fallback
    from isal import isal_zlib

    _zlib = isal_zlib
    INFLATER = "isal"
    # isal's stubs declare its error an instance, though it is a class
    _INFLATE_ERRORS = (isal_zlib.IsalError, zlib.error)  # type: ignore[assignment]
except ImportError:  # pragma: no cover - depends on the platform having a wheel
    _zlib = zlib
    INFLATER = "zlib"
    _INFLATE_ERRORS = (zlib.error,)

MIN_ACCOUNT_CHARS = 2
MAX_ACCOUNT_CHARS = 100
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_INFLATED_BYTES = 1024 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024  # inflated bytes handed to the line checker at a time
READ_BYTES = 1024 * 1024  # compressed bytes read from the upload at a time
# a zip's local file header: signature, versions, flags, method, time, date, crc, sizes, lengths
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
UTF8_BOM = b"\xef\xbb\xbf"
CLEAN_ZIP_HINT = (
    "make a clean zip with `zip -j -X accounts.zip accounts.txt` "
    "(Finder's Compress adds hidden __MACOSX/ and .DS_Store entries)"
)


class Rules(str, enum.Enum):
    """Which of Tencent's documents the upload rules follow."""

    SEED = "seed"  # the 2020 upload document: a .zip holding one .txt
    CURRENT = "current"  # the 2025 document: also .txt and .csv, file name 1-100 characters


class PackageError(Refusal):
    """A package broke a rule; the message names the rule (and the line, for accounts)."""

    def __init__(self, message: str, code: int = UPLOAD_FILE_ERROR) -> None:
        super().__init__(code, message)


@dataclass(frozen=True)
class PackageSummary:
    kind: str  # "zip", "txt" or "csv": what was uploaded
    member: str  # the name of the txt/csv inside the zip, or the upload's own name
    content_bytes: int  # size of the accounts file once inflated
    account_count: int


def _suffix(name: str) -> str:
    return PurePosixPath(name.lower()).suffix


def check_file_name(file_name: str, rules: Rules) -> str:
    """Return the upload's kind ("zip", "txt", "csv") or refuse its name."""
    kind = _suffix(file_name).lstrip(".")
    if rules is Rules.SEED:
        if kind != "zip":
            raise PackageError(f"file name {file_name!r} must end in .zip")
        return kind
    if not 1 <= len(file_name) <= 100:
        raise PackageError(f"file name must be 1 to 100 characters, not {len(file_name)}")
    if kind not in ("zip", "txt", "csv"):
        raise PackageError(f"file name {file_name!r} must end in .zip, .txt or .csv")
    return kind


# -- line checking ---------------------------------------------------------------------------
# Every line is mapped to one byte per character: continuation bytes of UTF-8 (0x80-0xBF) are
# deleted, control characters become 0x00, a comma becomes 0x01 in a csv (where it is an
# error), all else becomes "a". Then "a line is 2 to 100 characters" is one regular expression
# (which scans for line ends at memchr speed) and one substring search.
_CONTINUATION = bytes(range(0x80, 0xC0))
_CONTROL = set(range(0x20)) - {0x0A} | {0x7F}
# Unicode's control characters (category Cc): C0, DEL and C1; C1 is two bytes in UTF-8
_CONTROL_CHARS = _CONTROL | set(range(0x80, 0xA0))
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")


def _table(csv: bool) -> bytes:
    return bytes(
        0x0A if b == 0x0A else 0x00 if b in _CONTROL else 0x01 if b == 0x2C and csv else 0x61
        for b in range(256)
    )


_TABLES = {False: _table(csv=False), True: _table(csv=True)}
_TOO_LONG = b"a" * (MAX_ACCOUNT_CHARS + 1)
# a line of 0 or 1 characters between two line ends (the first line is checked apart)
_TOO_SHORT = re.compile(rb"\n[^\n]?\n")
# the longest a line can be in bytes and still hold at most 100 characters (plus a CR)
_MAX_LINE_BYTES = 4 * MAX_ACCOUNT_CHARS + 1


def _line_problem(line: bytes, csv: bool) -> str | None:
    """What is wrong with one account line (without its line end), or None."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"is not valid UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1}); "
            "save the file as UTF-8"
        )
    for ch in text:
        if ch == "\r":
            return (
                "contains a carriage return not followed by a line feed (an old Mac line end); "
                "end lines with LF or CRLF"
            )
        if ord(ch) in _CONTROL_CHARS:
            return (
                f"contains the control character U+{ord(ch):04X}; "
                "an account is printable text, one per line"
            )
    if csv and "," in text:
        return "has more than one column; a csv package holds exactly one column"
    if not MIN_ACCOUNT_CHARS <= len(text) <= MAX_ACCOUNT_CHARS:
        if not text:
            return (
                f"is blank (0 characters); each account must be {MIN_ACCOUNT_CHARS} to "
                f"{MAX_ACCOUNT_CHARS} characters: remove empty lines, including a trailing one"
            )
        unit = "character" if len(text) == 1 else "characters"
        return (
            f"is {len(text):,} {unit} long; each account must be {MIN_ACCOUNT_CHARS} to "
            f"{MAX_ACCOUNT_CHARS} characters"
        )
    return None


class AccountChecker:
    """Checks a txt/csv stream fed in arbitrary chunks; ``finish()`` returns the account count.

    Keeps only the unfinished last line between chunks, and refuses a line as soon as it is
    too long to ever be valid, so a gigabyte without a newline costs no memory.
    """

    def __init__(self, csv: bool = False) -> None:
        self.csv = csv
        self.lines_done = 0
        self.content_bytes = 0
        self._carry = b""
        self._started = False
        self._bom = False  # a leading BOM was dropped

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.content_bytes += len(chunk)
        if not self._started:
            data = self._carry + chunk
            if len(data) < len(UTF8_BOM) and UTF8_BOM.startswith(data):
                self._carry = data
                return
            self._started = True
            self._bom = data.startswith(UTF8_BOM)
            chunk = data[3:] if self._bom else data
            self._carry = b""
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self._carry += chunk
        else:
            self._check_lines(self._carry + chunk[: cut + 1])
            self._carry = chunk[cut + 1 :]
        if len(self._carry) > _MAX_LINE_BYTES:
            raise PackageError(
                f"line {self.lines_done + 1}: account is more than {MAX_ACCOUNT_CHARS} "
                f"characters long (no line end within {_MAX_LINE_BYTES} bytes); each account "
                f"must be {MIN_ACCOUNT_CHARS} to {MAX_ACCOUNT_CHARS} characters"
            )

    def finish(self) -> int:
        """Check the last line (a final newline is optional) and return the account count."""
        carry = self._carry if self._started else self._carry.removeprefix(UTF8_BOM)
        self._carry = b""
        if self.content_bytes == 0:
            raise PackageError("the accounts file is empty", code=UPLOAD_EMPTY_FILE)
        if self._bom and self.content_bytes == len(UTF8_BOM):
            raise PackageError(
                "the accounts file holds only a UTF-8 byte order mark, no accounts",
                code=UPLOAD_EMPTY_FILE,
            )
        if carry:
            self._check_lines(carry + b"\n")
        return self.lines_done

    def _check_lines(self, block: bytes) -> None:
        """Check a run of complete lines, each ending in LF (CRLF accepted)."""
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        ascii_only = block.isascii()
        table = _TABLES[self.csv]
        mapped = block.translate(table) if ascii_only else block.translate(table, _CONTINUATION)
        lines = _uniform_lines(mapped)
        if lines is not None:  # every line the same 2-100 characters, none of them control
            if not ascii_only and (not _is_utf8(block) or _C1_UTF8.search(block) is not None):
                self._find_first_problem(block)
            self.lines_done += lines
            return
        suspicious = (
            mapped[:1] == b"\n"
            or mapped[1:2] == b"\n"
            or b"\x00" in mapped
            or (self.csv and b"\x01" in mapped)
            or _TOO_LONG in mapped
            or _TOO_SHORT.search(mapped) is not None
            or (not ascii_only and not _is_utf8(block))
            or (not ascii_only and _C1_UTF8.search(block) is not None)
        )
        if suspicious:
            self._find_first_problem(block)
        self.lines_done += mapped.count(b"\n")

    def _find_first_problem(self, block: bytes) -> None:
        for offset, line in enumerate(block.split(b"\n")[:-1], start=1):
            problem = _line_problem(line, self.csv)
            if problem:
                raise PackageError(f"line {self.lines_done + offset}: account {problem}")


# Packages are mostly lines of one width (phone numbers, device tokens, ids of a fixed format):
# a block of those, once mapped, is exactly ("a" * width + "\n") repeated, which one memcmp
# against a prepared copy confirms, instead of the three searches the general case needs.
_UNIFORM_BYTES = 256 * 1024  # the prepared copy; a longer block is compared piece by piece


@functools.lru_cache(maxsize=4)
def _uniform_block(width: int) -> bytes:
    line = b"a" * width + b"\n"
    return line * (_UNIFORM_BYTES // len(line))


def _uniform_lines(mapped: bytes) -> int | None:
    """How many lines ``mapped`` holds if they are all one valid width, else None."""
    width = mapped.find(b"\n")
    if not MIN_ACCOUNT_CHARS <= width <= MAX_ACCOUNT_CHARS:
        return None
    lines, rest = divmod(len(mapped), width + 1)
    if rest:
        return None
    block = _uniform_block(width)  # a whole number of lines, so every piece starts a line
    view = memoryview(mapped)
    for start in range(0, len(mapped), len(block)):
        if not block.startswith(view[start : start + len(block)]):
            return None
    return lines


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_accounts(accounts: Iterable[str], start: int = 1) -> Iterator[bytes]:
    """Check accounts given one by one and yield each as a UTF-8 line, for building packages.

    A refusal names the account by its position (counted from ``start``) and its value.
    """
    for number, account in enumerate(accounts, start=start):
        line = account.encode("utf-8", errors="surrogateescape")
        problem = (
            "contains a line break; give one account per item"
            if "\n" in account or "\r" in account
            else _line_problem(line, csv=False)
        )
        if problem:
            shown = account if len(account) <= 40 else account[:37] + "..."
            raise PackageError(f"account {number} ({shown!r}): {problem}")
        yield line + b"\n"


def account_blocks(accounts: Iterable[str], batch: int = 8192) -> Iterator[bytes]:
    """Like :func:`check_accounts`, but yields blocks of up to ``batch`` lines.

    Millions of accounts are checked with the same C-speed passes as an uploaded txt; only a
    block that fails them is re-checked one account at a time, to name the offending account.
    """
    checker = AccountChecker()
    done = 0
    group: list[str] = []
    for account in accounts:
        group.append(account)
        if len(group) >= batch:
            yield _account_block(checker, group, done)
            done += len(group)
            group = []
    if group:
        yield _account_block(checker, group, done)


def _account_block(checker: AccountChecker, group: list[str], done: int) -> bytes:
    text = "\n".join(group) + "\n"
    block = text.encode("utf-8", errors="surrogateescape")
    try:
        if text.count("\n") != len(group) or "\r" in text:
            raise PackageError("")
        checker._check_lines(block)
    except PackageError:
        for _ in check_accounts(group, start=done + 1):
            pass
        raise
    return block


# -- archives ------------------------------------------------------------------------------------
# A zip is read from its end: the end record says how many entries the central directory holds,
# where it starts and how long it is. Everything it declares is checked against the file before
# anything is read per entry, so a directory declaring millions of entries is refused from 22
# bytes. The functions below are pure (bytes in, a record or a PackageError out), so a reader
# that sees the upload as a stream can run the same checks.

_END = struct.Struct("<4sHHHHIIH")  # end of central directory record
_END64_LOCATOR = struct.Struct("<4sIQI")  # zip64 end of central directory locator
_END64 = struct.Struct("<4sQHHIIQQQQ")  # zip64 end of central directory record
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # central directory file header
_END_SIGNATURE = b"PK\x05\x06"
# the end record, its longest comment, and the zip64 locator and record before it
TAIL_BYTES = _END.size + 0xFFFF + _END64_LOCATOR.size + _END64.size
MAX_ENTRY_BYTES = (
    _CENTRAL.size + 3 * 0xFFFF
)  # a directory entry with the longest name/extra/comment
NAMED_ENTRIES = 5  # entries read (and named in the error) when a zip declares more than one


@dataclass(frozen=True)
class EndRecord:
    """What a zip's end records declare, checked against the file's size."""

    entries: int
    directory_offset: int  # where the central directory starts in the file
    directory_size: int
    shift: int  # bytes before the zip proper (a self-extractor's stub); offsets are moved by it


@dataclass(frozen=True)
class ZipEntry:
    """One central directory entry (named like ``zipfile.ZipInfo``'s attributes)."""

    filename: str
    raw_name: bytes
    flag_bits: int
    compress_type: int
    CRC: int
    compress_size: int
    file_size: int
    header_offset: int  # of its local header in the file (the end record's shift applied)
    create_system: int
    external_attr: int

    @property
    def orig_filename(self) -> str:
        return self.filename

    def is_dir(self) -> bool:
        return self.filename.endswith("/")


def _damaged(what: str) -> PackageError:
    return PackageError(f"the zip is damaged: {what}; {CLEAN_ZIP_HINT}")


def parse_end_record(tail: bytes, file_size: int) -> EndRecord:
    """Read the end record (and the zip64 one, if any) from the last bytes of a zip.

    ``tail`` is the file's last ``min(file_size, TAIL_BYTES)`` bytes. Every count, size and
    offset declared is checked against the file before it is used.
    """
    tail_start = file_size - len(tail)
    at = tail.rfind(_END_SIGNATURE)
    if at < 0 or len(tail) - at < _END.size:
        raise PackageError(
            "the upload is not a valid zip: no end-of-archive record (truncated, or not a "
            f"zip at all); {CLEAN_ZIP_HINT}"
        )
    _, disk, directory_disk, disk_entries, entries, size, offset, comment = _END.unpack_from(
        tail, at
    )
    end_at = tail_start + at
    if end_at + _END.size + comment > file_size:
        raise _damaged(
            f"its end record declares a {comment:,}-byte comment, past the end of the file "
            "(truncated?)"
        )
    directory_end = end_at
    locator_at = at - _END64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        record_at = locator_at - _END64.size
        if record_at < 0 or tail[record_at : record_at + 4] != b"PK\x06\x06":
            raise _damaged("it has a zip64 locator but no zip64 end record before it")
        (_, record_size, _, _, disk, directory_disk, disk_entries, entries, size, offset) = (
            _END64.unpack_from(tail, record_at)
        )
        if record_size < _END64.size - 12:
            raise _damaged(f"its zip64 end record declares {record_size} bytes, too few")
        directory_end = tail_start + record_at
    if disk != 0 or directory_disk != 0:
        raise PackageError(
            "the zip is split across several files (a spanned archive); upload a single zip"
        )
    if disk_entries != entries:
        raise _damaged(
            f"its end record declares {disk_entries:,} entries on this disk but {entries:,} in all"
        )
    if entries * _CENTRAL.size > size:
        raise _damaged(
            f"its end record declares {entries:,} entries in a central directory of {size:,} "
            "bytes, too small to hold them"
        )
    shift = directory_end - size - offset
    if size > directory_end:
        raise _damaged(
            f"its central directory of {size:,} bytes is longer than the {directory_end:,} "
            "bytes before its end record"
        )
    if shift < 0:
        raise _damaged(
            f"its central directory is declared at byte {offset:,}, but must end at byte "
            f"{directory_end:,} where the end record is: {-shift:,} bytes are missing from the "
            "start of the file, or the offset is wrong"
        )
    return EndRecord(entries, directory_end - size, size, shift)


def _zip64_values(extra: bytes, wanted: list[str], name: str) -> dict[str, int]:
    """The zip64 extra field's 8-byte values for the fields whose 32-bit value was 0xFFFFFFFF."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4 : at + 4 + length]
        if len(body) < length:
            break
        if kind == 0x0001:
            if len(body) < 8 * len(wanted):
                raise _damaged(f"entry {name!r} has a zip64 extra field too short for its sizes")
            return {w: struct.unpack_from("<Q", body, 8 * i)[0] for i, w in enumerate(wanted)}
        at += 4 + length
    raise _damaged(f"entry {name!r} declares zip64 sizes but has no zip64 extra field")


def parse_directory_entry(data: bytes, at: int, end: EndRecord) -> tuple[ZipEntry, int]:
    """The central directory entry at ``data[at:]`` and where the next starts.

    ``data`` is (a prefix of) the central directory; the entry must lie wholly within it, and
    the offset it declares must fall before the directory.
    """
    if len(data) - at < _CENTRAL.size:
        raise _damaged("its central directory ends inside an entry")
    fields = _CENTRAL.unpack_from(data, at)
    signature, made_by = fields[0], fields[1]
    flags, method, crc, compress_size, file_size = (
        fields[3],
        fields[4],
        fields[7],
        fields[8],
        fields[9],
    )
    name_length, extra_length, comment_length = fields[10], fields[11], fields[12]
    external_attr, header_offset = fields[15], fields[16]
    if signature != b"PK\x01\x02":
        raise _damaged(f"no central directory entry where its end record points (byte {at:,})")
    name_at = at + _CENTRAL.size
    after = name_at + name_length + extra_length + comment_length
    if after > len(data):
        raise _damaged("a central directory entry runs past the end of the directory")
    raw_name = bytes(data[name_at : name_at + name_length])
    name = header_name(raw_name, flags)
    if "\0" in name:
        raise PackageError(f"entry {name!r} has a NUL byte in its name")
    wanted = [
        w
        for w, v in (("file", file_size), ("compressed", compress_size), ("offset", header_offset))
        if v == 0xFFFFFFFF
    ]
    if wanted:
        extra = data[name_at + name_length : name_at + name_length + extra_length]
        values = _zip64_values(bytes(extra), wanted, name)
        file_size = values.get("file", file_size)
        compress_size = values.get("compressed", compress_size)
        header_offset = values.get("offset", header_offset)
    entry = ZipEntry(
        filename=name,
        raw_name=raw_name,
        flag_bits=flags,
        compress_type=method,
        CRC=crc,
        compress_size=compress_size,
        file_size=file_size,
        header_offset=header_offset + end.shift,
        create_system=made_by >> 8,
        external_attr=external_attr,
    )
    if entry.header_offset + _LOCAL_HEADER.size + compress_size > end.directory_offset:
        raise _damaged(
            f"entry {name!r} declares {compress_size:,} bytes at byte {header_offset:,}, "
            f"past the start of the central directory at byte {end.directory_offset:,}"
        )
    return entry, after


def parse_local_header(header: bytes, entry: ZipEntry, end: EndRecord) -> int:
    """Check the local header (``_LOCAL_HEADER.size`` bytes plus the name) at the entry's offset
    and return where its data starts.

    The same checks ``ZipFile.open`` makes: the signature, and the name agreeing with the central
    directory's (a zip whose two names differ is a known way to fool scanners); and the data
    must end before the central directory starts.
    """
    if len(header) < _LOCAL_HEADER.size:
        raise PackageError("the zip is truncated (its local file header is cut off)")
    signature, *_, name_length, extra_length = _LOCAL_HEADER.unpack_from(header)
    if signature != b"PK\x03\x04":
        raise PackageError("the upload is not a valid zip (bad local file header)")
    raw_name = header[_LOCAL_HEADER.size : _LOCAL_HEADER.size + name_length]
    if raw_name != entry.raw_name:
        shown = raw_name.decode("utf-8", errors="replace")
        raise PackageError(
            f"the zip is corrupt (file name in directory {entry.filename!r} "
            f"and header {shown!r} differ)"
        )
    data_at = entry.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    if data_at + entry.compress_size > end.directory_offset:
        raise _damaged(
            f"entry {entry.filename!r} ({entry.compress_size:,} bytes from byte {data_at:,}) "
            f"runs into the central directory at byte {end.directory_offset:,}"
        )
    return int(data_at)


def read_entries(upload: BinaryIO, end: EndRecord) -> list[ZipEntry]:
    """The first ``min(end.entries, NAMED_ENTRIES)`` directory entries; memory is bounded by
    that count, whatever the directory declares."""
    wanted = min(end.entries, NAMED_ENTRIES)
    upload.seek(end.directory_offset)
    data = upload.read(min(end.directory_size, wanted * MAX_ENTRY_BYTES))
    entries: list[ZipEntry] = []
    at = 0
    for _ in range(wanted):
        entry, at = parse_directory_entry(data, at, end)
        entries.append(entry)
    if end.entries == 1 and at != end.directory_size:
        raise _damaged(
            f"its central directory holds {end.directory_size - at:,} more bytes than the one "
            "entry its end record declares"
        )
    return entries


def _entry_problem(info: ZipEntry) -> str | None:
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        return f"entry {name!r} has an unsafe path; the zip must hold one .txt at its root"
    if parts and (parts[0] == "__MACOSX" or parts[-1] == ".DS_Store"):
        return f"entry {name!r} is macOS metadata; {CLEAN_ZIP_HINT}"
    if info.is_dir() or len(parts) > 1:
        where = "is a folder" if info.is_dir() else "is in a folder"
        return f"entry {name!r} {where}; nested folders are not allowed, {CLEAN_ZIP_HINT}"
    if info.flag_bits & 0x1:
        return f"entry {name!r} is encrypted; upload an unencrypted zip"
    mode = info.external_attr >> 16
    # many writers set only permission bits; a file type other than regular is refused
    if info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        return f"entry {name!r} is {kind}; the zip must hold one regular .txt file"
    return None


def check_entries(
    entries: list[ZipEntry], declared: int, rules: Rules, max_inflated: int
) -> ZipEntry:
    """The one entry a package may hold, or a refusal naming what is wrong with the entries.

    ``entries`` are the first few of the ``declared`` ones (see :func:`read_entries`).
    """
    for info in entries:
        problem = _entry_problem(info)
        if problem:
            raise PackageError(problem)
    if declared == 0:
        raise PackageError("the zip holds no file; it must hold exactly one .txt")
    if declared > 1:
        names = ", ".join(repr(i.filename) for i in entries[:NAMED_ENTRIES])
        more = ", ..." if declared > len(entries) else ""
        raise PackageError(
            f"the zip holds {declared:,} files ({names}{more}); it must hold exactly one"
        )
    info = entries[0]
    allowed = (".txt",) if rules is Rules.SEED else (".txt", ".csv")
    if _suffix(info.filename) not in allowed:
        raise PackageError(
            f"the zip holds {info.filename!r}; it must hold a {' or '.join(allowed)} file"
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise PackageError(
            f"entry {info.filename!r} uses compression method {info.compress_type}; "
            "use deflate or store"
        )
    if info.file_size > max_inflated:
        raise PackageError(
            f"entry {info.filename!r} inflates to {info.file_size:,} bytes, past the "
            f"{max_inflated:,}-byte limit (a zip bomb?; the limit is --max-inflated-bytes)"
        )
    return info


def _read_chunks(stream: BinaryIO, limit: int, what: str) -> Iterator[bytes]:
    total = 0
    while chunk := stream.read(CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise PackageError(
                f"{what} inflates past the {limit:,}-byte limit "
                "(a zip bomb?; the limit is --max-inflated-bytes)"
            )
        yield chunk


def header_name(raw_name: bytes, flags: int) -> str:
    """A header's file name, decoded as the central directory's is (UTF-8 when flagged)."""
    return raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")


def _data_offset(upload: BinaryIO, info: ZipEntry, end: EndRecord) -> int:
    """Where the member's compressed bytes start, after checking its local header."""
    upload.seek(info.header_offset)
    header = upload.read(_LOCAL_HEADER.size + len(info.raw_name))
    return parse_local_header(header, info, end)


def _member_chunks(upload: BinaryIO, info: ZipEntry, end: EndRecord, limit: int) -> Iterator[bytes]:
    """The member's bytes, inflated straight from the archive, with its size and CRC checked.

    Reads the raw deflate stream at the member's data offset rather than through
    ``ZipFile.open``, so the inflater can be isal's when installed (about three times zlib's
    speed) and chunks can be large. Output is bounded per call (``max_length``), so a bomb costs
    one chunk of memory before the limit refuses it.
    """
    what = f"entry {info.filename!r}"
    upload.seek(_data_offset(upload, info, end))
    inflater = _zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    remaining = info.compress_size
    total = 0
    crc = 0
    while remaining > 0 or (inflater is not None and not inflater.eof):
        raw = upload.read(min(READ_BYTES, remaining))
        if not raw:
            raise PackageError(f"the zip is truncated ({what} ends early)")
        remaining -= len(raw)
        while True:
            if inflater is None:
                out, raw = raw, b""
            else:
                try:
                    out = inflater.decompress(raw, CHUNK_BYTES)
                except _INFLATE_ERRORS as exc:
                    raise PackageError(f"the zip is corrupt ({what}: {exc})") from None
                raw = inflater.unconsumed_tail
            if not out:
                break
            total += len(out)
            if total > limit:
                raise PackageError(
                    f"{what} inflates past the {limit:,}-byte limit "
                    "(a zip bomb?; the limit is --max-inflated-bytes)"
                )
            if total > info.file_size:
                raise PackageError(
                    f"the zip is corrupt ({what} inflates past the {info.file_size:,} bytes "
                    "its header declares)"
                )
            crc = _zlib.crc32(out, crc)
            yield out
        if inflater is not None and inflater.eof:
            break
    if total != info.file_size:
        raise PackageError(
            f"the zip is corrupt ({what} inflates to {total:,} bytes, not the "
            f"{info.file_size:,} its header declares)"
        )
    if crc != info.CRC:
        raise PackageError(f"the zip is corrupt (Bad CRC-32 for {what})")


def _content_chunks(
    upload: BinaryIO, file_name: str, rules: Rules, max_inflated: int
) -> Iterator[tuple[str, str, Iterator[bytes]]]:
    """Yield once: (kind, member name, chunks of the accounts file), refusing bad archives."""
    kind = check_file_name(file_name, rules)
    size = upload.seek(0, 2)
    if size == 0:
        raise PackageError("the upload is empty (0 bytes)", code=UPLOAD_EMPTY_FILE)
    upload.seek(0)
    if kind != "zip":
        yield kind, file_name, _read_chunks(upload, max_inflated, repr(file_name))
        return
    info, end = checked_member(upload, rules, max_inflated)
    yield "zip", info.filename, _member_chunks(upload, info, end, max_inflated)


def checked_member(upload: BinaryIO, rules: Rules, max_inflated: int) -> tuple[ZipEntry, EndRecord]:
    """The one member of a non-empty zip, from its central directory, or the rule it breaks;
    with the end record its offsets were checked against.

    Reads only the end records and the first directory entries, so it is cheap whatever the
    size; the member's own bytes are not looked at.
    """
    size = upload.seek(0, 2)
    upload.seek(max(0, size - TAIL_BYTES))
    end = parse_end_record(upload.read(TAIL_BYTES), size)
    return check_entries(read_entries(upload, end), end.entries, rules, max_inflated), end


def data_offset(upload: BinaryIO, info: ZipEntry, end: EndRecord) -> int:
    """Where the member's compressed bytes start, after the checks of its local header."""
    return _data_offset(upload, info, end)


def validate_package(
    upload: BinaryIO,
    file_name: str,
    rules: Rules = Rules.SEED,
    max_inflated: int = DEFAULT_MAX_INFLATED_BYTES,
) -> PackageSummary:
    """Check an uploaded package (a seekable binary file) against the rules."""
    for kind, member, chunks in _content_chunks(upload, file_name, rules, max_inflated):
        checker = AccountChecker(csv=_suffix(member) == ".csv")
        for chunk in chunks:
            checker.feed(chunk)
        count = checker.finish()
        return PackageSummary(kind, member, checker.content_bytes, count)
    raise AssertionError("unreachable")  # pragma: no cover


def iter_account_lines(
    upload: BinaryIO,
    file_name: str,
    rules: Rules = Rules.SEED,
    max_inflated: int = DEFAULT_MAX_INFLATED_BYTES,
) -> Iterator[bytes]:
    """Yield an accepted package's accounts as parsed, in blocks of LF-terminated lines.

    BOM and CR are dropped and a missing final newline is added, so what comes out is exactly
    one account per line.
    """
    for _kind, _member, chunks in _content_chunks(upload, file_name, rules, max_inflated):
        carry = b""
        first = True
        for chunk in chunks:
            data = carry + chunk
            if first and len(data) >= len(UTF8_BOM):
                data = data.removeprefix(UTF8_BOM)
                first = False
            cut = data.rfind(b"\n")
            if first or cut < 0:
                carry = data
                continue
            yield data[: cut + 1].replace(b"\r\n", b"\n")
            carry = data[cut + 1 :]
        if first:
            carry = carry.removeprefix(UTF8_BOM)
        if carry:
            yield carry.replace(b"\r\n", b"\n").removesuffix(b"\r") + b"\n"


TOKEN_CHARS = 36


def first_non_token(
    upload: BinaryIO,
    file_name: str,
    rules: Rules = Rules.SEED,
    max_inflated: int = DEFAULT_MAX_INFLATED_BYTES,
) -> tuple[int, int] | None:
    """``(line, characters)`` of an accepted package's first line that is not a token, or None.

    A token package (for ``package_token_push``) is an ordinary package whose every line is a
    36-character device token; Tencent's upload endpoint does not tell the two kinds apart, so
    the check happens when the package is pushed to.
    """
    line_no = 0
    for block in iter_account_lines(upload, file_name, rules, max_inflated):
        for line in block.split(b"\n")[:-1]:
            line_no += 1
            if len(line) == TOKEN_CHARS and line.isascii():
                continue
            chars = len(line.decode("utf-8"))
            if chars != TOKEN_CHARS:
                return line_no, chars
    return None
