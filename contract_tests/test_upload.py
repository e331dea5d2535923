"""The upload contract: for each input, the retCode (written here, literally) and the answer's
shape. Expected values come from Tencent's documents and the rules table in README.md, never
from the mock's code."""

from __future__ import annotations

import stat
import zipfile

import pytest

from contract_tests.raw import Answer, Api, accounts_zip, claiming_size, make_zip, with_flag

pytestmark = pytest.mark.anyio


def assert_accepted(answer: Answer) -> int:
    assert answer.status == 200, answer
    assert answer.body["retCode"] == 0, answer.body
    assert answer.body["errMsg"] == ""
    upload_id = answer.body["uploadId"]
    assert isinstance(upload_id, int) and 0 < upload_id < 2**31
    return int(upload_id)


def assert_refused(answer: Answer, ret_code: int, *words: str) -> None:
    assert answer.status == 200, answer
    assert answer.body["retCode"] == ret_code, answer.body
    assert isinstance(answer.body["errMsg"], str) and answer.body["errMsg"]
    assert "uploadId" not in answer.body
    for word in words:
        assert word in answer.body["errMsg"], answer.body["errMsg"]


# -- accepted ----------------------------------------------------------------------------------

ACCEPTED = {
    "two-accounts": accounts_zip(["alice", "bob"]),
    "2-and-100-characters": accounts_zip(["ab", "x" * 100]),
    "2-byte-characters": accounts_zip(["éé", "é" * 100]),
    "4-byte-characters": accounts_zip(["𝄞𝄞", "𝄞" * 100]),
    "chinese": accounts_zip(["张三", "用户" * 50]),
    "crlf": accounts_zip(["alice", "bob"], newline="\r\n"),
    "no-final-newline": make_zip({"a.txt": b"alice\nbob"}),
    "stored": make_zip({"a.txt": b"alice\nbob\n"}, compression=zipfile.ZIP_STORED),
    "bom": make_zip({"a.txt": b"\xef\xbb\xbfalice\nbob\n"}),
    "regular-file-mode": make_zip({"a.txt": b"alice\nbob\n"}, mode=stat.S_IFREG | 0o644),
}


@pytest.mark.parametrize("content", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_valid_package_is_accepted(api: Api, content: bytes) -> None:
    assert_accepted(await api.upload(content))


async def test_upper_case_extensions_are_accepted(api: Api) -> None:
    assert_accepted(await api.upload(make_zip({"A.TXT": b"alice\n"}), "ACCOUNTS.ZIP"))


async def test_each_upload_gets_its_own_id(api: Api) -> None:
    first = assert_accepted(await api.upload(accounts_zip(["alice"])))
    second = assert_accepted(await api.upload(accounts_zip(["alice"])))
    assert first != second


@pytest.mark.mock_only
@pytest.mark.parametrize(
    ("content", "accounts"),
    [
        (accounts_zip(["ab", "é" * 100, "张三"]), ["ab", "é" * 100, "张三"]),
        (accounts_zip(["alice", "bob"], newline="\r\n"), ["alice", "bob"]),
        (make_zip({"a.txt": b"\xef\xbb\xbfalice\nbob"}), ["alice", "bob"]),
    ],
    ids=["multibyte", "crlf", "bom-no-final-newline"],
)
async def test_accounts_are_read_as_tencent_reads_them(
    api: Api, content: bytes, accounts: list[str]
) -> None:
    upload_id = assert_accepted(await api.upload(content))
    assert await api.accounts(upload_id) == accounts


# -- refused: the form ---------------------------------------------------------------------------


async def test_missing_form_key_is_1008002(api: Api) -> None:
    assert_refused(await api.upload(accounts_zip(["alice"]), field_name="package"), 1008002)


async def test_body_that_is_not_multipart_is_1008002(api: Api) -> None:
    answer = await api.post("/v3/push/package/upload", accounts_zip(["alice"]), "application/zip")
    assert_refused(answer, 1008002)


async def test_zero_byte_upload_is_1008012(api: Api) -> None:
    assert_refused(await api.upload(b""), 1008012)


# -- refused: the file and the archive -----------------------------------------------------------

REFUSED_1008011 = {
    "name-not-zip": (accounts_zip(["alice"]), "accounts.txt"),
    "not-a-zip": (b"alice\nbob\n" * 10, "accounts.zip"),
    "truncated-zip": (accounts_zip(["alice"] * 100)[:-30], "accounts.zip"),
    "nested-folder": (make_zip({"lists/a.txt": b"alice\n"}), "accounts.zip"),
    "folder-entry": (make_zip({"lists/": b"", "a.txt": b"alice\n"}), "accounts.zip"),
    "macosx-metadata": (
        make_zip({"a.txt": b"alice\n", "__MACOSX/._a.txt": b"\x00\x05"}),
        "accounts.zip",
    ),
    "ds-store": (make_zip({"a.txt": b"alice\n", ".DS_Store": b"\x00"}), "accounts.zip"),
    "two-files": (make_zip({"a.txt": b"alice\n", "b.txt": b"bob\n"}), "accounts.zip"),
    "empty-zip": (make_zip({}), "accounts.zip"),
    "member-not-txt": (make_zip({"a.csv": b"alice\n"}), "accounts.zip"),
    "path-traversal": (make_zip({"../../evil.txt": b"alice\n"}), "accounts.zip"),
    "absolute-path": (make_zip({"/tmp/evil.txt": b"alice\n"}), "accounts.zip"),
    "symlink": (make_zip({"a.txt": b"/etc/passwd"}, mode=stat.S_IFLNK | 0o777), "accounts.zip"),
    "encrypted": (
        with_flag(make_zip({"a.txt": b"alice\n"}, compression=zipfile.ZIP_STORED), 0x1),
        "accounts.zip",
    ),
    "bad-crc": (
        make_zip({"a.txt": b"alice\nbob\n"}, compression=zipfile.ZIP_STORED).replace(
            b"alice\nbob\n", b"alicX\nbob\n", 1
        ),
        "accounts.zip",
    ),
    "bzip2": (make_zip({"a.txt": b"alice\n"}, compression=zipfile.ZIP_BZIP2), "accounts.zip"),
    "declares-2-gib-inflated": (
        claiming_size(make_zip({"a.txt": b"alice\n"}), 2**31),
        "accounts.zip",
    ),
}


@pytest.mark.parametrize(("content", "name"), REFUSED_1008011.values(), ids=REFUSED_1008011.keys())
async def test_broken_package_is_1008011(api: Api, content: bytes, name: str) -> None:
    assert_refused(await api.upload(content, name), 1008011)


async def test_empty_txt_is_1008012(api: Api) -> None:
    assert_refused(await api.upload(make_zip({"a.txt": b""})), 1008012)


# -- refused: the accounts -------------------------------------------------------------------

BAD_ACCOUNTS = {
    "1-character": b"alice\nb\ncarol\n",
    "101-characters": b"alice\n" + b"x" * 101 + b"\n",
    "101-two-byte-characters": b"alice\n" + "é".encode() * 101 + b"\n",
    "blank-line": b"alice\n\nbob\n",
    "trailing-blank-line": b"alice\nbob\n\n",
    "leading-blank-line": b"\nalice\n",
    "not-utf8": b"alice\nb\xffob\n",
    "nul": b"alice\nbo\x00b\n",
    "tab": b"alice\nbo\tb\n",
    "lone-cr": b"alice\nbob\rcarol\n",
    "bad-line-5001": b"ab\n" * 5000 + b"x\n",
}


@pytest.mark.parametrize("content", BAD_ACCOUNTS.values(), ids=BAD_ACCOUNTS.keys())
async def test_bad_account_is_1008011(api: Api, content: bytes) -> None:
    assert_refused(await api.upload(make_zip({"a.txt": content})), 1008011)


async def test_refusal_names_the_line(api: Api) -> None:
    answer = await api.upload(make_zip({"a.txt": b"ab\n" * 41 + b"x\n"}))
    assert_refused(answer, 1008011, "42")


# -- the size limit ------------------------------------------------------------------------------


async def test_upload_past_100_mib_is_1008011(api: Api) -> None:
    content = b"\0" * (100 * 1024 * 1024 + 1)
    assert_refused(await api.upload(content), 1008011)


# -- nothing is left behind ----------------------------------------------------------------------


@pytest.mark.mock_only
async def test_refused_upload_leaves_no_upload_behind(api: Api) -> None:
    before = await api.upload_count()
    assert_refused(await api.upload(make_zip({"a.txt": b"alice\nb\n"})), 1008011)
    assert await api.upload_count() == before
    assert_accepted(await api.upload(accounts_zip(["alice"])))
    assert await api.upload_count() == before + 1
