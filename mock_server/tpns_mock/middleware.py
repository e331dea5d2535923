"""Two pure ASGI middlewares around the TPNS endpoints: the request journal and fault injection.

Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one hands the route a re-wrapped
body stream and buffers the response, and the upload streams up to 100 MiB. Here ``receive`` is
passed through untouched; only the (small, JSON) answer is looked at, to read its return code.

Only TPNS endpoints are journaled and can be failed; the admin plane (``/_mock/``) and the docs
pages never are, so a test can always inspect and reset the mock. Both keep their state in the
store (SQLite), so several worker processes share one journal and one set of faults.
"""

from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

import anyio
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tpns_mock.answers import refused_at
from tpns_mock.body import asgi_body, drain, expects_continue
from tpns_mock.faults import ADMIN_PREFIX
from tpns_mock.redaction import auth_scheme, redact_headers, redact_query
from tpns_mock.store import Fault, StorageError, Store, describe_failure

DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
MAX_JOURNALED_BODY = 64 * 1024  # answers past this are not parsed for their return code

# keys routes and the fault middleware set in ``scope["state"]`` for the journal to read
STATE_ACCESS_ID = "tpns_access_id"
STATE_FAULT_ID = "tpns_fault_id"
STATE_DROPPED = "tpns_dropped"


def is_tpns_path(path: str) -> bool:
    """Everything but the admin plane and the docs pages."""
    admin = path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
    return not admin and path not in DOCS_PATHS


LOG = logging.getLogger("tpns_mock")


def _journal_failed(exc: Exception) -> None:
    LOG.warning("the request journal could not record a request: %s", describe_failure(exc))


def _host(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return bytes(value).decode("latin-1")
    return None


def _answer_code(body: bytes) -> tuple[int | None, str | None]:
    """The return code and errMsg of a JSON answer (either endpoint's shape), else Nones.

    The errMsg names the rule a refusal broke, so the journal keeps it: it is what someone
    reading the journal (or the dashboard) wants to know first. Answers never carry a
    credential, so nothing here needs redacting."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = data.get("retCode", data.get("ret_code"))
    message = data.get("errMsg", data.get("err_msg"))
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        message if isinstance(message, str) else None,
    )


class JournalMiddleware:
    """Records each TPNS request: method, path, status, return code and errMsg, duration, safe
    headers."""

    def __init__(self, app: ASGIApp, store: Store, keep: int) -> None:
        self.app = app
        self.store = store
        self.keep = keep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.keep <= 0 or not is_tpns_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        answer: dict[str, Any] = {"status": None, "json": False, "body": bytearray()}
        recorded = False

        async def record(failed: bool = False) -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            body = bytes(answer["body"])
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in scope.get("headers", [])
            }
            dropped = bool(state.get(STATE_DROPPED))
            status = answer["status"]
            code, message = _answer_code(body) if len(body) <= MAX_JOURNALED_BODY else (None, None)
            entry = {
                "time": self.store.stamp(),
                "method": scope["method"],
                # the name the client addressed (an app reaching "Tencent" by a hosts entry,
                # --resolve or a network alias shows here), and whether over TLS
                "host": _host(scope),
                "scheme": scope.get("scheme", "http"),
                "path": scope["path"],
                "query": redact_query(scope.get("query_string", b"")),
                "status": None if dropped else (500 if failed and status is None else status),
                "retCode": code,
                "errMsg": message,
                "durationMs": round((time.perf_counter() - started) * 1000, 1),
                "accessId": state.get(STATE_ACCESS_ID),
                "faultId": state.get(STATE_FAULT_ID),
                "dropped": dropped,
                "auth": auth_scheme(headers),
                "headers": redact_headers(scope.get("headers", [])),
            }
            # inline: one short WAL append costs less than handing it to a thread and back
            try:
                self.store.add_request(entry, self.keep)
            except Exception as exc:  # the answer matters more than its journal entry
                _journal_failed(exc)

        async def journaling_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                answer["json"] = content_type.startswith(b"application/json")
            elif message["type"] == "http.response.body":
                body: bytearray = answer["body"]
                if answer["json"] and len(body) <= MAX_JOURNALED_BODY:
                    body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    # recorded before the last byte leaves: a client that reads the journal
                    # as soon as it has its answer always finds the entry
                    await record()
            await send(message)

        try:
            await self.app(scope, receive, journaling_send)
        except BaseException:
            await record(failed=True)
            raise
        await record()


class FaultMiddleware:
    """Answers a TPNS request with an armed fault, before the route ever sees it."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_tpns_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        # most requests meet no fault: asking costs one read, inline; only a candidate is
        # taken (a write transaction) on a thread
        fault = None
        try:
            if self.store.fault_armed(scope["path"], scope["method"]):
                fault = await anyio.to_thread.run_sync(
                    self.store.take_fault, scope["path"], scope["method"], fires
                )
        except StorageError:
            fault = None  # the route meets the same failure and answers it in its shape
        if fault is None:
            await self.app(scope, receive, send)
            return
        spec = json.loads(fault.spec)
        state: dict[str, Any] = scope.setdefault("state", {})
        state[STATE_FAULT_ID] = fault.id
        if spec["delayMs"]:
            await anyio.sleep(spec["delayMs"] / 1000)
        if spec["action"] == "delay":
            await self.app(scope, receive, send)
        elif spec["action"] == "drop":
            state[STATE_DROPPED] = True
            await _drop_connection(receive, send)
        else:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            if not expects_continue(headers):  # else the client waits: nothing to drain
                await drain(asgi_body(receive))
            response = refused_at(
                scope["path"], spec["retCode"], spec["errMsg"], spec["httpStatus"]
            )
            await response(scope, receive, send)


def fires(fault: Fault, action: str | None = None) -> bool:
    """Whether ``fault`` fires for one matching request: by its probability, and, when
    ``action`` is given, only if it is that action's fault. Without ``action``, a ``fail``
    fault never fires here: the push route takes it once the push is accepted."""
    spec = json.loads(fault.spec)
    if (spec["action"] == "fail") != (action == "fail"):
        return False
    probability = float(spec["probability"])
    return probability >= 1.0 or random.random() < probability


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by a drop fault where the connection cannot be aborted (in-process transports).

    Starlette's TestClient and httpx's ASGITransport re-raise an app's exception to the caller,
    so an in-process test sees the same httpx error as a client of a live server.
    """


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Close the connection without a byte of answer, as a network failure would.

    ASGI has no "close" message, and a server whose app returns without answering sends a 500,
    which is not what a dropped connection looks like. Under uvicorn the ``receive`` callable
    belongs to the request cycle that holds the socket's transport, so it is aborted directly
    and we wait until the server has seen the disconnect (it then neither answers nor logs).
    Anywhere else: start an answer (so no server turns this into a 500) and raise; a server
    closes the connection mid-answer, an in-process transport hands the error to the caller.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None and callable(getattr(transport, "abort", None)):
        transport.abort()
        with anyio.move_on_after(5):
            while (await receive())["type"] != "http.disconnect":
                pass
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
        }
    )
    raise ConnectionDropped("Server disconnected without sending a response (a drop fault).")
