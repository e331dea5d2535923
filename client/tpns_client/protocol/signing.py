"""Tencent's request signature, and HTTP Basic: the two ways an app proves who it is."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def signer(secret_key: str, timestamp: str, access_id: str) -> hmac.HMAC:
    """An HMAC-SHA256 primed with TimeStamp + AccessId: feed it the body, then :func:`finish`."""
    return hmac.new(secret_key.encode(), (timestamp + access_id).encode(), hashlib.sha256)


def finish(mac: hmac.HMAC) -> str:
    """The Sign: Base64 of the lowercase hex digest (not of the raw digest)."""
    return base64.b64encode(mac.hexdigest().encode()).decode()


def sign_chunks(secret_key: str, timestamp: str, access_id: str, chunks: Iterable[bytes]) -> str:
    """Tencent's Sign over a body given in pieces (a large upload is never held whole)."""
    mac = signer(secret_key, timestamp, access_id)
    for chunk in chunks:
        mac.update(chunk)
    return finish(mac)


def sign(secret_key: str, timestamp: str, access_id: str, body: bytes) -> str:
    """Tencent's Sign: Base64 of the lowercase hex HMAC-SHA256 of TimeStamp + AccessId + body."""
    return sign_chunks(secret_key, timestamp, access_id, (body,))


def basic_header(access_id: str, secret_key: str) -> str:
    """The ``Authorization`` value for HTTP Basic with AccessId and SecretKey."""
    return "Basic " + base64.b64encode(f"{access_id}:{secret_key}".encode()).decode()
