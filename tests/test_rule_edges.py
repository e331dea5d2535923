"""The edges of each rule README states: what decodes to nothing, every character Unicode calls a
control character, and digits that only look like ASCII ones. Server and client agree."""

from __future__ import annotations

import io
import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from conftest import Mock
from pushing import android, push
from tpns_client.protocol.package import PackageError, check_accounts, validate_package
from zips import make_zip

BOM = b"\xef\xbb\xbf"
# every code point Unicode puts in category Cc: C0, DEL and C1 (but LF, the line end)
CONTROLS = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc" and c != 10]


def upload_refusal(content: bytes) -> PackageError:
    with pytest.raises(PackageError) as caught:
        validate_package(io.BytesIO(make_zip({"accounts.txt": content})), "accounts.zip")
    return caught.value


def test_an_accounts_file_of_only_a_bom_is_empty(mock: Mock) -> None:
    assert upload_refusal(BOM).code == 1008012
    answer = mock.upload(make_zip({"accounts.txt": BOM}))
    assert answer["retCode"] == 1008012 and "byte order mark" in answer["errMsg"], answer
    assert mock.leftovers() == []


def test_a_bom_then_accounts_is_still_accepted(mock: Mock) -> None:
    assert mock.upload(make_zip({"accounts.txt": BOM + b"alice\n"}))["retCode"] == 0


def test_the_controls_are_exactly_unicodes_cc() -> None:
    assert len(CONTROLS) == 64  # 0x00-0x1F but LF, 0x7F, 0x80-0x9F


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_every_control_character_is_refused_naming_it(control: str) -> None:
    text = f"alice\nbo{control}b\n"
    if control == "\r":  # a CR before LF is a CRLF line end; a lone one is refused
        text = "alice\nbo\rb\n"
    refusal = upload_refusal(text.encode())
    assert refusal.code == 1008011 and refusal.message.startswith("line 2:"), refusal.message
    if control != "\r":
        assert f"U+{ord(control):04X}" in refusal.message
    with pytest.raises(PackageError):
        list(check_accounts(["alice", f"bo{control}b"]))  # the client's check agrees


@pytest.mark.parametrize("char", ["\u00a0", "\u00ad", "\u200b", "\u2028", "\ufeff", "é"])
def test_characters_beside_the_controls_are_accounts(char: str) -> None:
    """No-break space, soft hyphen, zero-width space, line separator, a BOM mid-line: not in Cc,
    so not "control characters" in README's words; Tencent's documents name none of them."""
    content = f"alice\nbo{char}b\n".encode()
    summary = validate_package(io.BytesIO(make_zip({"accounts.txt": content})), "accounts.zip")
    assert summary.account_count == 2


@pytest.mark.parametrize(
    "send_time",
    [
        "２０３０-01-01 08:00:00",  # noqa: RUF001 - full-width digits, the point of the test
        "2030-01-01 ０8:00:00",  # noqa: RUF001
        "٢٠٣٠-01-01 08:00:00",  # Arabic-Indic digits
        "2030-01-01 08:00:00\n",
        " 2030-01-01 08:00:00",
    ],
)
def test_send_time_takes_only_ascii_digits(mock: Mock, send_time: str) -> None:
    answer = push(mock, android(send_time=send_time))
    assert answer["ret_code"] == 10010012, answer


@pytest.mark.parametrize("shape", ["%Y-%m-%d %H:%M:%S", "%Y-%-m-%-d %-H:%-M:%-S"])
def test_a_well_formed_send_time_is_accepted(mock: Mock, shape: str) -> None:
    tomorrow = datetime.now(timezone(timedelta(hours=8))) + timedelta(days=1)
    answer = push(mock, android(send_time=tomorrow.strftime(shape)))
    assert answer["ret_code"] == 0, answer
