"""What of a request may be written down: in the journal and in the server's access log.

Turned around from a list of dangerous names, which always misses one (``X-Passwd``,
``X-Api-Sig``, ``credential=``): every header keeps its name, but only the headers on a short
list of harmless ones keep their value; ``Authorization`` keeps its scheme. Every query
parameter keeps its name and loses its value, however the query is separated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

REDACTED = "[redacted]"
# headers whose values say how a request was sent, never who sent it or with what secret
HARMLESS_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "accessid",  # the app's public id; its secret is never in a header of its own
        "cache-control",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "expect",
        "host",
        "origin",
        "pragma",
        "te",
        "timestamp",
        "transfer-encoding",
        "user-agent",
    }
)
SCHEME_ONLY_HEADERS = frozenset({"authorization", "proxy-authorization"})


def redact_header(name: str, value: str) -> str:
    """``value`` if ``name`` is harmless; the scheme alone for Authorization; else redacted."""
    if name in HARMLESS_HEADERS:
        return value
    if name in SCHEME_ONLY_HEADERS:
        scheme, sep, _ = value.strip().partition(" ")
        if sep and scheme.isascii() and scheme.isalpha():
            return f"{scheme} {REDACTED}"
    return REDACTED


def redact_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers as ``name: value``, each value passed through :func:`redact_header`."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = redact_header(name, raw_value.decode("latin-1"))
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def redact_query(query: bytes | str) -> str:
    """Every parameter's name, every value redacted: ``a=1;sign=x&b`` -> ``a=[redacted]&...``.

    Split on ``&`` and ``;`` alike (servers differ on ``;``), so no value hides in a name.
    """
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    parts = []
    for item in text.replace(";", "&").split("&"):
        if not item:
            continue
        name, sep, _ = item.partition("=")
        shown = quote(unquote(name.replace("+", " ")), safe="")
        parts.append(f"{shown}={REDACTED}" if sep else shown)
    return "&".join(parts)


def redact_target(target: str) -> str:
    """A request target (path and query, as an access log prints it) with the query redacted."""
    path, sep, query = target.partition("?")
    return f"{path}?{redact_query(query)}" if sep else path


class AccessLogRedaction(logging.Filter):
    """Redacts the query of each line uvicorn's access log writes (``"GET /x?sign=... HTTP"``).

    uvicorn logs ``(client, method, path with query, HTTP version, status)`` as the record's
    arguments; the third is rewritten before any handler formats it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


def install_access_log_redaction(logger_name: str = "uvicorn.access") -> None:
    """Add :class:`AccessLogRedaction` to the access logger, once per process."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, AccessLogRedaction) for f in logger.filters):
        logger.addFilter(AccessLogRedaction())


def auth_scheme(headers: Mapping[str, str]) -> str | None:
    """Which of TPNS's schemes a request tried, by the precedence :func:`authenticate` uses:
    ``"basic"`` (an ``Authorization: Basic`` header), ``"sign"`` (AccessId/Sign headers), or
    None (no credentials, or another Authorization scheme)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme = authorization.strip().partition(" ")[0]
        return "basic" if scheme.lower() == "basic" else None
    if headers.get("accessid") is not None or headers.get("sign") is not None:
        return "sign"
    return None
