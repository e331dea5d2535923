"""``--rules current``: Tencent's newer document also takes .txt and .csv uploads."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import Mock
from tpns_client.protocol.package import Rules
from zips import make_zip

# every rule holds whether an upload is checked as it arrives or from the stored file
pytestmark = pytest.mark.usefixtures("upload_check_path")


@pytest.fixture
def current(make_mock: Callable[..., Mock]) -> Mock:
    return make_mock(rules=Rules.CURRENT)


@pytest.mark.parametrize("file_name", ["accounts.txt", "accounts.csv"])
def test_plain_txt_and_csv_uploads_are_accepted(current: Mock, file_name: str) -> None:
    body = current.upload(b"alice\r\nbob\r\n", file_name)
    assert body["retCode"] == 0, body
    meta = current.client.get(f"/_mock/uploads/{body['uploadId']}").json()
    assert meta["accountCount"] == 2 and meta["kind"] == file_name[-3:]
    accounts = current.client.get(f"/_mock/uploads/{body['uploadId']}/accounts").text
    assert accounts == "alice\nbob\n"


def test_zip_holding_a_csv_is_accepted(current: Mock) -> None:
    assert current.upload(make_zip({"accounts.csv": b"alice\nbob\n"}))["retCode"] == 0


def test_csv_with_two_columns_is_refused(current: Mock) -> None:
    body = current.upload(b"alice\nbob,1\n", "accounts.csv")
    assert body["retCode"] == 1008011
    assert "line 2" in body["errMsg"] and "one column" in body["errMsg"]


def test_a_comma_is_fine_in_a_txt(current: Mock) -> None:
    assert current.upload(b"alice,1\n", "accounts.txt")["retCode"] == 0


def test_file_name_over_100_characters_is_refused(current: Mock) -> None:
    body = current.upload(b"alice\n", "a" * 97 + ".txt")
    assert body["retCode"] == 1008011 and "1 to 100 characters" in body["errMsg"]
    assert current.upload(b"alice\n", "a" * 96 + ".txt")["retCode"] == 0


def test_other_extensions_are_refused(current: Mock) -> None:
    body = current.upload(b"alice\n", "accounts.xlsx")
    assert body["retCode"] == 1008011 and ".zip, .txt or .csv" in body["errMsg"]


def test_seed_rules_refuse_a_plain_txt(mock: Mock) -> None:
    assert mock.upload(b"alice\n", "accounts.txt")["retCode"] == 1008011
