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


# -- naming a wrong Sign ---------------------------------------------------------------------
# Bodies past this are not fed to the extra HMAC that recognises swapped fields: an upload may
# be 100 MiB, and hashing it twice to name a mistake is not worth the time.
DIAGNOSIS_BODY_LIMIT = 1024 * 1024

_ENCODINGS = (
    ("right", lambda d: base64.b64encode(d.hex().encode()).decode()),
    (
        "raw-digest",
        lambda d: base64.b64encode(d).decode(),
    ),
    ("hex-only", lambda d: d.hex()),
    ("upper-hex", lambda d: base64.b64encode(d.hex().upper().encode()).decode()),
)
_ENCODING_MISTAKES = {
    "raw-digest": "it is Base64 of the raw HMAC-SHA256 digest; Base64-encode the digest's "
    "lowercase hex string instead (the hex step is missing)",
    "hex-only": "it is the hex HMAC-SHA256 digest without Base64; Base64-encode that 64-character "
    "hex string (the Base64 step is missing)",
    "upper-hex": "it is Base64 of the upper-case hex digest; the hex must be lowercase",
}
_MESSAGE_MISTAKES = {
    "no-body": "it was signed without the body; sign TimeStamp + AccessId + the raw body, "
    "byte for byte as sent",
    "swapped": "AccessId and TimeStamp are swapped in what was signed; sign TimeStamp + AccessId "
    "+ body, in that order",
}


class SignatureCheck:
    """Checks a Sign against a body fed in pieces and, when it does not match, names the
    mistake that fits: the digest Base64-encoded without hex, hex without Base64, the body
    left out, AccessId and TimeStamp swapped. The message never holds the expected Sign."""

    def __init__(self, secret_key: str, timestamp: str, access_id: str, given: str) -> None:
        self._given = given
        self._mac: hmac.HMAC = signer(secret_key, timestamp, access_id)
        self._no_body = signer(secret_key, timestamp, access_id).digest()
        self._swapped: hmac.HMAC | None = hmac.new(
            secret_key.encode(), (access_id + timestamp).encode(), hashlib.sha256
        )
        self._fed = 0

    def __repr__(self) -> str:
        return "SignatureCheck()"  # the HMAC state is derived from the secret

    def feed(self, chunk: bytes) -> None:
        self._mac.update(chunk)
        self._fed += len(chunk)
        if self._swapped is not None:
            if self._fed > DIAGNOSIS_BODY_LIMIT:
                self._swapped = None
            else:
                self._swapped.update(chunk)

    def mistake(self) -> str | None:
        """None when the Sign matches; else what is wrong with it, as plainly as known."""
        digest = self._mac.digest()
        if hmac.compare_digest(finish_digest(digest).encode(), self._given.encode()):
            return None
        candidates = [("right", digest), ("no-body", self._no_body)]
        if self._swapped is not None:
            candidates.append(("swapped", self._swapped.digest()))
        for message, candidate in candidates:
            for encoding, encode in _ENCODINGS:
                if (message, encoding) == ("right", "right"):
                    continue
                if hmac.compare_digest(encode(candidate).encode(), self._given.encode()):
                    found = [_MESSAGE_MISTAKES.get(message), _ENCODING_MISTAKES.get(encoding)]
                    return "Sign does not match: " + "; and ".join(m for m in found if m)
        return (
            "Sign does not match TimeStamp + AccessId + body for this AccessId, and is none of "
            "the usual mistakes (hex or Base64 step missing, body left out, fields swapped): "
            "check the SecretKey"
        )


def finish_digest(digest: bytes) -> str:
    """The Sign for a raw HMAC-SHA256 digest: Base64 of its lowercase hex."""
    return base64.b64encode(digest.hex().encode()).decode()
