"""Generated damage to valid packages (tests/hostile/zipmutator.py), in process and over HTTP.

Whatever a zip declares in its end records and headers, the rules answer with a refusal that
names the damage (1008011, or 1008012 for an empty file) or accept a zip whose damage is
harmless; never another exception, never a 5xx, never memory that grows with what is declared.
The client's local check runs the same code and raises ``PackageRefused``.
"""

from __future__ import annotations

import io
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from builders import raw_zip, zip64
from conftest import AUTH, UPLOAD, HostileRun, LiveServer
from tpns_client._package import prepare_package
from tpns_client.errors import PackageRefused
from tpns_client.protocol.package import PackageError, Rules, iter_account_lines, validate_package
from zipmutator import Mutant, many_entries, mutants
from zips import accounts_zip, make_zip

LINES = [f"user{i:04d}" for i in range(40)]
CONTENT = ("\n".join(LINES) + "\n").encode()
PACKAGE_CODES = {1008011, 1008012}


def bases() -> dict[str, bytes]:
    """Valid packages of each shape a writer makes: deflated, stored, zip64, hand-built."""
    return {
        "deflated": accounts_zip(LINES),
        "stored": make_zip({"accounts.txt": CONTENT}, compression=0),
        "zip64": zip64(CONTENT),
        "raw": raw_zip(CONTENT, crc=zlib.crc32(CONTENT), size=len(CONTENT), method=0),
    }


def all_mutants(run: HostileRun) -> Iterator[tuple[str, Mutant]]:
    for base_name, data in bases().items():
        for mutant in mutants(data, run.seed, run.scale):
            yield base_name, mutant


def outcome(data: bytes) -> int:
    """0 for an accepted package, else the refusal's code; any other exception escapes."""
    try:
        validate_package(io.BytesIO(data), "accounts.zip", Rules.SEED, 64 * 1024 * 1024)
    except PackageError as error:
        assert error.message, "a refusal must say why"
        return error.code
    return 0


def test_every_mutant_is_accepted_or_refused_with_a_package_code(hostile_run: HostileRun) -> None:
    seen: dict[int, int] = {}
    for base_name, mutant in all_mutants(hostile_run):
        try:
            code = outcome(mutant.data)
        except Exception as exc:  # the point of the test: nothing but a refusal escapes
            raise AssertionError(f"{base_name}, {mutant.name}: {exc!r}") from exc
        assert code in {0, *PACKAGE_CODES}, (base_name, mutant.name, code)
        if code == 0:  # accepted: reading it back gives exactly what was validated
            blocks = iter_account_lines(io.BytesIO(mutant.data), "accounts.zip")
            assert b"".join(blocks) == CONTENT, (base_name, mutant.name)
        seen[code] = seen.get(code, 0) + 1
    assert seen.get(1008011, 0) > 100  # the generator really damages packages


def test_client_local_check_raises_package_refused_for_every_refused_mutant(
    hostile_run: HostileRun, tmp_path: Path
) -> None:
    path = tmp_path / "accounts.zip"
    refused = 0
    for base_name, mutant in all_mutants(hostile_run):
        path.write_bytes(mutant.data)
        try:
            with prepare_package(path):
                pass
        except PackageRefused as error:
            assert error.local and error.ret_code in PACKAGE_CODES, (base_name, mutant.name)
            refused += 1
        except Exception as exc:
            raise AssertionError(f"{base_name}, {mutant.name}: {exc!r}") from exc
    assert refused > 100


def test_first_byte_missing_is_refused_naming_the_missing_bytes() -> None:
    """``tail -c +2 accounts.zip``: every offset is one too far."""
    with pytest.raises(PackageError) as caught:
        validate_package(io.BytesIO(accounts_zip(LINES)[1:]), "accounts.zip")
    assert caught.value.code == 1008011
    assert "1 bytes are missing from the start" in caught.value.message


def test_directory_offset_past_the_end_is_refused() -> None:
    data = accounts_zip(LINES)
    lie = data[:-6] + (len(data) * 10).to_bytes(4, "little") + data[-2:]
    with pytest.raises(PackageError) as caught:
        validate_package(io.BytesIO(lie), "accounts.zip")
    assert "central directory is declared at byte" in caught.value.message


def peak_bytes_refusing(data: bytes) -> tuple[int, PackageError]:
    tracemalloc.start()
    try:
        validate_package(io.BytesIO(data), "accounts.zip")
    except PackageError as error:
        refusal = error
    else:
        raise AssertionError("accepted")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, refusal


def test_millions_of_declared_entries_are_refused_from_the_end_record() -> None:
    """The directory is never read entry by entry: memory does not grow with the count."""
    data = many_entries(2_200_000)
    peak, refusal = peak_bytes_refusing(data)
    assert "the zip holds 2,200,000 files ('a.txt', 'a.txt'" in refusal.message
    assert peak < 4 * 1024 * 1024, f"{peak:,} bytes allocated"


def test_a_directory_longer_than_its_one_declared_entry_is_refused() -> None:
    """An end record declaring one entry in front of a directory of 60,000 (a count lie)."""
    data = many_entries(60_000)
    end = len(data) - 22
    lie = data[: end + 8] + (1).to_bytes(2, "little") * 2 + data[end + 12 :]
    peak, refusal = peak_bytes_refusing(lie)
    assert "more bytes than the one entry" in refusal.message
    assert peak < 4 * 1024 * 1024, f"{peak:,} bytes allocated"


# -- over HTTP, at the hostile suite's server -------------------------------------------------


def post(client: httpx.Client, run: HostileRun, data: bytes, case: str) -> dict[str, Any]:
    started = time.monotonic()
    response = client.post(UPLOAD, files={"file": ("accounts.zip", data)})
    run.took(time.monotonic() - started, case)
    assert response.status_code < 500, (case, response.text)
    return dict(response.json())


def test_every_mutant_over_http_is_answered_like_in_process(
    hostile_server: LiveServer, hostile_run: HostileRun
) -> None:
    accepted = 0
    with httpx.Client(base_url=hostile_server.url, auth=AUTH, timeout=60) as client:
        for base_name, mutant in all_mutants(hostile_run):
            answer = post(client, hostile_run, mutant.data, f"{base_name}: {mutant.name}")
            assert answer["retCode"] == outcome(mutant.data), (base_name, mutant.name, answer)
            accepted += answer["retCode"] == 0
    total = httpx.get(f"{hostile_server.url}/_mock/uploads", timeout=10).json()["total"]
    assert total == accepted  # a refusal stores nothing
    assert httpx.post(f"{hostile_server.url}/_mock/reset", timeout=10).status_code == 200


def test_a_huge_declared_directory_is_refused_over_http(
    hostile_server: LiveServer, hostile_run: HostileRun
) -> None:
    # about 35 MB on the wire: received well within the suite's 4 s body deadline even on a
    # busy machine (the 2,200,000-entry case is refused in process above)
    data = many_entries(600_000)
    with httpx.Client(base_url=hostile_server.url, auth=AUTH, timeout=60) as client:
        answer = post(client, hostile_run, data, "600,000 declared entries")
    assert answer["retCode"] == 1008011 and "600,000 files" in answer["errMsg"], answer
    assert httpx.get(f"{hostile_server.url}/_mock/health", timeout=5).status_code == 200
