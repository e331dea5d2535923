"""What the mock says about a TPNS path it does not emulate, in TPNS's shape.

Tencent has tag, account and statistics APIs under ``/v3/`` that the mock does not emulate; an
app calling one must learn that from an answer it can decode (``ret_code``/``err_msg``, or
``retCode``/``errMsg`` where TPNS answers camelCase), naming the endpoints that are emulated,
rather than from FastAPI's ``{"detail": "Not Found"}``. Paths outside ``/v3/`` keep FastAPI's
answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from tpns_client.protocol.paths import API_PREFIX, EMULATED, PUSH_PATH, camel_case

from tpns_mock.errors import SERVICE_ERROR, TPNSError

EMULATED_TEXT = ", ".join(f"{method} {path}" for path, method in EMULATED.items())


def not_emulated_answer(method: str, path: str, http_status: int) -> dict[str, Any]:
    """The answer's body: the code, and a message naming what is emulated."""
    allowed = EMULATED.get(path)
    if allowed is not None:
        what = f"{method} {path} is not supported: TPNS takes {allowed} only"
    else:
        what = f"{path} is not emulated by tpns-mock"
    message = TPNSError(SERVICE_ERROR, f"{what}; the mock emulates {EMULATED_TEXT}").err_msg
    if camel_case(path):
        return {"retCode": SERVICE_ERROR, "errMsg": message}
    if path == PUSH_PATH:  # the push API's errors always carry its six keys
        return {
            "seq": 0,
            "push_id": "",
            "ret_code": SERVICE_ERROR,
            "environment": "",
            "err_msg": message,
            "result": "",
        }
    return {"ret_code": SERVICE_ERROR, "err_msg": message}


async def _answer(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code not in (404, 405) or not path.startswith(API_PREFIX):
        return await http_exception_handler(request, exc)
    body = not_emulated_answer(request.method, path, exc.status_code)
    headers = dict(exc.headers or {})
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _answer)
