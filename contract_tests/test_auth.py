"""The auth contract, both of Tencent's schemes: right credentials pass, anything else is
1008003 with HTTP 403 and no uploadId."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from contract_tests.raw import UPLOAD, Answer, Api, accounts_zip, multipart

pytestmark = pytest.mark.anyio

PACKAGE = accounts_zip(["alice", "bob"])


def assert_auth_failure(answer: Answer) -> None:
    assert answer.status == 403, answer
    assert answer.body["retCode"] == 1008003, answer.body
    assert isinstance(answer.body["errMsg"], str)
    assert "uploadId" not in answer.body


@pytest.mark.parametrize("auth", ["basic", "sign"])
async def test_right_credentials_are_accepted(api: Api, auth: str) -> None:
    answer = await api.upload(PACKAGE, auth=auth)  # type: ignore[arg-type]
    assert answer.status == 200
    assert answer.body["retCode"] == 0, answer.body


@pytest.mark.parametrize("auth", ["basic", "sign"])
async def test_wrong_secret_is_1008003(api: Api, auth: str) -> None:
    answer = await api.upload(PACKAGE, auth=auth, secret="not-the-secret-key")  # type: ignore[arg-type]
    assert_auth_failure(answer)


@pytest.mark.parametrize("auth", ["basic", "sign"])
async def test_unknown_access_id_is_1008003(api: Api, auth: str) -> None:
    answer = await api.upload(PACKAGE, auth=auth, access_id="1599999999")  # type: ignore[arg-type]
    assert_auth_failure(answer)


async def test_no_credentials_is_1008003(api: Api) -> None:
    assert_auth_failure(await api.upload(PACKAGE, auth="none"))


async def test_stale_timestamp_is_1008003(api: Api) -> None:
    # correctly signed, but an hour old: a replayed request
    answer = await api.upload(PACKAGE, timestamp=int(time.time()) - 3600)
    assert_auth_failure(answer)


async def test_timestamp_in_the_future_is_1008003(api: Api) -> None:
    answer = await api.upload(PACKAGE, timestamp=int(time.time()) + 3600)
    assert_auth_failure(answer)


async def test_sign_over_another_body_is_1008003(api: Api) -> None:
    body, content_type = multipart(PACKAGE)
    headers = {"Content-Type": content_type, **api.auth_headers(b"another body")}
    response = await api.http.post(UPLOAD, content=body, headers=headers)
    assert_auth_failure(Answer(response.status_code, response.json(), response.headers))


async def test_sign_of_raw_digest_instead_of_hex_is_1008003(api: Api) -> None:
    # Tencent signs Base64 of the *hex* digest; Base64 of the raw digest is a common mistake
    body, content_type = multipart(PACKAGE)
    stamp = str(int(time.time()))
    raw = hmac.new(
        api.secret_key.encode(), (stamp + api.access_id).encode() + body, hashlib.sha256
    ).digest()
    headers = {
        "Content-Type": content_type,
        "AccessId": api.access_id,
        "TimeStamp": stamp,
        "Sign": base64.b64encode(raw).decode(),
    }
    response = await api.http.post(UPLOAD, content=body, headers=headers)
    assert_auth_failure(Answer(response.status_code, response.json(), response.headers))


async def test_auth_failure_comes_before_the_package_rules(api: Api) -> None:
    answer = await api.upload(b"not a zip", auth="basic", secret="not-the-secret-key")
    assert_auth_failure(answer)
