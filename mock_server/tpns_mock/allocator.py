"""glibc's malloc, tuned for a server whose uploads allocate and free megabyte buffers.

A large upload is inflated in chunks of up to 1 MiB, and each chunk is copied and mapped a few
times by the line checks, so several megabyte-sized buffers are allocated and freed per chunk.
With glibc's defaults such buffers are mapped and unmapped (or the heap's top handed back to
the kernel) one by one, and every chunk faults its pages in again: on a 100 MiB package that
cost more than the line checks themselves (docs/benchmarks.md). Buffers below 4 MiB come from
the heap instead (``M_MMAP_THRESHOLD``), and a 16 MiB pad stays at its top (``M_TOP_PAD``), so
the next chunk reuses the same pages; what is kept is bounded by the pad.

Each thread that allocates also gets an arena of its own; under mixed load a process's memory
then creeps up for minutes without the Python heap growing. Two arenas keep it level (the same
as ``MALLOC_ARENA_MAX=2``, which the supervisor also sets for its workers).

Elsewhere than glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt(3) parameters
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
TOP_PAD_BYTES = 16 * 1024 * 1024
ARENA_MAX = 2


def tune() -> bool:
    """Apply the settings above to this process; True where glibc took them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library symbols to reach, or no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    wanted = (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
        (M_TOP_PAD, TOP_PAD_BYTES),
        (M_ARENA_MAX, ARENA_MAX),
    )
    return all([bool(mallopt(parameter, value)) for parameter, value in wanted])
