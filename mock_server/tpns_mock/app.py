"""``create_app(settings)``: the one way to make a mock. No global state, so tests and the pytest
plugin can make as many independent mocks as they like.

``clock`` (:mod:`tpns_mock.clock`) is the mock's only source of "now": the signed TimeStamp's
window, the push rate limit, each push's progress and every record's time read it, so a test
sets time (``ManualClock``) instead of sleeping.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tpns_mock import __version__, docs, not_emulated, openapi
from tpns_mock.answers import refused_at
from tpns_mock.clock import Clock, SystemClock
from tpns_mock.errors import SERVICE_ERROR
from tpns_mock.guard import ControlPlaneGuard
from tpns_mock.middleware import FaultMiddleware, JournalMiddleware, is_tpns_path
from tpns_mock.redaction import install_access_log_redaction
from tpns_mock.routes import ca, control, dashboard, inspect, push, records, upload
from tpns_mock.settings import Settings
from tpns_mock.store import StorageError, Store
from tpns_mock.tls import CA_FILE


async def storage_failed(request: Request, exc: Exception) -> JSONResponse:
    """A storage failure outside the TPNS routes (which answer it as 1008004 themselves)."""
    if is_tpns_path(request.url.path):
        return refused_at(request.url.path, SERVICE_ERROR, f"{exc}; nothing was stored", 200)
    return JSONResponse({"error": "storage_unavailable", "message": str(exc)}, status_code=503)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """A mock with ``settings``; without them, the ``TPNS_MOCK_*`` environment's, with a
    throwaway data dir unless ``TPNS_MOCK_DATA_DIR`` names one (nothing is left behind in the
    working directory). ``clock`` (default: the real time) is the mock's only "now"."""
    if settings is None:
        settings = Settings.from_env()
        if not os.environ.get("TPNS_MOCK_DATA_DIR"):
            settings = replace(settings, data_dir=None)
    clock = SystemClock() if clock is None else clock
    store = Store(settings.data_dir, clock=clock)
    store.register_apps(sorted(settings.apps))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_access_log_redaction()  # uvicorn has configured its loggers by now
        yield
        store.close()

    app = FastAPI(
        title="tpns-mock",
        version=__version__,
        description="A local stand-in for Tencent Push Notification Service's number-package API.",
        lifespan=lifespan,
        docs_url=None,  # served by tpns_mock.docs, without CDNs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.clock = clock
    # served at /_mock/ca.pem; the CA exists once the server has prepared its TLS files
    app.state.ca_file = settings.tls_dir / CA_FILE if settings.tls and settings.tls_dir else None
    app.include_router(upload.router)
    app.include_router(inspect.router)
    app.include_router(push.router)
    app.include_router(records.router)
    app.include_router(control.router)
    app.include_router(ca.router)
    app.include_router(dashboard.router)
    not_emulated.install(app)
    # the last added is the outermost: the journal also sees what a fault answered
    app.add_middleware(FaultMiddleware, store=store)
    app.add_middleware(JournalMiddleware, store=store, keep=settings.journal_size)
    app.add_middleware(ControlPlaneGuard, allowed_hosts=settings.control_hosts())
    app.add_exception_handler(StorageError, storage_failed)
    install_access_log_redaction()
    docs.install(app)
    openapi.install(app)
    return app
