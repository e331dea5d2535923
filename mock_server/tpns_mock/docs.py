"""``/docs`` and ``/redoc`` that work with no internet.

FastAPI's own pages load Swagger UI, ReDoc, Google Fonts and a favicon from CDNs, so on a plane,
behind a corporate proxy or in an air-gapped CI they render blank. These pages load the same
assets from the mock itself: the JavaScript, CSS and favicon come from the ``fastapi-offline``
package (MIT; it vendors the upstream Swagger UI and ReDoc distributions, both of which are
permissively licensed) and are served under ``/_mock/docs-assets/``. One thing in those bundles
still reaches out: ReDoc's footer shows Redocly's logo from their CDN, so that one image URL is
swapped for an inline blank image when the script is served.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/_mock/docs-assets"
ASSETS_PACKAGE = ("fastapi_offline", "static")

# Swagger UI's default validator badge is an <img> from validator.swagger.io: switch it off
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

REDOC_JS = "redoc.standalone.js"
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_IMAGE = b"data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="


@lru_cache(maxsize=1)
def redoc_js() -> bytes:
    """ReDoc's standalone bundle without its one external image."""
    package, folder = ASSETS_PACKAGE
    return (files(package) / folder / REDOC_JS).read_bytes().replace(REDOC_CDN_LOGO, BLANK_IMAGE)


def install(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the assets and both pages; ``app`` must be made with ``docs_url=redoc_url=None``."""

    @app.get(f"{ASSETS_PATH}/{REDOC_JS}", include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(
            redoc_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=3600"}
        )

    # after the route above, so that the patched ReDoc wins over the packaged file
    app.mount(ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")

    def asset(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_PATH}/{name}"

    def openapi_url(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{app.openapi_url}"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url(request),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset(request, "swagger-ui.css"),
            swagger_favicon_url=asset(request, "favicon.png"),
            oauth2_redirect_url=None,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url(request),
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset(request, REDOC_JS),
            redoc_favicon_url=asset(request, "favicon.png"),
            with_google_fonts=False,
        )
