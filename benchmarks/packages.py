"""Builds the benchmark's packages: zips of random, valid accounts, fast and in bounded memory.

Lines are laid out with extended-slice assignment on a ``bytearray`` (one C-speed copy per
column instead of one Python call per line), so millions of accounts take seconds. The zips are
written with the standard library at ``zip``'s default level (6), as a user's tool would.
"""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable
from pathlib import Path

BATCH_LINES = 500_000
LIMIT_BYTES = 100 * 1024 * 1024
_DIGITS = bytes(0x30 + b % 10 for b in range(256))


def token_lines(rng: random.Random, count: int) -> bytes:
    """``count`` lines of 32 lower-case hex digits (a device token's shape)."""
    hexed = rng.randbytes(16 * count).hex().encode()
    out = bytearray(33 * count)
    for column in range(32):
        out[column::33] = hexed[column::32]
    out[32::33] = b"\n" * count
    return bytes(out)


def phone_lines(rng: random.Random, count: int) -> bytes:
    """``count`` lines of 11-digit mobile numbers (``1`` then ten digits)."""
    digits = rng.randbytes(10 * count).translate(_DIGITS)
    out = bytearray(12 * count)
    out[0::12] = b"1" * count
    for column in range(10):
        out[column + 1 :: 12] = digits[column::10]
    out[11::12] = b"\n" * count
    return bytes(out)


KINDS: dict[str, Callable[[random.Random, int], bytes]] = {
    "token": token_lines,
    "phone": phone_lines,
}


def write_package(path: Path, kind: str, count: int, seed: int = 5) -> int:
    """Write a zip holding ``accounts.txt`` with ``count`` accounts; returns the zip's size."""
    rng = random.Random(seed)
    make = KINDS[kind]
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive,
        archive.open("accounts.txt", "w", force_zip64=False) as member,
    ):
        done = 0
        while done < count:
            batch = min(BATCH_LINES, count - done)
            member.write(make(rng, batch))
            done += batch
    return path.stat().st_size


def largest_package(path: Path, kind: str, limit: int = LIMIT_BYTES) -> int:
    """Write the package with the most accounts whose zip is at most ``limit`` bytes.

    The count is estimated from a sample's compression ratio, then corrected once or twice
    (random data compresses evenly, so the first guess lands within a fraction of a percent).
    Returns the account count.
    """
    sample_count = 200_000
    sample = path.with_suffix(".sample.zip")
    per_line = write_package(sample, kind, sample_count) / sample_count
    sample.unlink()
    count = int(limit / per_line * 0.998)
    for _ in range(4):
        size = write_package(path, kind, count)
        if size <= limit and limit - size < limit * 0.002:
            return count
        count = int(count * limit / size * (0.999 if size > limit else 0.9995))
    if write_package(path, kind, count) > limit:  # pragma: no cover - ratio is stable
        raise RuntimeError("could not fit the package under the limit")
    return count
