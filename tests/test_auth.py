"""Basic and signature auth on the upload endpoint, and Tencent's signature test vector."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import AUTH, UPLOAD, Mock
from tpns_mock.auth import sign
from tpns_mock.clock import ManualClock
from zips import accounts_zip

SECRET = "tpns-mock-secret-key"
ACCESS_ID = "1500000001"


def test_tencent_signature_test_vector() -> None:
    body = (
        '{"audience_type": "account","platform": "android","message": {"title": "test title",'
        '"content": "test content","android": { "action": {"action_type": 3,"intent": '
        '"xgscheme://com.xg.push/notify_detail?param1=xg"}}},"message_type": "notify",'
        '"account_list": ["5822f0eee44c3625ef0000bb"] }'
    )
    expected = (
        "Y2QyMDc3NDY4MmJmNzhiZmRiNDNlMTdkMWQ1ZDU2YjNlNWI3ODlhMTY3MGZjMTUyN2VmNTRjNjVkMmQ3Yjc2ZA=="
    )
    assert sign("1452fcebae9f3115ba794fb0fff2fd73", "1565314789", "1500001048", body.encode()) == (
        expected
    )


def signed_upload(
    mock: Mock,
    *,
    secret: str = SECRET,
    access_id: str = ACCESS_ID,
    timestamp: int | None = None,
    tamper: bool = False,
) -> httpx.Response:
    """Build the multipart body first, sign exactly those bytes, then send them."""
    request = httpx.Request(
        "POST", "http://mock" + UPLOAD, files={"file": ("a.zip", accounts_zip(["alice", "bob"]))}
    )
    body = request.read()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "content-type": request.headers["content-type"],
        "AccessId": access_id,
        "TimeStamp": stamp,
        "Sign": sign(secret, stamp, access_id, body),
    }
    return mock.client.post(UPLOAD, content=body + (b"x" if tamper else b""), headers=headers)


def test_signed_upload_is_accepted(mock: Mock) -> None:
    response = signed_upload(mock)
    assert response.status_code == 200
    assert response.json()["retCode"] == 0
    upload = mock.client.get(f"/_mock/uploads/{response.json()['uploadId']}").json()
    assert upload["accessId"] == ACCESS_ID


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"secret": "not-the-secret"}, "Sign does not match"),
        ({"tamper": True}, "Sign does not match"),
        ({"access_id": "1599999999"}, "not a known app"),
        ({"timestamp": int(time.time()) - 3600}, "from the server clock"),
        ({"timestamp": int(time.time()) + 3600}, "from the server clock"),
    ],
)
def test_bad_signature_is_1008003_with_403(mock: Mock, kwargs: dict, words: str) -> None:
    response = signed_upload(mock, **kwargs)
    assert response.status_code == 403
    assert response.json()["retCode"] == 1008003
    assert words in response.json()["errMsg"]
    assert "not-the-secret" not in response.text and SECRET not in response.text
    assert mock.leftovers() == []


def test_timestamp_window_is_configurable(make_mock: Callable[..., Mock]) -> None:
    clock = ManualClock(1_700_000_000.0)
    mock = make_mock(timestamp_window_s=5, clock=clock)
    assert signed_upload(mock, timestamp=1_700_000_000 - 6).status_code == 403
    assert signed_upload(mock, timestamp=1_700_000_000 - 5).status_code == 200
    assert signed_upload(mock, timestamp=1_700_000_000 + 5).status_code == 200
    clock.advance(6)  # the server's clock moved on: the same TimeStamp is now too old
    assert signed_upload(mock, timestamp=1_700_000_000).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"1500000001:wrong").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"1599999999:" + SECRET.encode()).decode()},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer abc"},
        {"AccessId": ACCESS_ID, "TimeStamp": "123"},
        {"AccessId": ACCESS_ID, "TimeStamp": "yesterday", "Sign": "abc"},
    ],
)
def test_missing_or_wrong_credentials_are_1008003(mock: Mock, headers: dict[str, str]) -> None:
    response = mock.client.post(
        UPLOAD, files={"file": ("a.zip", accounts_zip(["alice"]))}, headers=headers
    )
    assert response.status_code == 403
    assert response.json()["retCode"] == 1008003
    assert SECRET not in response.text
    assert mock.leftovers() == []


def test_auth_is_checked_before_the_form(mock: Mock) -> None:
    response = mock.client.post(UPLOAD, content=b"garbage", headers={"content-type": "text/plain"})
    assert response.status_code == 403 and response.json()["retCode"] == 1008003


def test_several_apps_each_with_their_own_secret(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(apps={"1500000001": "secret-one", "1500000002": "secret-two"})
    content = accounts_zip(["alice"])
    assert mock.upload(content, auth=("1500000002", "secret-two"))["retCode"] == 0
    assert mock.upload(content, auth=("1500000002", "secret-one"))["retCode"] == 1008003


@pytest.mark.parametrize(
    "headers",
    [
        {"AccessId": ACCESS_ID, "TimeStamp": "9" * 400, "Sign": "abc"},
        {"AccessId": ACCESS_ID, "TimeStamp": "9" * 5000, "Sign": "abc"},
        {"AccessId": ACCESS_ID, "TimeStamp": b"\xb2", "Sign": "abc"},  # "²" passes isdigit()
        {"Authorization": b"Basic \xe9\xe9"},
    ],
)
def test_outlandish_credentials_are_1008003_not_a_crash(mock: Mock, headers: dict) -> None:
    response = mock.client.post(
        UPLOAD, files={"file": ("a.zip", accounts_zip(["alice"]))}, headers=headers
    )
    assert response.status_code == 403
    assert response.json()["retCode"] == 1008003


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--XyZ--\r\n', "XyZ"),
        (b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n', "XyZ"),
        (b"not multipart at all", None),
    ],
)
def test_a_wrong_sign_is_1008003_even_when_the_form_is_broken_too(
    mock: Mock, body: bytes, content_type: str | None
) -> None:
    stamp = str(int(time.time()))
    headers = {
        "content-type": f"multipart/form-data; boundary={content_type}" if content_type else "x/y",
        "AccessId": ACCESS_ID,
        "TimeStamp": stamp,
        "Sign": sign("not-the-secret", stamp, ACCESS_ID, body),
    }
    response = mock.client.post(UPLOAD, content=body, headers=headers)
    assert response.status_code == 403
    assert response.json()["retCode"] == 1008003
    # with the right Sign, the form's own problem is what is reported
    headers["Sign"] = sign(SECRET, stamp, ACCESS_ID, body)
    response = mock.client.post(UPLOAD, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["retCode"] in (1008001, 1008002)


# -- naming the mistake behind a wrong Sign ------------------------------------------------------


def _diagnosed(mock: Any, headers: dict[str, str], body: bytes) -> str:
    response = mock.client.post(
        "/v3/push/app", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 403
    answer = response.json()
    assert answer["ret_code"] == 1008003
    return str(answer["err_msg"])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    ("mistake", "words"),
    [
        ("raw-digest", "the hex step is missing"),
        ("hex-only", "the Base64 step is missing"),
        ("no-body", "signed without the body"),
        ("swapped", "AccessId and TimeStamp are swapped"),
        ("no-body-raw-digest", "as sent; and it is Base64 of the raw"),
        ("wrong-secret", "check the SecretKey"),
    ],
)
def test_a_wrong_sign_names_the_likely_mistake_and_never_the_sign(
    make_mock: Any, mistake: str, words: str, seed: int
) -> None:
    mock = make_mock()
    access_id, secret = AUTH
    rng = random.Random(seed)
    body = json.dumps(
        {"audience_type": "all", "message_type": "notify", "seq": rng.randrange(10**9)}
    ).encode()
    timestamp = str(int(time.time()) - rng.randrange(100))

    def mac(message: bytes, key: str = secret) -> bytes:
        return hmac.new(key.encode(), message, hashlib.sha256).digest()

    right = mac((timestamp + access_id).encode() + body)
    signs = {
        "raw-digest": base64.b64encode(right).decode(),
        "hex-only": right.hex(),
        "no-body": base64.b64encode(mac((timestamp + access_id).encode()).hex().encode()).decode(),
        "swapped": base64.b64encode(
            mac((access_id + timestamp).encode() + body).hex().encode()
        ).decode(),
        "no-body-raw-digest": base64.b64encode(mac((timestamp + access_id).encode())).decode(),
        "wrong-secret": base64.b64encode(
            mac((timestamp + access_id).encode() + body, "wrong").hex().encode()
        ).decode(),
    }
    headers = {"AccessId": access_id, "TimeStamp": timestamp, "Sign": signs[mistake]}
    message = _diagnosed(mock, headers, body)
    assert words in message, message
    expected = base64.b64encode(right.hex().encode()).decode()
    for secret_form in (secret, expected, right.hex(), expected[:16]):
        assert secret_form not in message


def test_a_millisecond_timestamp_is_named(make_mock: Any) -> None:
    mock = make_mock()
    stamp = str(int(time.time() * 1000))
    headers = {"AccessId": AUTH[0], "TimeStamp": stamp, "Sign": sign(AUTH[1], stamp, AUTH[0], b"")}
    assert "milliseconds" in _diagnosed(mock, headers, b"{}")


def test_swapped_accessid_and_timestamp_headers_are_named(make_mock: Any) -> None:
    mock = make_mock()
    stamp = str(int(time.time()))
    headers = {"AccessId": stamp, "TimeStamp": AUTH[0], "Sign": "x"}
    assert "swapped" in _diagnosed(mock, headers, b"{}")
