"""Helpers for the push, journal and fault tests: bodies, signed requests, a second app."""

from __future__ import annotations

import json
import time
from typing import Any

from conftest import AUTH, Mock
from tpns_mock.auth import sign

PUSH = "/v3/push/app"
OTHER_APP = ("1500000002", "second-app-secret-key-0002")
APPS = {AUTH[0]: AUTH[1], OTHER_APP[0]: OTHER_APP[1]}
PUSH_KEYS = {"seq", "push_id", "ret_code", "environment", "err_msg", "result"}
SUCCESS_KEYS = PUSH_KEYS | {"err_msg_zh", "invalid_targe_list"}


def android(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "audience_type": "all",
        "message_type": "notify",
        "message": {"title": "Hello", "content": "Your order has shipped"},
    }
    body.update(fields)
    return body


def package_push(upload_id: int, **fields: Any) -> dict[str, Any]:
    return android(**{"audience_type": "package_account_push", "upload_id": upload_id, **fields})


def push(mock: Mock, body: Any, *, auth: Any = AUTH, raw: bytes | None = None) -> dict[str, Any]:
    """POST a push (``raw`` bytes as is, else ``body`` as JSON); the answer plus its status."""
    content = raw if raw is not None else json.dumps(body).encode()
    response = mock.client.post(
        PUSH, content=content, auth=auth, headers={"Content-Type": "application/json"}
    )
    assert response.status_code < 500, response.text
    answer = response.json()
    assert set(answer) == (SUCCESS_KEYS if answer["ret_code"] == 0 else PUSH_KEYS), answer
    answer["_status"] = response.status_code
    return answer


def signed_headers(access_id: str, secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "AccessId": access_id,
        "TimeStamp": timestamp,
        "Sign": sign(secret, timestamp, access_id, body),
        "Content-Type": "application/json",
    }


def pushes(mock: Mock) -> list[dict[str, Any]]:
    return mock.client.get("/_mock/pushes").json()["pushes"]  # type: ignore[no-any-return]
