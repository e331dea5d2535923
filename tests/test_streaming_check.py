"""The streaming check and the check of the stored file give the same verdict on any upload.

The server checks an upload while it arrives (``StreamingCheck``) and falls back to
``validate_package`` on the stored file whenever the stream alone cannot decide. If the two ever
disagreed, a package would be accepted or refused depending on how it was written. Hypothesis
builds zips (well-formed, with data descriptors, extra members, odd names) and mutates their
bytes (flips, cuts, insertions, junk before and after), feeds them to the streaming check in
arbitrary chunks, and compares the verdict, message included, with ``validate_package``'s.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tpns_client.protocol.package import AccountChecker, PackageError, Rules, validate_package
from tpns_client.protocol.streaming import StreamingCheck
from tpns_mock.intake import ThreadedChecker
from zips import bomb_zip, make_zip

GOOD_LINES = ["alice", "bob", "ab", "x" * 100, "é" * 100, "用户", "a,b"]
BAD_LINES = ["a", "", "x" * 101, "bo\x00b", "b\ra"]
# mostly good lines, so that many packages are accepted and the streamed path is exercised
LINES = st.sampled_from(GOOD_LINES * 12 + BAD_LINES)
NAMES = st.sampled_from(
    ["accounts.txt", "a.csv", "A.TXT", "lists/a.txt", "__MACOSX/._a.txt", "a.txt\x00.csv", "a.md"]
)


class Unseekable(io.RawIOBase):
    """A write-only stream: ``zipfile`` then puts sizes in data descriptors after the data."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += data
        return len(data)


@st.composite
def packages(draw: st.DrawFn) -> bytes:
    """A zip as a user's tool (or an attacker) might write it, then perhaps damaged."""
    members: dict[str, bytes] = {}
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 1, 2]))):
        lines = draw(st.lists(LINES, max_size=8))
        text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
        if draw(st.booleans()):
            text += "\n"
        body = text.encode()
        if draw(st.integers(0, 9)) == 0:
            body = b"\xef\xbb\xbf" + body
        members[draw(NAMES) if members or draw(st.integers(0, 4)) == 0 else "accounts.txt"] = body
    compression = draw(st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]))
    if members and draw(st.integers(0, 5)) == 0:  # a bare txt/csv (``--rules current``)
        data = next(iter(members.values()))
    elif draw(st.integers(0, 5)) == 0:
        stream = Unseekable()
        with zipfile.ZipFile(stream, "w", compression=compression) as archive:
            for name, body in members.items():
                archive.writestr(name, body)
        data = bytes(stream.buffer)
    elif draw(st.integers(0, 12)) == 0:
        data = bomb_zip(
            draw(st.sampled_from([3, 3000, 300_000])), lie_about_size=draw(st.booleans())
        )
    else:
        data = make_zip(members, compression=compression)
    return draw(damaged(data))


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 0, 1, 1, 2, 3]))):
        kind = draw(st.sampled_from(["flip", "flip", "cut", "insert", "prefix", "suffix"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            value = draw(st.integers(1, 255))
            data = data[:at] + bytes([data[at] ^ value]) + data[at + 1 :]
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif kind == "prefix":
            data = draw(st.sampled_from([b"junk", b"PK\x03\x04", b"\x00" * 30])) + data
        else:
            data = data + draw(st.sampled_from([b"junk", b"PK\x05\x06", b"\n"]))
    return data


def outcome(run: Any) -> tuple[Any, ...]:
    try:
        summary = run()
    except PackageError as error:
        return ("refused", error.code, error.message)
    except Exception as error:  # not a rule: still the same in both, whatever it is
        return ("raised", type(error).__name__, str(error))
    return ("accepted", summary)


def streamed(
    data: bytes, cuts: list[int], file_name: str, rules: Rules, cap: int, threaded: bool = False
) -> Any:
    check = StreamingCheck(file_name, rules, cap, ThreadedChecker if threaded else AccountChecker)
    start = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        check.feed(data[start:cut])
        start = max(start, cut)
    return check, outcome(lambda: check.verdict(io.BytesIO(data)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=packages(),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
    file_name=st.sampled_from(["accounts.zip"] * 4 + ["accounts.txt", "a.csv"]),
    rules=st.sampled_from([Rules.SEED, Rules.CURRENT]),
    cap=st.sampled_from([1024 * 1024 * 1024] * 4 + [1000]),
    threaded=st.booleans(),
)
def test_streaming_and_stored_verdicts_agree(
    data: bytes, cuts: list[int], file_name: str, rules: Rules, cap: int, threaded: bool
) -> None:
    """``threaded``: lines checked on a thread of their own, as the server does for a large
    upload."""
    check, got = streamed(data, cuts, file_name, rules, cap, threaded)
    event(f"{got[0]} by the {'stream' if check.streamed else 'fallback'}")
    want = outcome(lambda: validate_package(io.BytesIO(data), file_name, rules, cap))
    assert got == want


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(st.sampled_from(["alice", "bob", "张三", "x" * 100]), min_size=1, max_size=50),
    compression=st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
)
def test_an_ordinary_zip_is_decided_by_the_stream(
    lines: list[str], compression: int, cuts: list[int]
) -> None:
    data = make_zip({"accounts.txt": "\n".join(lines).encode()}, compression=compression)
    check, got = streamed(data, cuts, "accounts.zip", Rules.SEED, 1024 * 1024 * 1024)
    assert got[0] == "accepted" and got[1].account_count == len(lines)
    assert check.streamed, check.fallback_reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"junk" + make_zip({"a.txt": b"alice\n"}), "local file header"),
        (make_zip({"a.txt": b"alice\n", "b.txt": b"bob\n"}), "exactly one"),
        (make_zip({"a.txt": b"alice\nb\n"}), "line 2"),
    ],
)
def test_what_the_stream_cannot_accept_is_left_to_the_stored_check(
    data: bytes, reason: str
) -> None:
    check, _ = streamed(data, [], "accounts.zip", Rules.SEED, 1024 * 1024 * 1024)
    assert not check.streamed
    assert reason in (check.fallback_reason or "")


def test_a_data_descriptor_zip_is_accepted_by_the_fallback() -> None:
    stream = Unseekable()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("accounts.txt", b"alice\nbob\n")
    check, got = streamed(bytes(stream.buffer), [7], "accounts.zip", Rules.SEED, 2**30)
    assert got[0] == "accepted" and got[1].account_count == 2
    assert not check.streamed and "data descriptor" in (check.fallback_reason or "")
