"""Requests exactly as Tencent's SDKs and documented examples build them are accepted.

Each file in ``sdk_corpus/`` is one request (headers and body bytes) reconstructed from an SDK's
source or a Tencent document, named in its ``source`` and ``derivation`` fields: every audience
type, Android and iOS, upload and push. The SDKs serialize differently from the documents'
examples: Go and PHP write every field they were not given as ``""``, ``0``, ``false`` or
``null``, Java writes ``"platform": "all"`` and empty lists. Only credentials and the
``upload_id`` (``{{...}}``) are filled in here; the rest is sent byte for byte. The Go and PHP
bodies were checked against Go's ``encoding/json`` and PHP's ``json_encode`` given the SDKs'
structs and property defaults.

Against Tencent, the pushes need ``--tpns-allow-push`` (they target made-up accounts, tokens
and tags, but ``all`` reaches every device of the app).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from contract_tests.conftest import Target
from contract_tests.raw import Api, accounts_zip, tencent_sign

pytestmark = pytest.mark.anyio

CORPUS = Path(__file__).parent / "sdk_corpus"
ACCOUNTS = ["tpns-contract-a", "tpns-contract-b"]
TOKENS = [f"00000000-0000-4000-8000-{n:012d}" for n in (1, 2)]
SUCCESS_KEYS = {
    "seq",
    "push_id",
    "ret_code",
    "environment",
    "err_msg",
    "err_msg_zh",
    "result",
    "invalid_targe_list",
}


def load() -> list[Any]:
    cases = []
    for path in sorted(CORPUS.glob("*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        marks = [pytest.mark.push] if entry["kind"] == "push" else []
        cases.append(pytest.param(entry, id=path.stem, marks=marks))
    return cases


def fill(entry: dict[str, Any], api: Api, upload_id: int | None) -> tuple[bytes, dict[str, str]]:
    """The request's body and headers with the target's credentials and upload_id."""
    request = entry["request"]
    if "body_base64" in request:
        body = base64.b64decode(request["body_base64"])
    else:
        text = request["body"]
        if upload_id is not None:
            text = text.replace("{{upload_id}}", str(upload_id))
        body = text.encode("utf-8")
    timestamp = str(int(time.time()))
    values = {
        "{{basic}}": base64.b64encode(f"{api.access_id}:{api.secret_key}".encode()).decode(),
        "{{access_id}}": api.access_id,
        "{{timestamp}}": timestamp,
        "{{sign}}": tencent_sign(api.secret_key, timestamp, api.access_id, body),
    }
    headers = {}
    for name, value in request["headers"]:
        for placeholder, real in values.items():
            value = value.replace(placeholder, real)
        headers[name] = value
    return body, headers


def test_the_corpus_covers_every_audience_both_platforms_and_uploads() -> None:
    entries = [json.loads(p.read_text(encoding="utf-8")) for p in CORPUS.glob("*.json")]
    pushes = [e for e in entries if e["kind"] == "push"]
    audiences = {e["audience_type"] for e in pushes}
    assert audiences == {
        "all",
        "tag",
        "token",
        "token_list",
        "account",
        "account_list",
        "package_account_push",
        "package_token_push",
    }
    assert {e["platform"] for e in pushes} == {"android", "ios"}
    assert {e["client"] for e in entries if e["kind"] == "upload"} >= {
        "Tencent Go SDK",
        "Tencent PHP SDK",
    }
    for entry in entries:
        assert entry["source"] and entry["derivation"], entry


@pytest.mark.parametrize("entry", load())
async def test_sdk_request_is_accepted(entry: dict[str, Any], api: Api, target: Target) -> None:
    if target.mock:
        (await api.http.post("/_mock/reset")).raise_for_status()
    else:
        await asyncio.sleep(1.1)  # Tencent's one push per second
    upload_id = None
    if entry["needs_upload"]:
        lines = TOKENS if entry["needs_upload"] == "tokens" else ACCOUNTS
        uploaded = await api.upload(accounts_zip(lines))
        assert uploaded.body["retCode"] == 0, uploaded.body
        upload_id = int(uploaded.body["uploadId"])
    body, headers = fill(entry, api, upload_id)
    request = entry["request"]
    response = await api.http.post(request["path"], content=body, headers=headers)
    answer = response.json()
    assert response.status_code == 200, answer
    if entry["kind"] == "upload":
        assert answer["retCode"] == 0, answer
        assert isinstance(answer["uploadId"], int) and answer["uploadId"] > 0
        return
    assert answer["ret_code"] == 0, answer
    assert set(answer) == SUCCESS_KEYS, answer
    assert answer["err_msg"] == "NO_ERROR" and answer["push_id"].isdigit(), answer
    if target.mock:  # the mock kept the request as sent
        seen = (await api.http.get(f"/_mock/pushes/{answer['push_id']}")).json()
        assert seen["request"] == json.loads(body)
