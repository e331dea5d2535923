"""The OpenAPI schema's auth: how ``/docs`` learns to sign in to the TPNS endpoints.

The routes authenticate by hand (``tpns_mock.auth``: Basic, or TPNS's AccessId/TimeStamp/Sign
headers), so FastAPI cannot see it. This adds both schemes to the schema and requires one of them
on every operation tagged ``TPNS``; the ``/_mock/`` endpoints stay open, as they are.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

TPNS_TAG = "TPNS"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "username = AccessId, password = SecretKey (curl's -u AccessId:SecretKey)",
    },
    "accessId": {"type": "apiKey", "in": "header", "name": "AccessId"},
    "timeStamp": {
        "type": "apiKey",
        "in": "header",
        "name": "TimeStamp",
        "description": "unix seconds; refused when further than --timestamp-window from now",
    },
    "sign": {
        "type": "apiKey",
        "in": "header",
        "name": "Sign",
        "description": "Base64(hex(HMAC-SHA256(SecretKey, TimeStamp + AccessId + body)))",
    },
}
# either Basic, or all three signature headers together
TPNS_SECURITY: list[dict[str, list[str]]] = [
    {"basic": []},
    {"accessId": [], "timeStamp": [], "sign": []},
]


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe the TPNS endpoints' auth."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    if TPNS_TAG in operation.get("tags", []):
                        operation.setdefault("security", TPNS_SECURITY)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
