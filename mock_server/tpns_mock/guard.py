"""Keeps web pages away from the control plane (``/_mock/``), which has no auth by design.

Two attacks reach a mock on loopback from a browser: a page on another origin sending simple
requests (a form post, ``fetch`` with ``text/plain``) that change state without a CORS preflight,
and DNS rebinding, where a page's own name is made to resolve to 127.0.0.1 so that its requests
are same-origin and it can read the answers (uploaded account lists). So, under ``/_mock/``:

- the ``Host`` must be an expected name: loopback names and addresses, the compose service name,
  Starlette's in-process test name, the address the mock was bound to, and any name added with
  ``TPNS_MOCK_ALLOWED_HOSTS``; a rebinding page's ``Host`` is its own name, and is refused;
- a browser request from another origin is refused: an ``Origin`` other than the ``Host`` itself
  (or ``null``), or ``Sec-Fetch-Site: cross-site``/``same-site`` (another port on localhost is
  the same site but not the same origin);
- a request that changes state carries JSON or nothing: the content types a browser may send
  cross-origin without a preflight (``text/plain``, forms) are refused.

curl, the client and test code send no ``Origin`` and a loopback ``Host``, and pass unchanged;
a page the mock serves itself fetches same-origin, and passes too.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from tpns_mock.faults import ADMIN_PREFIX

# names that only ever reach this machine (or, for the service name, this compose network)
DEFAULT_HOSTS = frozenset({"localhost", "tpns-mock", "testserver"})
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def split_host(value: str) -> tuple[str, int | None]:
    """``Host`` header value -> (lower-case name without brackets or final dot, port)."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8080
        name, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
    else:
        name, port_text = value, ""
    port = int(port_text) if port_text.isascii() and port_text.isdigit() else None
    return name.rstrip("."), port


def host_allowed(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether ``name`` (from :func:`split_host`) is one the control plane answers to."""
    if name in DEFAULT_HOSTS or name.endswith(".localhost") or name in WILDCARD_ADDRESSES:
        return True
    if name in {h.strip().lower().strip("[]").rstrip(".") for h in extra}:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def same_origin(origin: str, host: str) -> bool:
    """Whether an ``Origin`` header names the scheme-default or given port of ``host``."""
    try:
        parts = urlsplit(origin.strip())
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return False
    name, port = split_host(host)
    default = DEFAULT_PORTS[parts.scheme]
    return parts.hostname.rstrip(".") == name and (origin_port or default) == (port or default)


def refusal(
    headers: dict[str, str], method: str, allowed_hosts: Iterable[str]
) -> tuple[int, str, str] | None:
    """(HTTP status, error, message) for a control-plane request to refuse, else None."""
    host = headers.get("host", "")
    name, _ = split_host(host)
    if host and not host_allowed(name, allowed_hosts):
        return (
            403,
            "forbidden_host",
            f"/_mock/ answers only to loopback names and addresses, not Host {host[:100]!r}; "
            "add the name with TPNS_MOCK_ALLOWED_HOSTS (or --allowed-hosts) if you reach the "
            "mock by it",
        )
    site = headers.get("sec-fetch-site", "").strip().lower()
    origin = headers.get("origin")
    if site in ("cross-site", "same-site") or (
        origin is not None and not (host and same_origin(origin, host))
    ):
        shown = origin if origin is not None else f"Sec-Fetch-Site: {site}"
        return (
            403,
            "forbidden_origin",
            f"/_mock/ refuses requests from web pages of other origins ({shown[:100]!r})",
        )
    if method not in SAFE_METHODS:
        content_type = headers.get("content-type")
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if content_type is not None and media_type != "application/json":
            return (
                415,
                "unsupported_media_type",
                f"/_mock/ takes a JSON body (Content-Type: application/json) or none, "
                f"not {content_type[:100]!r}",
            )
    return None


class ControlPlaneGuard:
    """Refuses control-plane requests from unexpected hosts and other origins (see above)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        refused = refusal(headers, scope["method"], self.allowed_hosts)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, error, message = refused
        body = json.dumps({"error": error, "message": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
