"""``/docs`` and ``/redoc`` load nothing from outside the mock, and the schema they render
describes every endpoint with examples."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.resources import files
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from conftest import Mock
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from tpns_mock import docs

ANY_URL = re.compile(rb"https?://[^\s\"'`<>)]+")
CSS_LOADS = re.compile(rb"""url\(\s*["']?([^"')\s]+)|@import\s+(?:url\()?\s*["']?([^"')\s;]+)""")
# where a script makes the browser fetch something by itself: an element's src, a worker's
# importScripts, a fetch, a CSS url() written from JavaScript
JS_LOADS = re.compile(
    rb"""(?:\bsrc\s*[:=]\s*|importScripts\(\s*|fetch\(\s*|url\(\s*)["'`]?(https?://[^"'`)\s]+)"""
)


class References(HTMLParser):
    """Every URL an HTML page makes the browser load: script src, link href, img src, ..."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.spec_urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in ("script", "img", "iframe") and values.get("src"):
            self.loads.append(values["src"])
        if tag == "link" and values.get("href"):
            self.loads.append(values["href"])
        if tag == "redoc" and values.get("spec-url"):
            self.spec_urls.append(values["spec-url"])


def external(url: str, page_url: str) -> bool:
    """True if ``url``, as found on ``page_url``, points anywhere but the page's own server."""
    return urlsplit(urljoin(page_url, url)).netloc != urlsplit(page_url).netloc


def external_loads(page_url: str, html: str) -> list[str]:
    """What a page would load from elsewhere: any absolute URL in it, or a foreign reference."""
    parser = References()
    parser.feed(html)
    found = [u.decode() for u in ANY_URL.findall(html.encode())]
    found += [u for u in parser.loads if external(u, page_url)]
    return found


def test_checker_catches_fastapis_cdn_pages() -> None:
    """FastAPI's default pages load from CDNs; the checks below must see that."""
    swagger = get_swagger_ui_html(openapi_url="/openapi.json", title="t").body.decode()
    redoc = get_redoc_html(openapi_url="/openapi.json", title="t").body.decode()
    assert any("cdn.jsdelivr.net" in u for u in external_loads("http://testserver/docs", swagger))
    assert any("fonts.googleapis" in u for u in external_loads("http://testserver/redoc", redoc))
    packaged = (files("fastapi_offline") / "static" / docs.REDOC_JS).read_bytes()
    assert JS_LOADS.findall(packaged), "the packaged ReDoc fetches its footer logo from a CDN"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_and_their_assets_load_nothing_external(mock: Mock, page: str) -> None:
    page_url = f"http://testserver{page}"
    response = mock.client.get(page)
    assert response.status_code == 200
    html = response.text
    assert external_loads(page_url, html) == []
    parser = References()
    parser.feed(html)
    assert len(parser.loads) >= 2, "expected the page's script and favicon (and Swagger's CSS)"
    for ref in parser.loads:
        asset = mock.client.get(urljoin(page_url, ref))
        assert asset.status_code == 200, ref
        assert len(asset.content) > 0, ref
        if ref.endswith(".css"):
            for match in CSS_LOADS.finditer(asset.content):
                target = (match.group(1) or match.group(2)).decode()
                assert target.startswith("data:") or not external(target, page_url), target
        if ref.endswith(".js"):
            assert JS_LOADS.findall(asset.content) == [], ref
    if page == "/redoc":
        assert "fonts.googleapis" not in html
        assert [u for u in parser.spec_urls if not external(u, page_url)] == ["/openapi.json"]
    else:
        assert "url: '/openapi.json'" in html
        assert '"validatorUrl": null' in html  # no badge image from validator.swagger.io


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": op
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }


def _has_example(op: dict[str, Any]) -> bool:
    text = repr(op)
    return "'example'" in text or "'examples'" in text


def test_schema_describes_tpns_and_inspection_endpoints_with_examples(mock: Mock) -> None:
    schema = mock.client.get("/openapi.json").json()
    ops = _operations(schema)
    expected = {
        "POST /v3/push/package/upload",
        "GET /_mock/health",
        "GET /_mock/uploads",
        "GET /_mock/uploads/{upload_id}",
        "GET /_mock/uploads/{upload_id}/accounts",
        "POST /_mock/reset",
    }
    assert expected <= set(ops)
    for name in expected:
        assert ops[name].get("summary"), name
        assert ops[name].get("description"), name
        assert _has_example(ops[name]), f"{name} has no example"
    upload = ops["POST /v3/push/package/upload"]
    assert upload["security"], "Swagger UI needs to know how to authenticate the upload"
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"http", "apiKey"}
    assert not any(o.get("security") for n, o in ops.items() if n.split()[1].startswith("/_mock"))
