"""One test per upload rule, each on a real zip built here, through the HTTP layer."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable

import pytest
from conftest import Mock
from zips import (
    accounts_zip,
    bad_crc_zip,
    bomb_zip,
    encrypted_flag_zip,
    make_zip,
    symlink_zip,
)

# every rule holds whether an upload is checked as it arrives or from the stored file
pytestmark = pytest.mark.usefixtures("upload_check_path")


def accepted(mock: Mock, content: bytes, file_name: str = "accounts.zip") -> int:
    body = mock.upload(content, file_name)
    assert body["retCode"] == 0, body
    assert body["errMsg"] == ""
    assert isinstance(body["uploadId"], int) and 0 < body["uploadId"] < 2**31
    meta = mock.client.get(f"/_mock/uploads/{body['uploadId']}").json()
    assert meta["sha256"] == hashlib.sha256(content).hexdigest()
    assert meta["uploadBytes"] == len(content)
    return int(body["uploadId"])


def refused(mock: Mock, content: bytes, code: int, *words: str, file_name: str = "accounts.zip"):
    body = mock.upload(content, file_name)
    assert body["retCode"] == code, body
    assert body["_status"] == 200
    assert "uploadId" not in body
    for word in words:
        assert word in body["errMsg"], body["errMsg"]
    assert mock.leftovers() == []
    assert mock.client.get("/_mock/uploads").json()["total"] == 0
    return body["errMsg"]


def accounts_of(mock: Mock, upload_id: int) -> list[str]:
    response = mock.client.get(f"/_mock/uploads/{upload_id}/accounts")
    assert response.status_code == 200
    return response.text.split("\n")[:-1]


# -- accepted ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accounts",
    [
        ["ab", "x" * 100],
        ["éé", "é" * 100],  # 2 and 100 characters of 2 bytes each
        ["𝄞𝄞", "𝄞" * 100],  # 4-byte characters: 400 bytes, still 100 characters
        ["张三", "用户" * 50],
    ],
)
def test_accounts_of_2_and_100_characters_are_accepted(mock: Mock, accounts: list[str]) -> None:
    upload_id = accepted(mock, accounts_zip(accounts))
    assert accounts_of(mock, upload_id) == accounts
    assert mock.client.get(f"/_mock/uploads/{upload_id}").json()["accountCount"] == 2


def test_crlf_line_ends_are_accepted_and_not_part_of_the_account(mock: Mock) -> None:
    upload_id = accepted(mock, accounts_zip(["ab", "x" * 100], newline="\r\n"))
    assert accounts_of(mock, upload_id) == ["ab", "x" * 100]


def test_final_newline_is_optional(mock: Mock) -> None:
    upload_id = accepted(mock, make_zip({"a.txt": b"alice\nbob"}))
    assert accounts_of(mock, upload_id) == ["alice", "bob"]


def test_stored_uncompressed_zip_is_accepted(mock: Mock) -> None:
    content = make_zip({"a.txt": b"alice\nbob\n"}, compression=zipfile.ZIP_STORED)
    upload_id = accepted(mock, content)
    assert accounts_of(mock, upload_id) == ["alice", "bob"]


def test_utf8_bom_is_dropped(mock: Mock) -> None:
    upload_id = accepted(mock, make_zip({"a.txt": b"\xef\xbb\xbfalice\nbob\n"}))
    assert accounts_of(mock, upload_id) == ["alice", "bob"]


def test_upper_case_extensions_are_accepted(mock: Mock) -> None:
    accepted(mock, make_zip({"A.TXT": b"alice\n"}), file_name="ACCOUNTS.ZIP")


def test_upload_ids_increase(mock: Mock) -> None:
    ids = [accepted(mock, accounts_zip(["alice"])) for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


# -- refused: the form and the file name ---------------------------------------------------------


def test_missing_form_key_is_1008002(mock: Mock) -> None:
    response = mock.client.post(
        "/v3/push/package/upload",
        files={"package": ("a.zip", accounts_zip(["alice"]))},
        auth=("1500000001", "tpns-mock-secret-key"),
    )
    assert response.status_code == 200
    assert response.json()["retCode"] == 1008002
    assert "'file'" in response.json()["errMsg"]


def test_body_that_is_not_multipart_is_1008002(mock: Mock) -> None:
    response = mock.client.post(
        "/v3/push/package/upload",
        content=accounts_zip(["alice"]),
        headers={"content-type": "application/zip"},
        auth=("1500000001", "tpns-mock-secret-key"),
    )
    assert response.json()["retCode"] == 1008002
    assert "multipart/form-data" in response.json()["errMsg"]


def test_file_name_must_end_in_zip(mock: Mock) -> None:
    refused(mock, accounts_zip(["alice"]), 1008011, ".zip", file_name="accounts.txt")


def test_body_must_be_a_zip(mock: Mock) -> None:
    refused(mock, b"alice\nbob\n" * 10, 1008011, "not a valid zip")


def test_truncated_zip_is_refused(mock: Mock) -> None:
    refused(mock, accounts_zip(["alice"] * 100)[:-30], 1008011, "truncated", "zip -j -X")


def test_zero_byte_upload_is_1008012(mock: Mock) -> None:
    refused(mock, b"", 1008012, "empty")


# -- refused: what the zip holds -----------------------------------------------------------------


def test_nested_folder_is_refused(mock: Mock) -> None:
    refused(mock, make_zip({"lists/a.txt": b"alice\n"}), 1008011, "folder", "zip -j -X")


def test_folder_entry_is_refused(mock: Mock) -> None:
    refused(mock, make_zip({"lists/": b"", "a.txt": b"alice\n"}), 1008011, "'lists/' is a folder")


def test_macosx_metadata_is_refused_with_how_to_make_a_clean_zip(mock: Mock) -> None:
    content = make_zip({"a.txt": b"alice\n", "__MACOSX/._a.txt": b"\x00\x05"})
    refused(mock, content, 1008011, "__MACOSX", "zip -j -X accounts.zip accounts.txt")


def test_ds_store_is_refused(mock: Mock) -> None:
    refused(mock, make_zip({"a.txt": b"alice\n", ".DS_Store": b"\x00"}), 1008011, ".DS_Store")


def test_second_file_is_refused(mock: Mock) -> None:
    content = make_zip({"a.txt": b"alice\n", "b.txt": b"bob\n"})
    refused(mock, content, 1008011, "2 files", "exactly one")


def test_empty_zip_is_refused(mock: Mock) -> None:
    refused(mock, make_zip({}), 1008011, "no file")


def test_member_must_be_a_txt(mock: Mock) -> None:
    refused(mock, make_zip({"a.csv": b"alice\n"}), 1008011, "'a.csv'", ".txt")


def test_empty_txt_is_1008012(mock: Mock) -> None:
    refused(mock, make_zip({"a.txt": b""}), 1008012, "empty")


# -- refused: the accounts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"alice\nb\ncarol\n", ["line 2", "is 1 character long", "2 to 100"]),
        (b"alice\n" + b"x" * 101 + b"\n", ["line 2", "101 characters"]),
        (b"alice\n" + "é".encode() * 101 + b"\n", ["line 2", "101 characters"]),
        (b"alice\n\nbob\n", ["line 2", "blank (0 characters)", "remove empty lines"]),
        (b"alice\nbob\n\n", ["line 3", "blank"]),
        (b"\nalice\n", ["line 1", "blank"]),
        (b"alice\nb\xffob\n", ["line 2", "UTF-8", "save the file as UTF-8"]),
        (b"alice\nbo\x00b\n", ["line 2", "control character U+0000"]),
        (b"alice\nbob\rcarol\n", ["line 2", "carriage return not followed by a line feed"]),
        (b"ab\n" * 5000 + b"x\n", ["line 5001", "1 character long"]),
    ],
)
def test_bad_account_names_its_line_and_length(
    mock: Mock, content: bytes, words: list[str]
) -> None:
    refused(mock, make_zip({"a.txt": content}), 1008011, *words)


def test_gigantic_line_is_refused_without_reading_it_all(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock()
    refused(mock, make_zip({"a.txt": b"alice\n" + b"x" * 5_000_000}), 1008011, "line 2", "100")


# -- refused: hostile zips -----------------------------------------------------------------------


def test_path_traversal_entry_is_refused(mock: Mock) -> None:
    refused(mock, make_zip({"../../evil.txt": b"alice\n"}), 1008011, "unsafe path")


def test_absolute_entry_is_refused(mock: Mock) -> None:
    refused(mock, make_zip({"/tmp/evil.txt": b"alice\n"}), 1008011, "unsafe path")


def test_symlink_entry_is_refused(mock: Mock) -> None:
    refused(mock, symlink_zip(), 1008011, "symbolic link")


def test_encrypted_entry_is_refused(mock: Mock) -> None:
    refused(mock, encrypted_flag_zip(), 1008011, "encrypted")


def test_corrupt_crc_is_refused(mock: Mock) -> None:
    refused(mock, bad_crc_zip(), 1008011, "CRC")


def test_zip_bomb_is_refused_by_its_declared_size(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(max_inflated_bytes=4 * 1024 * 1024)
    refused(mock, bomb_zip(16 * 1024 * 1024), 1008011, "zip bomb", "4,194,304")


def test_zip_bomb_lying_about_its_size_is_refused(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(max_inflated_bytes=4 * 1024 * 1024)
    refused(mock, bomb_zip(16 * 1024 * 1024, lie_about_size=True), 1008011, "zip")


def test_bzip2_member_is_refused(mock: Mock) -> None:
    content = make_zip({"a.txt": b"alice\n"}, compression=zipfile.ZIP_BZIP2)
    refused(mock, content, 1008011, "compression method 12")


# -- the size limit ------------------------------------------------------------------------------


def test_upload_past_the_size_limit_is_refused(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(max_upload_bytes=64 * 1024)
    content = make_zip({"a.txt": b"x" * 200_000}, compression=zipfile.ZIP_STORED)
    refused(mock, content, 1008011, "larger than 65,536 bytes")


def test_upload_at_the_size_limit_is_accepted(make_mock: Callable[..., Mock]) -> None:
    content = make_zip({"a.txt": b"ab\n" * 20_000}, compression=zipfile.ZIP_STORED)
    mock = make_mock(max_upload_bytes=len(content))
    accepted(mock, content)


def test_multipart_body_without_its_closing_boundary_is_refused(mock: Mock) -> None:
    content = accounts_zip(["alice", "bob"])
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\n'
        + content
        + b"\r\n--XyZ"
    )
    response = mock.client.post(
        "/v3/push/package/upload",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
        auth=("1500000001", "tpns-mock-secret-key"),
    )
    assert response.status_code == 200
    assert response.json()["retCode"] == 1008001
    assert "closing boundary" in response.json()["errMsg"]
    assert mock.leftovers() == []
