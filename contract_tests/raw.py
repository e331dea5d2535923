"""The raw-request helper the contract tests share: multipart bodies and auth headers built here,
by hand, so the suite tests what a client other than ours may send (and does not trust our client
to be right about the signature)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import struct
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

UPLOAD = "/v3/push/package/upload"
PUSH = "/v3/push/app"
Auth = Literal["sign", "basic", "none"]


@dataclass
class Answer:
    status: int
    body: Any  # the parsed JSON, or None
    headers: httpx.Headers

    @property
    def ret_code(self) -> Any:
        """The upload's ``retCode`` or the push's ``ret_code``."""
        if not isinstance(self.body, dict):
            return None
        return self.body.get("retCode", self.body.get("ret_code"))


def tencent_sign(secret: str, timestamp: str, access_id: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), (timestamp + access_id).encode() + body, hashlib.sha256)
    return base64.b64encode(digest.hexdigest().encode()).decode()


def multipart(
    content: bytes, file_name: str = "accounts.zip", field_name: str = "file"
) -> tuple[bytes, str]:
    boundary = "contract-boundary-7d1f"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; '
        f'filename="{file_name}"\r\nContent-Type: application/zip\r\n\r\n'
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


@dataclass
class Api:
    """Raw TPNS requests against the target under test."""

    http: httpx.AsyncClient
    access_id: str
    secret_key: str = field(repr=False)  # pytest prints a failing test's fixtures

    def auth_headers(
        self,
        body: bytes,
        auth: Auth = "sign",
        *,
        secret: str | None = None,
        access_id: str | None = None,
        timestamp: int | None = None,
    ) -> dict[str, str]:
        secret = self.secret_key if secret is None else secret
        access_id = self.access_id if access_id is None else access_id
        if auth == "basic":
            token = base64.b64encode(f"{access_id}:{secret}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        if auth == "sign":
            stamp = str(int(time.time()) if timestamp is None else timestamp)
            return {
                "AccessId": access_id,
                "TimeStamp": stamp,
                "Sign": tencent_sign(secret, stamp, access_id, body),
            }
        return {}

    async def post(
        self, path: str, body: bytes, content_type: str, auth: Auth = "sign", **auth_options: Any
    ) -> Answer:
        headers = {"Content-Type": content_type, **self.auth_headers(body, auth, **auth_options)}
        response = await self.http.post(path, content=body, headers=headers)
        try:
            data = response.json()
        except ValueError:
            data = None
        return Answer(response.status_code, data, response.headers)

    async def upload(
        self,
        content: bytes,
        file_name: str = "accounts.zip",
        *,
        field_name: str = "file",
        auth: Auth = "sign",
        **auth_options: Any,
    ) -> Answer:
        body, content_type = multipart(content, file_name, field_name)
        return await self.post(UPLOAD, body, content_type, auth, **auth_options)

    async def push(
        self,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        auth: Auth = "sign",
        **auth_options: Any,
    ) -> Answer:
        """``POST /v3/push/app`` with ``payload`` as JSON, or ``raw`` bytes as they are."""
        body = raw if raw is not None else json.dumps(payload).encode()
        return await self.post(PUSH, body, "application/json", auth, **auth_options)

    # -- /_mock/ inspection (mock targets only) ------------------------------------------------

    async def upload_count(self) -> int:
        response = await self.http.get("/_mock/uploads", params={"limit": 1})
        response.raise_for_status()
        return int(response.json()["total"])

    async def accounts(self, upload_id: int) -> list[str]:
        response = await self.http.get(f"/_mock/uploads/{upload_id}/accounts")
        response.raise_for_status()
        return response.text.split("\n")[:-1]


# -- packages ------------------------------------------------------------------------------------


def make_zip(
    files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED, mode: int | None = None
) -> bytes:
    """A zip holding ``files`` in order; ``mode`` sets unix mode bits (file type included)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if mode is not None:
                info.create_system = 3
                info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def accounts_zip(accounts: list[str], newline: str = "\n") -> bytes:
    return make_zip({"accounts.txt": (newline.join(accounts) + newline).encode()})


def with_flag(content: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit in every local and central header (bit 0: encrypted)."""
    data = bytearray(content)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        (flags,) = struct.unpack_from("<H", data, at + offset)
        struct.pack_into("<H", data, at + offset, flags | bit)
    return bytes(data)


def claiming_size(content: bytes, size: int) -> bytes:
    """Make the central directory claim the (single) entry inflates to ``size`` bytes."""
    data = bytearray(content)
    at = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, at + 24, size)
    return bytes(data)
