"""The push contract (``POST /v3/push/app``, snake_case answers). Sends a real push, so against
Tencent it runs only with ``--tpns-allow-push``; against a mock that has no push endpoint yet it
is skipped."""

from __future__ import annotations

import pytest

from client import AsyncTPNSClient
from contract_tests.conftest import RecordingTransport, Target
from contract_tests.raw import Api

pytestmark = [pytest.mark.anyio, pytest.mark.push]


async def test_package_push_answers_in_snake_case(
    target: Target, transport: RecordingTransport, api: Api
) -> None:
    async with AsyncTPNSClient(
        target.access_id, target.secret_key, base_url=target.url, transport=transport
    ) as tpns:
        upload = await tpns.upload_package(["alice", "bob"])
        answer = await api.push(
            {
                "audience_type": "package_account_push",
                "upload_id": upload.upload_id,
                "message_type": "notify",
                "message": {"title": "contract test", "content": "tpns-mock contract suite"},
                "environment": "dev",
            }
        )
    if answer.status == 404 and not target.real:
        pytest.skip("this mock has no /v3/push/app endpoint yet")
    assert answer.status == 200
    assert answer.body["ret_code"] == 0, answer.body
    assert {"seq", "push_id", "ret_code", "err_msg"} <= set(answer.body)
    assert isinstance(answer.body["push_id"], str) and answer.body["push_id"]
