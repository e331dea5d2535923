"""The answer's shape: exactly these keys, these JSON types, a JSON content type."""

from __future__ import annotations

import pytest

from contract_tests.raw import Api, accounts_zip, make_zip

pytestmark = pytest.mark.anyio


async def test_success_has_exactly_retcode_errmsg_uploadid(api: Api) -> None:
    answer = await api.upload(accounts_zip(["alice", "bob"]))
    assert answer.headers["content-type"].startswith("application/json")
    assert set(answer.body) == {"retCode", "errMsg", "uploadId"}
    assert type(answer.body["retCode"]) is int
    assert type(answer.body["errMsg"]) is str
    assert type(answer.body["uploadId"]) is int


async def test_business_error_has_exactly_retcode_errmsg(api: Api) -> None:
    answer = await api.upload(make_zip({"a.txt": b"alice\nb\n"}))
    assert answer.headers["content-type"].startswith("application/json")
    assert set(answer.body) == {"retCode", "errMsg"}
    assert type(answer.body["retCode"]) is int and answer.body["retCode"] == 1008011
    assert type(answer.body["errMsg"]) is str


async def test_auth_error_has_exactly_retcode_errmsg(api: Api) -> None:
    answer = await api.upload(accounts_zip(["alice"]), auth="none")
    assert answer.headers["content-type"].startswith("application/json")
    assert set(answer.body) == {"retCode", "errMsg"}
    assert answer.body["retCode"] == 1008003
