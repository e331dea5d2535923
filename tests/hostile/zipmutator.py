"""Damaged zips made from valid ones: truncations, byte flips at header fields, and lies about
counts, offsets and sizes in the end records and the entries.

Every mutation of a valid package is a case the rules must refuse cleanly (1008011/1008012 with
a message, no other exception) or, where the damage is harmless, accept; never crash. The
fields are found by parsing the valid zip, so the mutations land on real header fields rather
than on random bytes only.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

END = struct.Struct("<4sHHHHIIH")
CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
LOCAL = struct.Struct("<4sHHHHHIIIHH")
END64 = struct.Struct("<4sQHHIIQQQQ")
LOCATOR = struct.Struct("<4sIQI")

# (offset, width) of every field after the signature, per header
END_FIELDS = {
    "disk": (4, 2),
    "directory disk": (6, 2),
    "entries on disk": (8, 2),
    "entries": (10, 2),
    "directory size": (12, 4),
    "directory offset": (16, 4),
    "comment length": (20, 2),
}
CENTRAL_FIELDS = {
    "made by": (4, 2),
    "version needed": (6, 2),
    "flags": (8, 2),
    "method": (10, 2),
    "crc": (16, 4),
    "compressed size": (20, 4),
    "size": (24, 4),
    "name length": (28, 2),
    "extra length": (30, 2),
    "comment length": (32, 2),
    "disk start": (34, 2),
    "external attributes": (38, 4),
    "local header offset": (42, 4),
}
LOCAL_FIELDS = {
    "flags": (6, 2),
    "method": (8, 2),
    "crc": (14, 4),
    "compressed size": (18, 4),
    "size": (22, 4),
    "name length": (26, 2),
    "extra length": (28, 2),
}


@dataclass(frozen=True)
class Layout:
    """Where the headers of a one-entry zip are."""

    local: int
    central: int
    end: int


def layout(data: bytes) -> Layout:
    end = data.rfind(b"PK\x05\x06")
    central = data.rfind(b"PK\x01\x02", 0, end)
    local = data.rfind(b"PK\x03\x04", 0, central)
    assert min(end, central, local) >= 0, "not a one-entry zip"
    return Layout(local, central, end)


@dataclass(frozen=True)
class Mutant:
    name: str
    data: bytes


def _put(data: bytes, at: int, width: int, value: int) -> bytes:
    value &= (1 << (8 * width)) - 1
    return data[:at] + value.to_bytes(width, "little") + data[at + width :]


def _get(data: bytes, at: int, width: int) -> int:
    return int.from_bytes(data[at : at + width], "little")


def _values(current: int, width: int, rng: random.Random) -> list[tuple[str, int]]:
    top = (1 << (8 * width)) - 1
    return [
        ("0", 0),
        ("max", top),
        ("+1", current + 1),
        ("-1", current - 1),
        ("x2", current * 2),
        ("random", rng.randrange(top + 1)),
    ]


def field_lies(data: bytes, rng: random.Random) -> Iterator[Mutant]:
    """Each header field set to 0, its maximum, one more, one less, double and a random value."""
    where = layout(data)
    for header, base, fields in (
        ("end", where.end, END_FIELDS),
        ("central", where.central, CENTRAL_FIELDS),
        ("local", where.local, LOCAL_FIELDS),
    ):
        for field, (offset, width) in fields.items():
            current = _get(data, base + offset, width)
            for label, value in _values(current, width, rng):
                if value & ((1 << (8 * width)) - 1) != current:
                    yield Mutant(
                        f"{header} {field} {label}", _put(data, base + offset, width, value)
                    )


def truncations(data: bytes, rng: random.Random, count: int) -> Iterator[Mutant]:
    """Bytes cut from the start (``tail -c +N``) and from the end, at headers and at random."""
    where = layout(data)
    cuts = {1, 2, 4, 30, where.central, where.end, len(data) - 1, len(data) - 22}
    cuts |= {rng.randrange(1, len(data)) for _ in range(count)}
    for cut in sorted(c for c in cuts if 0 < c < len(data)):
        yield Mutant(f"first {cut} bytes missing", data[cut:])
        yield Mutant(f"cut after {cut} bytes", data[:cut])


def byte_flips(data: bytes, rng: random.Random, count: int) -> Iterator[Mutant]:
    """Single bytes flipped anywhere in the headers (not in the compressed data)."""
    where = layout(data)
    header_bytes = (
        list(range(where.local, where.local + LOCAL.size))
        + list(range(where.central, where.end))
        + list(range(where.end, len(data)))
    )
    for at in rng.sample(header_bytes, min(count, len(header_bytes))):
        bit = 1 << rng.randrange(8)
        yield Mutant(f"bit {bit:#x} flipped at byte {at}", _put(data, at, 1, data[at] ^ bit))


def with_zip64_end(
    data: bytes, *, entries: int | None = None, size: int | None = None, offset: int | None = None
) -> bytes:
    """The zip with a zip64 end record and locator (values as in the plain end record unless
    given), and the plain end record's fields set to 0xFFFF/0xFFFFFFFF as zip64 writers do."""
    where = layout(data)
    _, _, _, _, count, dir_size, dir_offset, _ = END.unpack_from(data, where.end)
    entries = count if entries is None else entries
    size = dir_size if size is None else size
    offset = dir_offset if offset is None else offset
    record_at = where.end
    record = END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset)
    locator = LOCATOR.pack(b"PK\x06\x07", 0, record_at, 1)
    end = END.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[: where.end] + record + locator + end


def zip64_lies(data: bytes) -> Iterator[Mutant]:
    """Zip64 end records declaring huge counts, sizes and offsets."""
    where = layout(data)
    dir_size = where.end - where.central
    yield Mutant("zip64 end record, honest", with_zip64_end(data))
    for label, changes in (
        ("entries 2**40", {"entries": 2**40}),
        ("entries 2,200,000", {"entries": 2_200_000}),
        ("directory size 2**62", {"size": 2**62}),
        ("directory offset 2**62", {"offset": 2**62}),
        ("directory size 0", {"size": 0}),
        ("directory offset past the end", {"offset": len(data) * 4}),
        ("entries 2, honest size", {"entries": 2, "size": dir_size}),
    ):
        yield Mutant(f"zip64 {label}", with_zip64_end(data, **changes))  # type: ignore[arg-type]


def mutants(data: bytes, seed: int, scale: int = 1) -> Iterator[Mutant]:
    """Every kind of damage to ``data`` (a valid one-entry zip), reproducibly for ``seed``;
    ``scale`` multiplies the number of random truncations and flips."""
    rng = random.Random(seed)
    yield from field_lies(data, rng)
    yield from zip64_lies(data)
    yield from truncations(data, rng, 8 * scale)
    yield from byte_flips(data, rng, 24 * scale)


def many_entries(count: int, member: bytes = b"ab\n") -> bytes:
    """A zip whose central directory lists ``count`` entries, all pointing at one 3-byte stored
    member (about 58 bytes per entry): a small upload declaring a huge directory."""
    name = b"a.txt"
    crc = zlib.crc32(member)
    local = LOCAL.pack(
        b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, len(member), len(member), len(name), 0
    )
    central = (
        CENTRAL.pack(
            b"PK\x01\x02",
            0x314,
            20,
            0,
            0,
            0,
            0x21,
            crc,
            len(member),
            len(member),
            len(name),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            0,
        )
        + name
    )
    body = local + name + member
    directory = central * count
    plain = body + directory + END.pack(b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(body), 0)
    return (
        with_zip64_end(plain, entries=count)
        if count > 0xFFFF
        else _put(_put(plain, len(plain) - 22 + 8, 2, count), len(plain) - 22 + 10, 2, count)
    )
