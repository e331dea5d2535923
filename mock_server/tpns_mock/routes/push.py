"""``POST /v3/push/app``: the push API, answered in TPNS's snake_case shape.

The route authenticates, reads the body (bounded in size and time), hands it to
:mod:`tpns_mock.push` for the rules, fetches a package push's upload for
:func:`~tpns_mock.push.check_target` to judge, and records the push, claiming the app's
rate-limit slot in the same store transaction (so a push that fails to be stored never uses
it). Errors carry the same six keys as success, so a client that decodes the answer into a
fixed structure never meets a missing field.
"""

from __future__ import annotations

import functools
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from tpns_client.protocol.paths import PUSH_PATH

from tpns_mock.answers import PUSH_ACCEPTED_EXAMPLE, push_accepted, push_refused
from tpns_mock.auth import Caller, authenticate
from tpns_mock.body import BodyTimeout, expects_continue, timed_chunks
from tpns_mock.clock import Clock
from tpns_mock.errors import INVALID_PARAM, PARAM_PARSE_ERROR, SERVICE_ERROR, TPNSError
from tpns_mock.middleware import STATE_ACCESS_ID, STATE_FAULT_ID, fires
from tpns_mock.push import (
    MAX_BODY_BYTES,
    check_push,
    check_target,
    parse_body,
    rate_limited,
    seq_of,
)
from tpns_mock.settings import Settings
from tpns_mock.store import SlotTaken, StorageError, Store

router = APIRouter()


PUSH_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "example": {
                    "audience_type": "package_account_push",
                    "upload_id": 1,
                    "message_type": "notify",
                    "message": {"title": "Hello", "content": "Your order has shipped"},
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "ret_code 0 with the push_id, or a business error (1008002, ...)",
            "content": {"application/json": {"example": PUSH_ACCEPTED_EXAMPLE}},
        },
        "403": {"description": "auth failure (ret_code 1008003)"},
        "408": {"description": "the body stalled or outlasted the body deadline (1008001)"},
    },
}


async def read_body(request: Request, caller: Caller, settings: Settings) -> bytes:
    """The body, refused once it passes MAX_BODY_BYTES, stalls, or outlasts the deadline."""
    chunks: list[bytes] = []
    size = 0
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES and expects_continue(request.headers):
        # answered before the client sends a byte of what it announced
        raise TPNSError(
            INVALID_PARAM, f"the body passes {MAX_BODY_BYTES:,} bytes; a push is far smaller"
        )
    try:
        async for chunk in timed_chunks(
            request.stream(),
            idle_timeout_s=settings.body_idle_timeout_s,
            deadline_s=settings.body_deadline_s,
        ):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise TPNSError(
                    INVALID_PARAM,
                    f"the body passes {MAX_BODY_BYTES:,} bytes; a push is far smaller",
                )
            caller.feed_body(chunk)
            chunks.append(chunk)
    except BodyTimeout as exc:
        raise TPNSError(PARAM_PARSE_ERROR, str(exc), http_status=408) from None
    return b"".join(chunks)


@router.post(
    PUSH_PATH,
    summary="Push a notification or message (to a number package, tags, tokens, accounts, all)",
    openapi_extra=PUSH_OPENAPI,
    tags=["TPNS"],
)
async def push_app(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    clock: Clock = request.app.state.clock
    seq = 0
    environment = ""
    try:
        caller = authenticate(
            request.headers, settings.apps, settings.timestamp_window_s, clock.now()
        )
        raw = await read_body(request, caller, settings)
        caller.verify_body()
        setattr(request.state, STATE_ACCESS_ID, caller.access_id)
        body = parse_body(raw)
        seq = seq_of(body)
        now = clock.now()
        push = check_push(body, now)
        environment = push.environment
        if push.upload_id is not None:
            upload = await run_in_threadpool(store.get_upload, push.upload_id)
            await run_in_threadpool(
                check_target, push, caller.access_id, upload, store.open_package
            )
        limited = settings.push_rate_limit and push.rate_limited
        stored_body = json.dumps(push.body, ensure_ascii=False)
        scheduled = push.scheduled(now)
        try:
            record = await run_in_threadpool(
                lambda: store.add_push(
                    access_id=caller.access_id,
                    audience_type=push.audience_type,
                    message_type=push.message_type,
                    platform=push.platform,
                    environment=push.environment,
                    seq=push.seq,
                    upload_id=push.upload_id,
                    target_count=push.target_count,
                    body=stored_body,
                    slot=f"push:{caller.access_id}" if limited else None,
                    interval_s=settings.push_interval_s,
                    now=now,
                    start_at=push.send_at if scheduled else now,
                    scheduled=scheduled,
                    duration_s=settings.push_duration_s,
                )
            )
        except SlotTaken as taken:
            raise rate_limited(taken.wait_s, settings.push_interval_s) from None
        # a 'fail' fault is taken only by a push that was stored, so a refused one never
        # uses it up; the answer is sent after, so no client sees the push before it is marked
        try:
            fail = await run_in_threadpool(
                store.take_fault, PUSH_PATH, "POST", functools.partial(fires, action="fail")
            )
        except StorageError:
            fail = None  # the push is stored: its answer must not say otherwise
        if fail is not None:
            setattr(request.state, STATE_FAULT_ID, fail.id)
            await run_in_threadpool(store.mark_push_failed, record.id)
    except TPNSError as error:
        return push_refused(error, seq=seq, environment=environment)
    except StorageError as error:
        return push_refused(
            TPNSError(SERVICE_ERROR, f"{error}; the push was not recorded"), seq=seq
        )
    except ClientDisconnect:
        disconnected = TPNSError(
            PARAM_PARSE_ERROR, "the client disconnected before the body was read"
        )
        return push_refused(disconnected)
    return push_accepted(seq=push.seq, push_id=record.push_id, environment=push.environment)
