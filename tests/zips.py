"""Builders for real zip files, well-formed and hostile, shared by the server's tests."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib


def make_zip(
    files: dict[str, bytes],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    mode: int | None = None,
) -> bytes:
    """A zip holding ``files`` (name -> bytes), in order; ``mode`` sets unix permission bits."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if mode is not None:
                info.create_system = 3
                info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def accounts_zip(lines: list[str], *, name: str = "accounts.txt", newline: str = "\n") -> bytes:
    return make_zip({name: (newline.join(lines) + newline).encode()})


def symlink_zip() -> bytes:
    return make_zip({"accounts.txt": b"/etc/passwd"}, mode=stat.S_IFLNK | 0o777)


def encrypted_flag_zip() -> bytes:
    """A zip whose entry claims ZipCrypto encryption (flag bit 0)."""
    data = bytearray(make_zip({"accounts.txt": b"alice\nbob\n"}, compression=zipfile.ZIP_STORED))
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        (flags,) = struct.unpack_from("<H", data, at + flag_offset)
        struct.pack_into("<H", data, at + flag_offset, flags | 0x1)
    return bytes(data)


def bad_crc_zip() -> bytes:
    """A stored zip whose content was changed after the CRC was written."""
    data = make_zip({"accounts.txt": b"alice\nbob\n"}, compression=zipfile.ZIP_STORED)
    return data.replace(b"alice\nbob\n", b"alicX\nbob\n", 1)


def bomb_zip(inflated_bytes: int, *, lie_about_size: bool = False) -> bytes:
    """One deflated txt of ``inflated_bytes`` of account lines: a zip bomb when the cap is lower.

    With ``lie_about_size`` the headers claim a 10-byte file, so only counting while inflating
    can catch it.
    """
    line = b"aa\n"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = line * (1024 * 1024 // len(line))
    parts, crc, written = [], 0, 0
    while written < inflated_bytes:
        piece = block[: inflated_bytes - written]
        parts.append(compressor.compress(piece))
        crc = zlib.crc32(piece, crc)
        written += len(piece)
    parts.append(compressor.flush())
    deflated = b"".join(parts)
    size = 10 if lie_about_size else inflated_bytes
    name = b"accounts.txt"
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(deflated), size, len(name), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        20,
        20,
        0,
        8,
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
        0,
        0,
    )
    body = local + name + deflated
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), len(body), 0
    )
    return body + central + name + end
