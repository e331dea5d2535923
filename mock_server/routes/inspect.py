"""``/_mock/``: not part of TPNS. Lets tests see what an app uploaded and start from a clean slate.

No auth, by design: the mock binds to loopback by default and holds no real data. These routes
only read and reset the store; they never re-implement a rule (accounts are re-read through
``package.iter_account_lines``, the same code that accepted them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from mock_server import __version__
from mock_server.package import Rules, iter_account_lines
from mock_server.store import Store, Upload

router = APIRouter(prefix="/_mock", tags=["mock inspection"])


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No such upload",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
                "example": {"error": "not_found", "message": "upload 7 not found"},
            }
        },
    }
}


def not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": f"{what} not found"}, status_code=404)


@router.get("/health", summary="Liveness: answers as soon as the server can serve")
async def health(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    return {"status": "ok", "version": __version__, "rules": settings.rules.value}


@router.get("/uploads", summary="Accepted uploads, newest first")
def list_uploads(
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    store = _store(request)
    uploads = store.list_uploads(limit=limit, offset=offset)
    return {"total": store.count_uploads(), "uploads": [u.public() for u in uploads]}


@router.get(
    "/uploads/{upload_id}",
    summary="One upload's metadata, with accountCount",
    responses=NOT_FOUND_RESPONSE,
)
def get_upload(request: Request, upload_id: int) -> Any:
    upload = _store(request).get_upload(upload_id)
    return upload.public() if upload else not_found(f"upload {upload_id}")


@router.get(
    "/uploads/{upload_id}/accounts",
    summary="The upload's accounts as parsed, one per line (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}, **NOT_FOUND_RESPONSE},
)
def get_accounts(request: Request, upload_id: int) -> Any:
    store = _store(request)
    upload = store.get_upload(upload_id)
    if upload is None:
        return not_found(f"upload {upload_id}")
    return StreamingResponse(
        _account_blocks(store, upload),
        media_type="text/plain; charset=utf-8",
        headers={"X-Account-Count": str(upload.account_count)},
    )


def _account_blocks(store: Store, upload: Upload) -> Iterator[bytes]:
    with store.package_path(upload).open("rb") as handle:
        yield from iter_account_lines(handle, upload.file_name, Rules(upload.rules), 2**62)


@router.post("/reset", summary="Forget every upload (ids keep increasing)")
def reset(request: Request) -> dict[str, str]:
    _store(request).reset()
    return {"status": "reset"}
