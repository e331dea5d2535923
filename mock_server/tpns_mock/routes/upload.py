"""``POST /v3/push/package/upload``: the number-package upload, answered as TPNS answers it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import closing
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from tpns_client.protocol.paths import UPLOAD_PATH

from tpns_mock.answers import upload_accepted, upload_refused
from tpns_mock.auth import Caller, authenticate
from tpns_mock.body import Started, drain, expects_continue
from tpns_mock.errors import SERVICE_ERROR, UPLOAD_FILE_ERROR, TPNSError
from tpns_mock.form import receive_file
from tpns_mock.intake import Intake
from tpns_mock.middleware import STATE_ACCESS_ID
from tpns_mock.settings import Settings
from tpns_mock.store import StorageError, Store, StoreFull, describe_failure

router = APIRouter()


# the shapes of the answers, declared so the OpenAPI schema says what the route really sends
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["retCode", "errMsg"],
    "properties": {
        "retCode": {"type": "integer", "description": "0 on success, else a TPNS return code"},
        "errMsg": {"type": "string"},
        "uploadId": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["retCode", "errMsg"],
    "properties": {"retCode": {"type": "integer"}, "errMsg": {"type": "string"}},
}

UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "retCode 0 with the uploadId, or a business error (1008011, ...)",
            "content": {
                "application/json": {
                    "schema": ANSWER_SCHEMA,
                    "examples": {
                        "accepted": {"value": {"retCode": 0, "errMsg": "", "uploadId": 1}},
                        "refused": {
                            "value": {
                                "retCode": 1008011,
                                "errMsg": "upload file error: line 2: account is 1 characters"
                                " long; each account must be 2 to 100 characters",
                            }
                        },
                    },
                }
            },
        },
        "403": {
            "description": "auth failure (retCode 1008003)",
            "content": {
                "application/json": {
                    "schema": ERROR_SCHEMA,
                    "example": {
                        "retCode": 1008003,
                        "errMsg": "auth failure: AccessId and SecretKey do not match a known app",
                    },
                }
            },
        },
        "408": {
            "description": "the body stalled or took too long (retCode 1008011)",
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        },
    },
}


@router.post(
    UPLOAD_PATH,
    summary="Upload a number package (a zip holding one txt, one account per line)",
    openapi_extra=UPLOAD_OPENAPI,
    tags=["TPNS"],
)
async def upload_package(request: Request) -> JSONResponse:
    """Authenticate (Basic or Sign), read the ``file`` part, check it against the upload rules,
    and store it under a new uploadId. A refusal names the rule broken and stores nothing."""
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    body = Started(request.stream())
    try:
        caller = authenticate(
            request.headers,
            settings.apps,
            settings.timestamp_window_s,
            request.app.state.clock.now(),
        )
        length = declared_length(request.headers)
        with (
            store.incoming(length) as arriving,
            closing(
                Intake(
                    arriving.handle,
                    settings.rules,
                    settings.max_inflated_bytes,
                    expected_bytes=length,
                )
            ) as intake,
        ):
            try:
                # the package is written, hashed and checked in one pass as it arrives
                received = await receive_file(
                    body,
                    request.headers.get("content-type", ""),
                    length,
                    intake,
                    max_file_bytes=settings.max_upload_bytes,
                    idle_timeout_s=settings.body_idle_timeout_s,
                    deadline_s=settings.body_deadline_s,
                    on_chunk=caller.feed_body,
                    on_file=intake.start,
                )
            except TPNSError as error:
                intake.close()
                if not body.started and expects_continue(request.headers):
                    return upload_refused(error)  # refused before the client sent its body
                return await _refuse_body(error, body, caller)
            caller.verify_body()
            setattr(request.state, STATE_ACCESS_ID, caller.access_id)
            summary = await intake.verdict(received.file_name)
            # a file stays open (and locked) until it is in place, so no recovering worker
            # mistakes it for a crashed upload's debris
            # inline: a rename and one short SQLite transaction cost less than a thread hop
            upload = store.add_upload(
                arriving,
                access_id=caller.access_id,
                file_name=received.file_name,
                kind=summary.kind,
                member=summary.member,
                rules=settings.rules.value,
                upload_bytes=received.size,
                content_bytes=summary.content_bytes,
                account_count=summary.account_count,
                sha256=intake.sha256(),
            )
    except TPNSError as error:
        return upload_refused(error)
    except StoreFull as error:
        return upload_refused(TPNSError(SERVICE_ERROR, str(error)))
    except StorageError as error:
        return upload_refused(TPNSError(SERVICE_ERROR, f"{error}; nothing was stored"))
    except OSError as error:  # writing the arriving upload to the data dir's tmp/
        return upload_refused(
            TPNSError(
                SERVICE_ERROR,
                f"could not store the upload: {describe_failure(error)}; nothing was stored",
            )
        )
    except ClientDisconnect:
        return upload_refused(TPNSError(UPLOAD_FILE_ERROR, "the client disconnected mid-upload"))
    return upload_accepted(upload.id)


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The body's length as its framing fixes it, or None when only its end will tell.

    A chunked body is as long as its chunks say, whatever a Content-Length beside it claims
    (RFC 9112, section 6.3; the HTTP server reads it chunked): trusting the claim would keep a
    body of any size in memory as a small package.
    """
    if "transfer-encoding" in headers:
        return None
    value = headers.get("content-length")
    return int(value) if value and value.isdigit() else None


async def _refuse_body(
    error: TPNSError, body: AsyncIterator[bytes], caller: Caller
) -> JSONResponse:
    """Refuse a body that broke a form rule, but check a signed request's Sign first.

    The Sign covers the whole body, so the rest is read (within the drain bounds) and fed to it:
    a wrong Sign is then 1008003 whatever else is wrong, as for any other endpoint. A body too
    big to drain, or one that stalled, keeps its own refusal; its Sign cannot be checked.
    """
    if error.http_status == 408:
        return upload_refused(error)
    if await drain(body, caller.feed_body) and caller.signed:
        try:
            caller.verify_body()
        except TPNSError as auth_error:
            return upload_refused(auth_error)
    return upload_refused(error)
