"""Hostile zips and bodies, built cheaply enough for CI.

A zip of gigabytes is built from one full-flushed deflate segment repeated: after
``Z_FULL_FLUSH`` a deflate stream is byte-aligned and refers to nothing before it, so the same
compressed bytes can follow themselves any number of times (a final empty block closes the
stream). One compression of 1 MiB, then only ``bytes`` multiplication and CRCs.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator

MIB = 1024 * 1024
NAME = b"accounts.txt"


def _segment(block: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)


def _final_block() -> bytes:
    return zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def repeated_deflate(block: bytes, times: int) -> tuple[bytes, int, int]:
    """A raw deflate stream of ``block`` repeated: (stream, CRC-32, inflated size)."""
    crc = 0
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    return _segment(block) * times + _final_block(), crc, len(block) * times


def raw_zip(
    deflated: bytes,
    *,
    crc: int,
    size: int,
    method: int = zipfile.ZIP_DEFLATED,
    name: bytes = NAME,
    flags: int = 0,
    external_attr: int = 0,
    entries: int = 1,
) -> bytes:
    """A zip of one member given as raw bytes; ``entries`` > 1 lists it that many times over
    (overlapping entries: several directory records sharing one local header)."""
    local = struct.pack(
        "<4sHHHHHIIIHH",
        b"PK\x03\x04",
        20,
        flags,
        method,
        0,
        0x21,
        crc,
        len(deflated),
        size,
        len(name),
        0,
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        0x314,  # made by unix, so external_attr holds a mode
        20,
        flags,
        method,
        0,
        0x21,
        crc,
        len(deflated),
        size,
        len(name),
        0,
        0,
        0,
        0,
        external_attr,
        0,
    )
    body = local + name + deflated
    directory = (central + name) * entries
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries, entries, len(directory), len(body), 0
    )
    return body + directory + end


def bomb(inflated_gib: float, *, declared: int | None = None) -> bytes:
    """A zip of ``inflated_gib`` GiB of valid account lines in about 1/1000 of that.

    ``declared`` overrides the size written in the headers (a bomb that lies).
    """
    line_block = b"ab\n" * (MIB // 3)
    times = int(inflated_gib * 1024 * MIB / len(line_block))
    deflated, crc, size = repeated_deflate(line_block, times)
    return raw_zip(deflated, crc=crc, size=size if declared is None else declared)


def one_long_line(gib: float) -> bytes:
    """A zip whose txt is a single line of ``gib`` GiB with no line end."""
    deflated, crc, size = repeated_deflate(b"a" * MIB, int(gib * 1024))
    return raw_zip(deflated, crc=crc, size=size)


def zip64(content: bytes) -> bytes:
    """A valid zip64 zip: zip64 extra fields in both headers, a zip64 end record and locator.

    What ``zip -fz`` and streaming writers produce; a legitimate zip that must be accepted.
    """
    deflated = zlib.compress(content, 6)[2:-4]
    crc = zlib.crc32(content)
    ff = 0xFFFFFFFF
    local_extra = struct.pack("<HHQQ", 0x0001, 16, len(content), len(deflated))
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0, 8, 0, 0x21, crc, ff, ff, len(NAME), len(local_extra)
    )
    central_extra = struct.pack("<HHQQQ", 0x0001, 24, len(content), len(deflated), 0)
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        0x32D,
        45,
        0,
        8,
        0,
        0x21,
        crc,
        ff,
        ff,
        len(NAME),
        len(central_extra),
        0,
        0,
        0,
        0o100644 << 16,
        ff,
    )
    body = local + NAME + local_extra + deflated
    directory = central + NAME + central_extra
    end64_at = len(body) + len(directory)
    end64 = struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 1, 1, len(directory), len(body)
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, end64_at, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, ff, ff, 0)
    return body + directory + end64 + locator + end


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "hostile") -> bytes:
    """A multipart/form-data body of (name, file name or None, data) parts."""
    out = bytearray()
    for name, file_name, data in parts:
        disposition = f'form-data; name="{name}"'
        if file_name is not None:
            disposition += f'; filename="{file_name}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def endless_file_part(total: int, boundary: str = "hostile") -> Iterator[bytes]:
    """A multipart body whose file part is ``total`` bytes of filler, streamed in 1 MiB pieces
    (never held whole: neither the test nor the server may need the memory)."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="accounts.zip"\r\n\r\n'
    ).encode()
    piece = b"\0" * MIB
    sent = 0
    while sent < total:
        chunk = piece[: total - sent]
        sent += len(chunk)
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()
