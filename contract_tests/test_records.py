"""Push records: ``POST /v3/statistics/get_push_record``, camelCase, same auth as the push.

A push answers its ``push_id`` at once; its record then walks PUSH_INIT -> PUSH_STARTED ->
PUSH_FINISHED. Against a mock that takes about a second (``--push-duration``); against Tencent
the test waits up to two minutes. Paths under ``/v3/`` that the mock does not emulate answer in
TPNS's shape.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from tpns_client import AsyncTPNSClient

from contract_tests.conftest import RecordingTransport, Target
from contract_tests.raw import Api, accounts_zip

pytestmark = pytest.mark.anyio

RECORD = "/v3/statistics/get_push_record"
ACCOUNTS = ["tpns-contract-a", "tpns-contract-b"]
MESSAGE = {"title": "t", "content": "c"}
STATES = {"PUSH_INIT", "PUSH_STARTED", "PUSH_FINISHED"}


async def records(api: Api, query: Any, **options: Any) -> dict[str, Any]:
    answer = await api.post(RECORD, json.dumps(query).encode(), "application/json", **options)
    assert isinstance(answer.body, dict), answer
    return {"_status": answer.status, **answer.body}


@pytest.fixture(autouse=True)
async def _fresh(target: Target, api: Api) -> None:
    if target.mock:
        (await api.http.post("/_mock/reset")).raise_for_status()
    else:
        await asyncio.sleep(1.1)


async def package_push(api: Api) -> tuple[int, str]:
    uploaded = await api.upload(accounts_zip(ACCOUNTS))
    upload_id = int(uploaded.body["uploadId"])
    payload = {
        "audience_type": "package_account_push",
        "upload_id": upload_id,
        "message_type": "notify",
        "message": MESSAGE,
    }
    answer = await api.push(payload)
    assert answer.body["ret_code"] == 0, answer.body
    return upload_id, str(answer.body["push_id"])


@pytest.mark.push
async def test_a_package_push_walks_to_finished_with_its_upload_id(
    api: Api, target: Target, transport: RecordingTransport
) -> None:
    upload_id, push_id = await package_push(api)
    # polled past the recorder: how many polls it takes varies from run to run
    async with httpx.AsyncClient(base_url=target.url, transport=transport.inner) as http:
        poller = Api(http, api.access_id, api.secret_key)
        seen = await poll_until_finished(poller, push_id)
    assert seen[-1] == "PUSH_FINISHED", seen
    assert set(seen) <= STATES, seen
    # never backwards
    order = ["PUSH_INIT", "PUSH_STARTED", "PUSH_FINISHED"]
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    (record,) = (await records(api, {"pushId": push_id}))["pushRecordData"]
    assert (record["pushId"], record["uploadId"], record["status"]) == (
        push_id,
        upload_id,
        "PUSH_FINISHED",
    )


async def poll_until_finished(api: Api, push_id: str) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answer = await records(api, {"pushId": push_id})
        assert (answer["_status"], answer["retCode"]) == (200, 0), answer
        (record,) = answer["pushRecordData"]
        assert record["pushId"] == push_id
        assert (record["title"], record["content"]) == ("t", "c")
        seen.append(record["status"])
        if record["status"] == "PUSH_FINISHED":
            break
        await asyncio.sleep(0.2)
    return seen


@pytest.mark.push
async def test_a_list_push_record_carries_its_targets(api: Api) -> None:
    payload = {
        "audience_type": "account_list",
        "account_list": ACCOUNTS,
        "message_type": "notify",
        "message": MESSAGE,
    }
    push_id = (await api.push(payload)).body["push_id"]
    answer = await records(api, {"pushId": push_id})
    (record,) = answer["pushRecordData"]
    assert record["targetList"] == ACCOUNTS
    assert record["pushType"] == "account_list"


@pytest.mark.push
async def test_the_date_range_form_answers_a_count(api: Api) -> None:
    _, push_id = await package_push(api)
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    answer = await records(
        api, {"startDate": today, "endDate": today, "msgType": "notify", "offset": 0, "limit": 20}
    )
    assert answer["retCode"] == 0, answer
    assert isinstance(answer["count"], int) and answer["count"] >= 1
    assert push_id in [r["pushId"] for r in answer["pushRecordData"]]


async def test_record_without_credentials_is_1008003(api: Api) -> None:
    answer = await records(api, {"pushId": "1"}, auth="none")
    assert (answer["_status"], answer["retCode"]) == (403, 1008003)


async def test_record_query_without_push_id_or_dates_is_1008002(api: Api) -> None:
    answer = await records(api, {"msgType": "notify"})
    assert answer["retCode"] == 1008002, answer


@pytest.mark.push
async def test_the_client_waits_for_the_push_to_finish(
    target: Target, transport: RecordingTransport
) -> None:
    # past the recorder: how many polls it takes varies from run to run
    async with AsyncTPNSClient(
        target.access_id, target.secret_key, base_url=target.url, transport=transport.inner
    ) as tpns:
        uploaded = await tpns.upload_package(ACCOUNTS)
        sent = await tpns.push_package(uploaded.upload_id, MESSAGE)
        record = await tpns.wait_for_push(sent.push_id, timeout=120)
    assert record.finished and record.data["uploadId"] == uploaded.upload_id


@pytest.mark.mock_only
@pytest.mark.parametrize(
    ("method", "path", "status", "code_key"),
    [
        ("POST", "/v3/device/tag/add", 404, "ret_code"),
        ("POST", "/v3/statistics/get_app_stat", 404, "retCode"),
        ("GET", "/v3/push/app", 405, "ret_code"),
    ],
)
async def test_what_is_not_emulated_answers_in_tpns_shape(
    api: Api, method: str, path: str, status: int, code_key: str
) -> None:
    response = await api.http.request(method, path, json={})
    assert response.status_code == status
    answer = response.json()
    assert "detail" not in answer
    assert isinstance(answer[code_key], int) and answer[code_key] != 0
    message = answer["err_msg" if code_key == "ret_code" else "errMsg"]
    assert "/v3/push/app" in message and RECORD in message
