"""Every answer body the mock sends, in one place: each endpoint's shape is written once.

TPNS answers an upload in camelCase (``retCode``, ``errMsg``, ``uploadId``) and a push in
snake_case: a refusal with six keys, an accepted push with the keys Tencent's one recorded success
answer has (``tpns_client.protocol.records``); a fault answers in the shape of the path it fails.
``/_mock/`` endpoints answer their own errors as ``{"error": ..., "message": ...}``.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from tpns_client.protocol.codes import Refusal
from tpns_client.protocol.paths import camel_case
from tpns_client.protocol.records import INVALID_TARGETS_KEY, PUSH_SUCCESS_EXTRA


def upload_body(code: int, err_msg: str, upload_id: int | None = None) -> dict[str, Any]:
    """``{"retCode", "errMsg"}``, with ``uploadId`` once accepted."""
    body: dict[str, Any] = {"retCode": code, "errMsg": err_msg}
    if upload_id is not None:
        body["uploadId"] = upload_id
    return body


def push_body(
    code: int,
    err_msg: str,
    *,
    seq: int = 0,
    push_id: str = "",
    environment: str = "",
    result: str = "",
) -> dict[str, Any]:
    """The six keys of a refused push's answer; ``push_id`` and ``result`` empty."""
    return {
        "seq": seq,
        "push_id": push_id,
        "ret_code": code,
        "environment": environment,
        "err_msg": err_msg,
        "result": result,
    }


def upload_accepted(upload_id: int) -> JSONResponse:
    return JSONResponse(upload_body(0, "", upload_id))


def upload_refused(error: Refusal) -> JSONResponse:
    return JSONResponse(upload_body(error.code, error.err_msg), status_code=error.http_status)


def push_accepted_body(*, seq: int, push_id: str, environment: str) -> dict[str, Any]:
    """As Tencent sends it: besides ``seq``, ``push_id``, ``ret_code`` and ``environment``,
    ``err_msg`` "NO_ERROR", ``err_msg_zh``, ``result`` "{}" and ``invalid_targe_list``."""
    return {
        "seq": seq,
        "push_id": push_id,
        "ret_code": 0,
        "environment": environment,
        **PUSH_SUCCESS_EXTRA,
        INVALID_TARGETS_KEY: [],
    }


PUSH_ACCEPTED_EXAMPLE = push_accepted_body(seq=0, push_id="1", environment="product")


def push_accepted(*, seq: int, push_id: str, environment: str) -> JSONResponse:
    return JSONResponse(push_accepted_body(seq=seq, push_id=push_id, environment=environment))


def push_refused(error: Refusal, *, seq: int = 0, environment: str = "") -> JSONResponse:
    return JSONResponse(
        push_body(error.code, error.err_msg, seq=seq, environment=environment),
        status_code=error.http_status,
    )


def record_answer(code: int, err_msg: str, http_status: int = 200, **extra: Any) -> JSONResponse:
    """A push record's answer: ``{"retCode", "errMsg"}`` with ``pushRecordData`` (and
    ``count``) once found."""
    return JSONResponse({"retCode": code, "errMsg": err_msg, **extra}, status_code=http_status)


def refused_at(path: str, code: int, err_msg: str, http_status: int) -> JSONResponse:
    """An error in the shape of ``path``'s endpoint (what a fault answers): camelCase for the
    upload and statistics APIs, the push shape otherwise."""
    body = upload_body(code, err_msg) if camel_case(path) else push_body(code, err_msg)
    return JSONResponse(body, status_code=http_status)


def mock_error(error: str, message: str, status: int) -> JSONResponse:
    """A ``/_mock/`` endpoint's error: ``{"error": "not_found", "message": ...}``."""
    return JSONResponse({"error": error, "message": message}, status_code=status)
