"""The line checker's C-speed fast path agrees with the per-line rule on any input.

``AccountChecker`` only runs the per-line rule (``_line_problem``) once a chunk looks suspicious;
if the fast path ever missed a bad line, a bad package would be accepted. Hypothesis feeds it
lines made to sit on every edge (0, 1, 2, 100, 101 characters, multi-byte characters, commas,
control characters, CRLF, invalid UTF-8) cut into chunks at arbitrary places, and compares its
verdict with applying the rule to each line in turn.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tpns_client.protocol.package import AccountChecker, PackageError, _line_problem

CHARS = st.sampled_from(["a", "Z", "9", ",", "é", "用", "𝄞", "\x00", "\t", "\x7f", " ", "-"])
LINE = st.one_of(
    st.lists(CHARS, max_size=3).map("".join),
    st.lists(CHARS, min_size=98, max_size=102).map("".join),
    st.sampled_from(["ab", "a" * 100, "a" * 101, "é" * 100, "é" * 101, ""]),
)


def expected(lines: list[bytes], csv: bool) -> int | str:
    for number, line in enumerate(lines, start=1):
        if _line_problem(line, csv):
            return f"line {number}:"
    return len(lines)


def verdict(data: bytes, cuts: list[int], csv: bool) -> int | str:
    checker = AccountChecker(csv=csv)
    try:
        start = 0
        for cut in [*sorted(cuts), len(data)]:
            checker.feed(data[start:cut])
            start = max(start, cut)
        return checker.finish()
    except PackageError as error:
        return error.message.split(" account")[0]


def assert_agrees(data: bytes, lines: list[bytes], cuts: list[int], csv: bool) -> None:
    """The checker, fed ``data`` cut at ``cuts``, says what the per-line rule says."""
    got = verdict(data, [c % (len(data) + 1) for c in cuts], csv)
    want = expected(lines, csv)
    if isinstance(want, str):
        assert isinstance(got, str) and got.startswith(want), (got, want)
    else:
        assert got == want


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(LINE, min_size=1, max_size=30),
    crlf=st.booleans(),
    csv=st.booleans(),
    bad_byte_at=st.one_of(st.none(), st.integers(min_value=0)),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=6),
)
def test_fast_path_agrees_with_the_per_line_rule(
    lines: list[str], crlf: bool, csv: bool, bad_byte_at: int | None, cuts: list[int]
) -> None:
    encoded = [line.encode() for line in lines]
    if bad_byte_at is not None:  # one invalid UTF-8 byte somewhere
        which = bad_byte_at % len(encoded)
        at = bad_byte_at % (len(encoded[which]) + 1)
        encoded[which] = encoded[which][:at] + b"\xff" + encoded[which][at:]
    data = (b"\r\n" if crlf else b"\n").join(encoded) + b"\n"
    assert_agrees(data, encoded, cuts, csv)


@pytest.mark.parametrize("line", [b",", b"a," + b"b" * 99])
def test_a_comma_counts_as_a_character_in_a_txt(line: bytes) -> None:
    checker = AccountChecker(csv=False)
    with pytest.raises(PackageError, match=r"line 2: account is (1 character|101 characters) long"):
        checker.feed(b"alice\n" + line + b"\n")
        checker.finish()


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(min_value=0, max_value=102),
    count=st.integers(min_value=1, max_value=400),
    odd=st.one_of(st.none(), st.tuples(st.integers(min_value=0), LINE)),
    char=CHARS,
    crlf=st.booleans(),
    csv=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=50_000), max_size=4),
)
def test_lines_of_one_width_agree_with_the_per_line_rule(
    width: int,
    count: int,
    odd: tuple[int, str] | None,
    char: str,
    crlf: bool,
    csv: bool,
    cuts: list[int],
) -> None:
    """Blocks of equal-width lines take a shortcut (one comparison per block); any line that
    differs in width or holds a character the rule refuses must still be found, by number."""
    lines = [(char * width).encode()] * count
    if odd is not None:
        lines[odd[0] % count] = odd[1].encode()
    data = (b"\r\n" if crlf else b"\n").join(lines) + b"\n"
    assert_agrees(data, lines, cuts, csv)


def test_a_package_of_one_width_longer_than_the_prepared_block_is_counted() -> None:
    line = b"13800138000\n"
    data = line * (3 * 1024 * 1024 // len(line))
    checker = AccountChecker()
    checker.feed(data)
    checker.feed(b"1380013800\n")  # one line a character short is still a valid account
    assert checker.finish() == data.count(b"\n") + 1
