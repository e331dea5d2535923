"""``upload_package`` streams a generator of accounts: memory does not grow with their number.

Measured in this process with tracemalloc while 2,000,000 generated accounts are zipped, signed
and sent to a real ``tpns-mock`` process (whose memory is not ours to count)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import httpx
import pytest
from conftest import LiveServer
from tpns_client import TPNSClient

pytestmark = pytest.mark.slow  # streams millions of accounts

COUNT = 2_000_000


def accounts(count: int) -> Iterator[str]:
    return (f"user-{n:010d}" for n in range(count))  # 15 characters, 16 bytes a line


def peak_while_uploading(server: LiveServer, count: int, auth: str) -> tuple[int, int]:
    with TPNSClient("1500000001", "tpns-mock-secret-key", base_url=server.url, auth=auth) as tpns:
        tracemalloc.start()
        try:
            result = tpns.upload_package(accounts(count))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return result.upload_id, peak


def test_two_million_accounts_stream_with_flat_memory(live_server: LiveServer) -> None:
    upload_id, peak = peak_while_uploading(live_server, COUNT, "sign")
    package_bytes = COUNT * 16
    meta = httpx.get(f"{live_server.url}/_mock/uploads/{upload_id}").json()
    assert meta["accountCount"] == COUNT
    assert meta["contentBytes"] == package_bytes
    # the accounts are 32 MB and the zip several MB; the client never holds more than ~2 MiB
    print(f"\npeak {peak:,} bytes; zip {meta['uploadBytes']:,} bytes")
    assert peak < 4 * 1024 * 1024, f"peak {peak:,} bytes for {package_bytes:,} bytes of accounts"
    assert peak < meta["uploadBytes"] / 2

    # and the peak does not grow with the count: a hundred times fewer accounts, same ballpark
    _, small_peak = peak_while_uploading(live_server, COUNT // 100, "basic")
    print(f"peak for {COUNT // 100:,} accounts: {small_peak:,} bytes")
    assert peak < small_peak * 2 + 512 * 1024, (peak, small_peak)
