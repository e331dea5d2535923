"""``/_mock/``: not part of TPNS. Lets tests see what an app uploaded and start from a clean slate.

No auth, by design: the mock binds to loopback by default and holds no real data. These routes
only read and reset the store; they never re-implement a rule (accounts are re-read through
``package.iter_account_lines``, the same code that accepted them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from tpns_client.protocol.package import Rules, iter_account_lines

from tpns_mock import __version__, accounts
from tpns_mock.answers import mock_error
from tpns_mock.store import StorageError, Store, Upload, describe_failure

router = APIRouter(prefix="/_mock", tags=["mock inspection"])

# examples for the OpenAPI schema (and so for /docs and /redoc)
UPLOAD_EXAMPLE = {
    "uploadId": 1,
    "accessId": "1500000001",
    "fileName": "accounts.zip",
    "kind": "zip",
    "member": "accounts.txt",
    "rules": "seed",
    "uploadBytes": 134,
    "contentBytes": 10,
    "accountCount": 2,
    "sha256": "b57b869cbbbb9acaea861b223355b0df2647b45fa55f5895cc8e833ab76959a7",
    "createdAt": "2024-01-01T00:00:00.000+00:00",
}


def _example(example: Any) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"application/json": {"example": example}}}}


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "no such upload, push or fault (never made, or forgotten by a reset)",
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


MAX_ID = 2**63 - 1  # SQLite's largest integer


def storable_id(value: int) -> bool:
    """Whether ``value`` can be an id at all. Ids start at 1, and SQLite raises OverflowError
    for an integer past 64 bits, so any other value is answered "not found" without a query."""
    return 1 <= value <= MAX_ID


def not_found(what: str) -> JSONResponse:
    return mock_error("not_found", f"{what} not found", 404)


@router.get(
    "/health",
    summary="Liveness: answers as soon as the server can serve",
    responses=_example(
        {
            "status": "ok",
            "version": "0.1.0",
            "rules": "seed",
            "rateLimit": True,
            "pushInterval": 1.0,
            "timestampWindow": 600,
            "journalSize": 1000,
            "maxUploadBytes": 104857600,
            "maxInflatedBytes": 1073741824,
            "pid": 7,
        }
    ),
)
async def health(request: Request) -> Any:
    """What the container's healthcheck probes. 200 means requests are being served and the
    data dir takes writes (a write is tried at most once a second, and after any failure);
    503 (``"status": "unavailable"``) names why it does not.

    Also the settings a client's expectations depend on (the contract suite checks them before
    it starts); never the apps or their secrets."""
    settings = request.app.state.settings
    store = _store(request)
    if store.health_probe_fresh():
        problem = store.alive_problem()
    else:
        problem = await run_in_threadpool(store.health_problem)
    answer = {
        "status": "unavailable" if problem else "ok",
        "version": __version__,
        "rules": settings.rules.value,
        "rateLimit": settings.push_rate_limit,
        "pushInterval": settings.push_interval_s,
        "timestampWindow": settings.timestamp_window_s,
        "journalSize": settings.journal_size,
        "maxUploadBytes": settings.max_upload_bytes,
        "maxInflatedBytes": settings.max_inflated_bytes,
        "pid": os.getpid(),  # which process answered: with --workers N there are N
    }
    if problem:
        return JSONResponse({**answer, "reason": problem}, status_code=503)
    return answer


@router.get(
    "/uploads",
    summary="Accepted uploads, newest first",
    responses=_example({"total": 1, "uploads": [UPLOAD_EXAMPLE]}),
)
def list_uploads(
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31),
    access_id: str | None = Query(None, alias="accessId"),
) -> dict[str, Any]:
    """Every accepted upload's metadata, paged with ``limit`` and ``offset``; refusals are
    never listed."""
    store = _store(request)
    uploads = store.list_uploads(limit=limit, offset=offset, access_id=access_id)
    return {"total": store.count_uploads(access_id), "uploads": [u.public() for u in uploads]}


# an uploadId as TPNS answers it: decimal digits only (no sign, no "_", no spaces, which int()
# would take: "1_0" is not upload 10)
UploadId = Annotated[str, Path(pattern=r"^[0-9]+$", examples=["1"])]


def _find_upload(store: Store, upload_id: str) -> Upload | None:
    if len(upload_id) > 20:  # past any int64 (and int()'s 4300-digit limit): no such upload
        return None
    number = int(upload_id)
    return store.get_upload(number) if storable_id(number) else None


@router.get(
    "/uploads/{upload_id}",
    summary="One upload's metadata, with accountCount",
    responses={**_example(UPLOAD_EXAMPLE), **NOT_FOUND_RESPONSE},
)
def get_upload(request: Request, upload_id: UploadId) -> Any:
    """What the mock recorded for the uploadId it answered: file name, sizes, accounts."""
    upload = _find_upload(_store(request), upload_id)
    return upload.public() if upload else not_found(f"upload {upload_id}")


@router.get(
    "/uploads/{upload_id}/accounts",
    summary="The upload's accounts as parsed, one per line (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {"example": "alice\nbob\n"}}}, **NOT_FOUND_RESPONSE},
)
def get_accounts(request: Request, upload_id: UploadId) -> Any:
    """The accounts exactly as the mock read them (BOM and CRs dropped), one per line, with
    their count in ``X-Account-Count``."""
    store = _store(request)
    upload = _find_upload(store, upload_id)
    if upload is None:
        return not_found(f"upload {upload_id}")
    # opened before the answer starts: a reset that removes the file after this point cannot
    # cut the stream short (the open file outlives its name)
    handle = _open_package(store, upload)
    if handle is None:
        return not_found(f"upload {upload_id}")  # forgotten by a reset a moment ago
    return StreamingResponse(
        _account_blocks(handle, upload),
        media_type="text/plain; charset=utf-8",
        headers={"X-Account-Count": str(upload.account_count)},
    )


def _open_package(store: Store, upload: Upload) -> BinaryIO | None:
    """The upload's package, open for reading; None if a reset removed it a moment ago."""
    try:
        return store.open_package(upload)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StorageError(f"could not read the package: {describe_failure(error)}") from None


def _account_blocks(handle: BinaryIO, upload: Upload) -> Iterator[bytes]:
    with handle:
        yield from iter_account_lines(handle, upload.file_name, Rules(upload.rules), 2**62)


@router.get(
    "/uploads/{upload_id}/accounts/page",
    summary="One page of the upload's accounts, optionally only those holding a text",
    responses={
        **_example(
            {
                "uploadId": 1,
                "accountCount": 2,
                "q": "",
                "offset": 0,
                "limit": 100,
                "accounts": [{"line": 1, "account": "alice"}, {"line": 2, "account": "bob"}],
                "more": False,
                "matches": None,
            }
        ),
        **NOT_FOUND_RESPONSE,
    },
)
def get_account_page(
    request: Request,
    upload_id: UploadId,
    offset: int = Query(0, ge=0, le=2**31),
    limit: int = Query(100, ge=1, le=1000),
    q: str = Query("", max_length=100, description="only accounts holding this (any case)"),
) -> Any:
    """Accounts with their line numbers, a page at a time, so a reader of a million-account
    upload never receives more than one page. ``more`` says whether a next page exists;
    ``matches`` counts a search's matches once the last page is reached."""
    store = _store(request)
    upload = _find_upload(store, upload_id)
    if upload is None:
        return not_found(f"upload {upload_id}")
    handle = _open_package(store, upload)
    if handle is None:
        return not_found(f"upload {upload_id}")
    found = accounts.page(_account_blocks(handle, upload), offset=offset, limit=limit, query=q)
    return {
        "uploadId": upload.id,
        "accountCount": upload.account_count,
        "q": q,
        "offset": offset,
        "limit": limit,
        "accounts": [{"line": line, "account": account} for line, account in found.accounts],
        "more": found.more,
        "matches": found.matches,
    }


@router.get(
    "/settings",
    summary="What this mock enforces: rules, apps (AccessIds only), limits",
    responses=_example(
        {
            "version": "0.1.0",
            "rules": "seed",
            "accessIds": ["1500000001"],
            "rateLimit": {"enabled": True, "intervalS": 1.0},
            "timestampWindowS": 600,
            "maxUploadBytes": 104857600,
            "maxInflatedBytes": 1073741824,
            "journalSize": 1000,
            "workers": 1,
        }
    ),
)
def get_settings(request: Request) -> dict[str, Any]:
    """The settings a developer asks about when a call is refused. AccessIds only: a SecretKey
    is never shown, not even in part."""
    settings = request.app.state.settings
    return {
        "version": __version__,
        "rules": settings.rules.value,
        "accessIds": sorted(settings.apps),
        "rateLimit": {"enabled": settings.push_rate_limit, "intervalS": settings.push_interval_s},
        "timestampWindowS": settings.timestamp_window_s,
        "maxUploadBytes": settings.max_upload_bytes,
        "maxInflatedBytes": settings.max_inflated_bytes,
        "journalSize": settings.journal_size,
        "workers": settings.workers,
    }


@router.post(
    "/reset",
    summary="Forget every upload, push, journal entry and fault (ids keep increasing)",
    responses=_example({"status": "reset"}),
)
def reset(request: Request) -> dict[str, str]:
    """Start a test from a clean slate. The next uploadId still follows the last one given."""
    _store(request).reset()
    return {"status": "reset"}
