"""``create_app(settings)``: the one way to make a mock. No global state, so tests and the pytest
plugin can make as many independent mocks as they like.

``clock`` (wall-clock seconds, like ``time.time``) is the mock's only source of "now": the
signed TimeStamp's window, the push rate limit and every record's time read it, so a test can
set time instead of sleeping.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI

from tpns_mock import __version__, docs, openapi
from tpns_mock.middleware import FaultMiddleware, JournalMiddleware
from tpns_mock.routes import control, inspect, push, upload
from tpns_mock.settings import Settings
from tpns_mock.store import Store


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], float] = time.time
) -> FastAPI:
    """A mock with ``settings``; without them, the ``TPNS_MOCK_*`` environment's, with a
    throwaway data dir unless ``TPNS_MOCK_DATA_DIR`` names one (nothing is left behind in the
    working directory)."""
    if settings is None:
        settings = Settings.from_env()
        if not os.environ.get("TPNS_MOCK_DATA_DIR"):
            settings = replace(settings, data_dir=None)
    store = Store(settings.data_dir, clock=clock)
    store.register_apps(sorted(settings.apps))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
    app.include_router(upload.router)
    app.include_router(inspect.router)
    app.include_router(push.router)
    app.include_router(control.router)
    # the last added is the outermost: the journal also sees what a fault answered
    app.add_middleware(FaultMiddleware, store=store)
    app.add_middleware(JournalMiddleware, store=store, keep=settings.journal_size)
    docs.install(app)
    openapi.install(app)
    return app
