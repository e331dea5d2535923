"""Every operation in the app's own OpenAPI schema, fuzzed by schemathesis: no 5xx, and every
response (status, content type, headers, body) is one the schema declares.

Runs against the in-process ASGI app (no sockets, so it stays fast enough for CI) on a real
store in a throwaway data dir, with valid credentials so the TPNS endpoints get past auth. TPNS
answers bad input with HTTP 200 and a retCode, so the checks that expect a 4xx for invalid data
(and a 2xx for valid data) do not apply; nor does the Allow-header check (see below); every
other default check does.
"""

from __future__ import annotations

import atexit
import base64
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    negative_data_rejection,
    positive_data_acceptance,
)
from tpns_mock.app import create_app
from tpns_mock.settings import DEFAULT_ACCESS_ID, DEFAULT_SECRET_KEY, Settings

pytestmark = pytest.mark.slow  # fuzzes every operation

BASIC = "Basic " + base64.b64encode(f"{DEFAULT_ACCESS_ID}:{DEFAULT_SECRET_KEY}".encode()).decode()


APP = create_app(Settings(data_dir=None))  # a throwaway data dir, removed at module end
# ...or at exit, when the module is only collected (`-m container`, `-k`, `--collect-only`)
atexit.register(APP.state.store.close)


async def app_without_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The app, its lifespan answered here: schemathesis opens a client (so a lifespan) per
    case, and the app's shutdown closes its store for good."""
    if scope["type"] != "lifespan":
        await APP(scope, receive, send)
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


schema = schemathesis.openapi.from_asgi("/openapi.json", app_without_lifespan)


@pytest.fixture(scope="module", autouse=True)
def _close_store() -> Iterator[None]:
    yield
    APP.state.store.close()


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_as_its_schema_says(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": BASIC},
        # unsupported_method: for a path with one route per method (GET and DELETE
        # /_mock/requests), Starlette's 405 names only the first route's method in Allow
        excluded_checks=[
            negative_data_rejection,
            positive_data_acceptance,
            allow_header_conformance,
        ],
    )
