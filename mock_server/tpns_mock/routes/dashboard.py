"""``GET /_mock/ui``: a page for looking at what an app sent, served by the mock itself.

The page, its script, style and icon are files in the package (``tpns_mock/dashboard/``),
hand-written with no build step and no third-party code, so it works offline and installs with
the wheel. It reads and changes the mock only through the ``/_mock/`` JSON endpoints, with
same-origin requests. Its Content-Security-Policy lets it load nothing and talk to nothing but
this server, so even a hostile file name or account that slipped into the markup could not
make the browser reach out.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(prefix="/_mock", include_in_schema=False)

PAGE = "index.html"
# every file the page may load, with its media type; nothing else is served from the folder
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # the files change only with the package; revalidating is cheap on loopback
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    return (files("tpns_mock") / "dashboard" / name).read_bytes()


@router.get("/ui")
def page() -> Response:
    return Response(_read(PAGE), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/ui/{name}")
def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        return Response(
            b'{"error": "not_found", "message": "no such dashboard file"}',
            status_code=404,
            media_type="application/json",
        )
    return Response(_read(name), media_type=media_type, headers=HEADERS)
