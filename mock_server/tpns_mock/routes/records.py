"""``POST /v3/statistics/get_push_record``: what became of a push, answered camelCase.

Same auth and body limits as the push API. The record's status is computed from the mock's
clock when asked (:mod:`tpns_mock.lifecycle`). Calls are limited to 200 per hour per app, as
Tencent documents, unless the rate limit is lifted (``--no-rate-limit``), as for pushes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from tpns_client.protocol.paths import PUSH_RECORD_PATH
from tpns_client.protocol.records import (
    PUSH_FINISHED,
    RECORD_CALLS_PER_HOUR,
    RECORD_WINDOW_S,
)

from tpns_mock.answers import record_answer
from tpns_mock.auth import authenticate
from tpns_mock.clock import Clock
from tpns_mock.errors import PARAM_PARSE_ERROR, RATE_LIMITED, TPNSError
from tpns_mock.lifecycle import push_record
from tpns_mock.middleware import STATE_ACCESS_ID
from tpns_mock.push import parse_body
from tpns_mock.record_query import RecordQuery, check_record_query
from tpns_mock.routes.push import read_body
from tpns_mock.settings import Settings
from tpns_mock.store import Store

router = APIRouter()

RECORD_EXAMPLE = {
    "date": "2024-01-01 08:00:00",
    "pushId": "1",
    "title": "Hello",
    "content": "Your order has shipped",
    "status": PUSH_FINISHED,
    "pushType": "package_account_push",
    "messageType": "notify",
    "environment": "product",
    "expireTime": 259200,
    "xgMediaResources": "",
    "multiPkg": False,
    "targetList": [],
    "collapseID": 0,
    "tagSet": {},
    "uploadId": 1,
}

RECORD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "examples": {
                    "one push": {"value": {"pushId": "1"}},
                    "a date range": {
                        "value": {
                            "startDate": "2024-01-01",
                            "endDate": "2024-01-31",
                            "msgType": "notify",
                            "pushType": "all",
                            "offset": 0,
                            "limit": 20,
                        }
                    },
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "retCode 0 with pushRecordData (and count for a date range)",
            "content": {
                "application/json": {
                    "example": {"retCode": 0, "errMsg": "", "pushRecordData": [RECORD_EXAMPLE]}
                }
            },
        },
        "403": {"description": "auth failure (retCode 1008003)"},
    },
}


def _records(store: Store, access_id: str, query: RecordQuery, now: float) -> dict[str, Any]:
    if query.push_id is not None:
        push = store.get_push(query.push_id) if query.push_id > 0 else None
        # another app's push is as unknown as one never made
        found = [push] if push is not None and push.access_id == access_id else []
        return {"pushRecordData": [push_record(p, now) for p in found]}
    pushes = [
        p
        for p in store.pushes_started_between(access_id, query.start, query.end)
        if (query.msg_type is None or p.message_type == query.msg_type)
        and (query.audiences is None or p.audience_type in query.audiences)
    ]
    page = pushes[query.offset : query.offset + query.limit]
    return {"pushRecordData": [push_record(p, now) for p in page], "count": len(pushes)}


@router.post(
    PUSH_RECORD_PATH,
    summary="A push's record and status (one pushId, or a date range)",
    openapi_extra=RECORD_OPENAPI,
    tags=["TPNS"],
)
async def get_push_record(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    clock: Clock = request.app.state.clock
    try:
        caller = authenticate(
            request.headers, settings.apps, settings.timestamp_window_s, clock.now()
        )
        raw = await read_body(request, caller, settings)
        caller.verify_body()
        setattr(request.state, STATE_ACCESS_ID, caller.access_id)
        query = check_record_query(parse_body(raw, "the query"))
        now = clock.now()
        if settings.push_rate_limit:
            wait = await run_in_threadpool(
                store.take_call,
                f"records:{caller.access_id}",
                RECORD_CALLS_PER_HOUR,
                RECORD_WINDOW_S,
                now,
            )
            if wait:
                raise TPNSError(
                    RATE_LIMITED,
                    f"at most {RECORD_CALLS_PER_HOUR} push-record calls per hour per app; "
                    f"retry in {wait:.0f} s",
                )
        found = await run_in_threadpool(_records, store, caller.access_id, query, now)
    except TPNSError as error:
        return record_answer(error.code, error.err_msg, error.http_status)
    except ClientDisconnect:
        return record_answer(PARAM_PARSE_ERROR, "the client disconnected before the body was read")
    return record_answer(0, "", **found)
