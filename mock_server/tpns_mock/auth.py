"""Which app is calling: HTTP Basic or Tencent's signature, else 1008003 (HTTP 403).

The signature covers the raw body, which for an upload can be 100 MiB: so the headers are checked
before the body is read, and the body is fed to :class:`Caller` as it streams past; the Sign is
compared once the body is complete. Comparisons are constant-time; messages never echo a secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from tpns_client.protocol.signing import SignatureCheck, basic_header, sign

from tpns_mock.errors import auth_failure

__all__ = ["Caller", "basic_header", "sign"]


@dataclass
class Caller:
    """An app whose credentials matched; with a signature, only once the body has been seen."""

    access_id: str
    _check: SignatureCheck | None = field(default=None, repr=False)

    @property
    def signed(self) -> bool:
        return self._check is not None

    def feed_body(self, chunk: bytes) -> None:
        if self._check is not None:
            self._check.feed(chunk)

    def verify_body(self) -> None:
        """1008003 naming the likely mistake (never the expected Sign) unless the Sign fits."""
        if self._check is None:
            return
        mistake = self._check.mistake()
        if mistake is not None:
            raise auth_failure(mistake)


def authenticate(
    headers: Mapping[str, str],
    apps: Mapping[str, str],
    window_s: int,
    now: float | None = None,
) -> Caller:
    """Check the headers; for a signed request the caller must still ``verify_body()``."""
    authorization = headers.get("authorization")
    if authorization:
        return _basic(authorization, apps)
    access_id = headers.get("accessid")
    if access_id is not None or headers.get("sign") is not None:
        return _signed(headers, apps, window_s, time.time() if now is None else now)
    raise auth_failure(
        "no credentials: send Authorization: Basic base64(AccessId:SecretKey), "
        "or the AccessId, TimeStamp and Sign headers"
    )


def _basic(authorization: str, apps: Mapping[str, str]) -> Caller:
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise auth_failure("Authorization must use the Basic scheme")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text, bad UTF-8
        raise auth_failure(
            "Authorization: Basic value is not base64 of AccessId:SecretKey"
        ) from None
    access_id, sep, secret = decoded.partition(":")
    known = apps.get(access_id)
    if not sep or known is None or not hmac.compare_digest(known.encode(), secret.encode()):
        raise auth_failure("AccessId and SecretKey do not match a known app")
    return Caller(access_id)


def _signed(
    headers: Mapping[str, str], apps: Mapping[str, str], window_s: int, now: float
) -> Caller:
    access_id = headers.get("accessid", "")
    timestamp = headers.get("timestamp", "")
    given = headers.get("sign", "")
    missing = [
        n for n, v in (("AccessId", access_id), ("TimeStamp", timestamp), ("Sign", given)) if not v
    ]
    if missing:
        raise auth_failure(f"signature auth needs the {', '.join(missing)} header(s)")
    secret = apps.get(access_id)
    if secret is None:
        if timestamp in apps and _digits(access_id):
            raise auth_failure(
                "the AccessId and TimeStamp headers are swapped: AccessId carries the app's id, "
                "TimeStamp the unix time in seconds"
            )
        raise auth_failure("AccessId is not a known app")
    if not (_digits(timestamp) and len(timestamp) <= 12):
        if _digits(timestamp) and len(timestamp) == 13 and abs(now - int(timestamp) / 1000) < 86400:
            raise auth_failure(
                "TimeStamp is in milliseconds (13 digits); send unix time in seconds (10 digits)"
            )
        raise auth_failure("TimeStamp must be unix seconds")
    drift = abs(now - int(timestamp))
    if drift > window_s:
        raise auth_failure(
            f"TimeStamp is {drift:.0f} s from the server clock; at most {window_s} s is allowed"
        )
    return Caller(access_id, SignatureCheck(secret, timestamp, access_id, given))


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
