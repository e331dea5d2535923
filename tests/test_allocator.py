"""The server's allocator tuning: megabyte buffers allocated and freed per chunk of an upload
reuse their pages instead of faulting them in again each time (the cost measured in
docs/benchmarks.md). Run in fresh interpreters, since the allocator's state is per process."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# the pattern of one chunk of a large upload: the carried line plus the chunk, its mapped copy
CHUNK_LOOP = """
import resource, sys
if sys.argv[1] == "tuned":
    from tpns_mock import allocator
    assert allocator.tune()
table = bytes(range(256))
chunk = b"0123456789abcdef\\n" * 60000
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
carry = b""
for _ in range(200):
    data = carry + chunk[: len(chunk) - 7]
    mapped = data.translate(table)
    carry = chunk[-7:]
    del data, mapped
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc"
)


def page_faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", CHUNK_LOOP, mode], check=True, capture_output=True, text=True
    )
    return int(out.stdout)


@glibc
def test_megabyte_buffers_reuse_their_pages_once_tuned() -> None:
    untuned, tuned = page_faults("default"), page_faults("tuned")
    # 200 chunks of about 1 MiB, two buffers each: tens of thousands of faults untuned
    assert untuned > 20_000, untuned
    assert tuned < untuned / 20, (tuned, untuned)
