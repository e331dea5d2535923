"""``/_mock/`` test-control plane: the pushes an app made, the requests it sent, armed faults.

Not part of TPNS and without auth, like the rest of ``/_mock/``. These routes read and change
the store only; what a fault is lives in :mod:`tpns_mock.faults`, how it answers in
:mod:`tpns_mock.middleware`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from tpns_mock.answers import mock_error
from tpns_mock.body import BodyTimeout, BodyTooLong, read_bounded
from tpns_mock.faults import MAX_BODY_BYTES, FaultSpecError, parse_fault
from tpns_mock.lifecycle import status_at
from tpns_mock.routes.inspect import NOT_FOUND_RESPONSE, not_found, storable_id
from tpns_mock.store import Push, Store

router = APIRouter(prefix="/_mock", tags=["mock test control"])


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


# -- pushes ------------------------------------------------------------------------------------


def _shown(request: Request, push: Push) -> dict[str, Any]:
    """A push as listed, with its ``status`` now (PUSH_INIT ... PUSH_FINISHED)."""
    return {**push.public(), "status": status_at(push, request.app.state.clock.now())}


@router.get("/pushes", summary="Accepted pushes, newest first")
def list_pushes(
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31),
    access_id: str | None = Query(None, alias="accessId"),
) -> dict[str, Any]:
    store = _store(request)
    pushes = store.list_pushes(limit=limit, offset=offset, access_id=access_id)
    return {"total": store.count_pushes(access_id), "pushes": [_shown(request, p) for p in pushes]}


@router.get(
    "/pushes/{push_id}",
    summary="One push, with the upload it targeted",
    responses=NOT_FOUND_RESPONSE,
)
def get_push(request: Request, push_id: str) -> Any:
    store = _store(request)
    # ASCII digits only: "²".isdigit() holds (then int() fails), and int() reads full-width
    # digits as ASCII ones, so a push would have two names
    is_id = push_id.isascii() and push_id.isdecimal() and len(push_id) < 19
    push = store.get_push(int(push_id)) if is_id else None
    if push is None:
        return not_found(f"push {push_id}")
    upload = store.get_upload(push.upload_id) if push.upload_id is not None else None
    return {
        **_shown(request, push),
        "upload": upload.public() if upload else None,
        "accountCount": upload.account_count if upload else push.target_count,
    }


# -- request journal ---------------------------------------------------------------------------


@router.get("/requests", summary="TPNS requests received, newest first (credentials redacted)")
def list_requests(
    request: Request,
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=2**31),
    access_id: str | None = Query(None, alias="accessId"),
    refused: bool = Query(False, description="only refusals: an error code, status or drop"),
) -> dict[str, Any]:
    """With ``accessId``, only the requests that app authenticated (a request refused before
    its credentials were checked has no app); with ``refused``, only the refusals."""
    store = _store(request)
    return {
        "total": store.count_requests(access_id, refused),
        "keep": request.app.state.settings.journal_size,
        "requests": store.list_requests(
            limit=limit, offset=offset, access_id=access_id, refused=refused
        ),
    }


@router.delete("/requests", summary="Clear the request journal")
def clear_requests(request: Request) -> dict[str, str]:
    _store(request).clear_requests()
    return {"status": "cleared"}


# -- faults ------------------------------------------------------------------------------------


@router.post(
    "/faults",
    summary="Arm a fault: answer a TPNS code, drop the connection, or delay",
    status_code=201,
    responses={
        400: {"description": 'the body is not JSON (`{"error": "invalid_json", ...}`)'},
        408: {"description": 'the body stalled or outlasted the deadline (`"timeout"`)'},
        413: {"description": f'the body passes {MAX_BODY_BYTES:,} bytes (`"too_large"`)'},
        422: {"description": 'the fault names a bad field (`{"error": "invalid_fault", ...}`)'},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "example": {
                        "path": "/v3/push/app",
                        "retCode": 1008028,
                        "errMsg": "request too fast",
                        "httpStatus": 200,
                        "delayMs": 0,
                        "times": 1,
                        "probability": 1.0,
                    }
                }
            },
        }
    },
)
async def add_fault(request: Request) -> Any:
    """Async only to read the body (bounded in size and time); the store is written from the
    threadpool, so a busy database never stalls the event loop."""
    settings = request.app.state.settings
    try:
        raw = b"".join(
            [
                chunk
                async for chunk in read_bounded(
                    request.stream(),
                    max_bytes=MAX_BODY_BYTES,
                    idle_timeout_s=settings.body_idle_timeout_s,
                    deadline_s=settings.body_deadline_s,
                    what="the fault body",
                )
            ]
        )
    except BodyTooLong as exc:
        return mock_error("too_large", f"{exc}; a fault is a small JSON object", 413)
    except BodyTimeout as exc:
        return mock_error("timeout", str(exc), 408)
    except ClientDisconnect:
        return mock_error("invalid_json", "the client disconnected before the body was read", 400)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return mock_error("invalid_json", f"the body is not valid JSON ({exc})", 400)
    try:
        spec = parse_fault(data)
    except FaultSpecError as exc:
        return mock_error("invalid_fault", str(exc), 422)
    fault = await run_in_threadpool(
        _store(request).add_fault,
        path=spec.path,
        method=spec.method,
        times=spec.times,
        spec=json.dumps(spec.public()),
    )
    return JSONResponse(fault.public(), status_code=201)


@router.get("/faults", summary="Armed faults, oldest first, with how often each fired")
def list_faults(request: Request) -> dict[str, Any]:
    return {"faults": [f.public() for f in _store(request).list_faults()]}


@router.delete("/faults", summary="Disarm every fault")
def clear_faults(request: Request) -> dict[str, str]:
    _store(request).clear_faults()
    return {"status": "cleared"}


@router.delete(
    "/faults/{fault_id}",
    summary="Disarm one fault",
    status_code=204,
    responses=NOT_FOUND_RESPONSE,
)
def delete_fault(request: Request, fault_id: int) -> Response:
    if not storable_id(fault_id) or not _store(request).delete_fault(fault_id):
        return not_found(f"fault {fault_id}")
    return Response(status_code=204)
