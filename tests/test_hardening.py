"""Inputs at the edges of what the push, fault and inspection routes can hold: lone surrogates,
ids past 64 bits, non-ASCII digits, huge counts, oversized and trickling bodies, a busy
database. Each gets a clear answer, never a 5xx, and nothing is stored half-way."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import AUTH, Mock
from pushing import APPS, OTHER_APP, PUSH, PUSH_KEYS, android, package_push, push, pushes
from test_push import refused, uploaded
from tpns_mock.app import create_app
from tpns_mock.errors import PUSH_TARGET_NOT_FOUND, TPNSError
from tpns_mock.faults import MAX_BODY_BYTES, MAX_TIMES
from tpns_mock.push import check_push, check_target
from tpns_mock.settings import Settings
from tpns_mock.store import SlotTaken, Store

LONE = b"\\ud800"  # as JSON text: an escape UTF-8 cannot encode
HUGE = "99999999999999999999999"


@pytest.fixture
def mock(make_mock: Callable[..., Mock]) -> Mock:
    return make_mock(apps=APPS)


# -- lone surrogates in a push -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            b'{"message_type":"notify","message":{"title":"' + LONE + b'","content":"c"},'
            b'"audience_type":"account_list","account_list":["alice"]}',
            "'message.title'",
        ),
        (
            b'{"message_type":"notify","message":{"title":"t","content":"c"},'
            b'"audience_type":"account_list","account_list":["alice","b' + LONE + b'"]}',
            "'account_list[1]'",
        ),
        (
            b'{"message_type":"notify","message":{"title":"t","content":"c","' + LONE + b'":1},'
            b'"audience_type":"all"}',
            "'message.<key>'",
        ),
    ],
)
def test_lone_surrogate_is_1008007_naming_the_field(mock: Mock, raw: bytes, field: str) -> None:
    refused(mock, None, 1008007, field, "surrogate", raw=raw)


def test_a_surrogate_pair_is_one_character_and_is_accepted(mock: Mock) -> None:
    raw = (
        b'{"message_type":"notify","message":{"title":"\\ud83d\\ude00","content":"c"},'
        b'"audience_type":"account_list","account_list":["alice"]}'
    )
    assert push(mock, None, raw=raw)["ret_code"] == 0
    assert pushes(mock)[0]["request"]["message"]["title"] == "\U0001f600"


def test_a_push_refused_for_a_surrogate_leaves_the_rate_limit_slot_free(mock: Mock) -> None:
    upload_id = uploaded(mock, ["alice", "bob"])
    raw = (
        b'{"audience_type":"package_account_push","upload_id":%d,"message_type":"notify",'
        b'"message":{"title":"' % upload_id + LONE + b'","content":"c"}}'
    )
    assert push(mock, None, raw=raw)["ret_code"] == 1008007
    assert push(mock, package_push(upload_id))["ret_code"] == 0


def _push_fields(body: str = "{}") -> dict[str, Any]:
    return {
        "access_id": AUTH[0],
        "audience_type": "all",
        "message_type": "notify",
        "platform": "android",
        "environment": "product",
        "seq": 0,
        "upload_id": None,
        "target_count": None,
        "body": body,
    }


def test_store_claims_the_slot_and_stores_the_push_in_one_transaction(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    try:
        with pytest.raises(UnicodeEncodeError):  # SQLite cannot store it: the claim rolls back
            store.add_push(**_push_fields('{"t": "\ud800"}'), slot="push:a", interval_s=60)
        assert store.count_pushes() == 0
        store.add_push(**_push_fields(), slot="push:a", interval_s=60, now=1000.0)
        with pytest.raises(SlotTaken) as taken:
            store.add_push(**_push_fields(), slot="push:a", interval_s=60, now=1010.0)
        assert taken.value.wait_s == pytest.approx(50.0)
        assert store.count_pushes() == 1
        store.add_push(**_push_fields(), slot="push:b", interval_s=60, now=1010.0)
        assert store.count_pushes() == 2
    finally:
        store.close()


# -- the target rules, apart from HTTP ---------------------------------------------------------


def test_check_target_takes_only_the_callers_own_upload(mock: Mock) -> None:
    store: Store = mock.client.app.state.store  # type: ignore[attr-defined]
    upload_id = uploaded(mock, ["alice", "bob"])
    request = check_push(package_push(upload_id))
    upload = store.get_upload(upload_id)
    assert check_target(request, AUTH[0], upload, store.open_package) == upload
    for access_id, found in [(OTHER_APP[0], upload), (AUTH[0], None)]:
        with pytest.raises(TPNSError) as error:
            check_target(request, access_id, found, store.open_package)
        assert error.value.code == PUSH_TARGET_NOT_FOUND


# -- ids a path cannot hold --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/_mock/uploads/{HUGE}"),
        ("GET", f"/_mock/uploads/{HUGE}/accounts"),
        ("GET", f"/_mock/uploads/-{HUGE}"),
        ("GET", f"/_mock/uploads/{2**63}"),
        ("GET", f"/_mock/pushes/{HUGE}"),
        ("GET", "/_mock/pushes/%C2%B2"),  # "²": a digit to str.isdigit, not to int()
        ("DELETE", f"/_mock/faults/{HUGE}"),
        ("DELETE", f"/_mock/faults/{2**63}"),
    ],
)
def test_ids_that_cannot_exist_are_a_json_404(mock: Mock, method: str, path: str) -> None:
    response = mock.client.request(method, path)
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"


def test_a_push_id_in_full_width_digits_is_not_the_ascii_one(mock: Mock) -> None:
    push_id = push(mock, android(audience_type="account_list", account_list=["a"]))["push_id"]
    assert mock.client.get(f"/_mock/pushes/{push_id}").status_code == 200
    full_width = "".join(chr(ord(c) - ord("0") + 0xFF10) for c in push_id)
    assert mock.client.get(f"/_mock/pushes/{full_width}").status_code == 404


# -- fault bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"path":"/v3/push/app","retCode":1,"times":%d}' % 10**20, "'times'"),
        (b'{"path":"/v3/push/app","retCode":1,"times":%d}' % (MAX_TIMES + 1), "'times'"),
        (b'{"path":"/v3/' + LONE + b'","retCode":1}', "'path'"),
        (b'{"path":"/v3/push/app","retCode":1,"errMsg":"' + LONE + b'"}', "'errMsg'"),
        (b'{"path":"/v3/push/app","retCode":1,"errMsg":"%s"}' % (b"x" * 5000), "'errMsg'"),
        (b'{"path":"/v3/push/app","retCode":1,"method":"\\u00c4"}', "'method'"),
    ],
)
def test_fault_fields_past_their_bounds_are_422(mock: Mock, raw: bytes, field: str) -> None:
    response = mock.client.post("/_mock/faults", content=raw)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_fault"
    assert field in response.json()["message"]
    assert mock.client.get("/_mock/faults").json()["faults"] == []


def test_the_largest_times_is_armed(mock: Mock) -> None:
    response = mock.client.post(
        "/_mock/faults", json={"path": PUSH, "retCode": 1, "times": MAX_TIMES}
    )
    assert response.status_code == 201, response.text
    assert response.json()["remaining"] == MAX_TIMES


def test_a_fault_body_past_its_cap_is_413(mock: Mock) -> None:
    raw = b'{"path":"/v3/push/app","retCode":1,"errMsg":"%s"}' % (b"x" * MAX_BODY_BYTES)
    response = mock.client.post("/_mock/faults", content=raw)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "too_large"
    assert f"{MAX_BODY_BYTES:,} bytes" in response.json()["message"]
    assert mock.client.get("/_mock/faults").json()["faults"] == []


# -- bodies in time, and a busy database -------------------------------------------------------


def _asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tpns-mock")


async def _stall(first: bytes) -> AsyncIterator[bytes]:
    yield first
    await asyncio.sleep(10)


async def _trickle(first: bytes) -> AsyncIterator[bytes]:
    yield first
    for _ in range(100):
        await asyncio.sleep(0.05)
        yield b" "


@pytest.mark.parametrize(
    ("body", "words"),
    [(_stall, "no data for 0.3 s"), (_trickle, "longer than 0.6 s")],
)
def test_a_stalled_or_trickling_push_body_is_408(
    tmp_path: Path, body: Callable[[bytes], AsyncIterator[bytes]], words: str
) -> None:
    settings = replace(
        Settings(), data_dir=tmp_path / "data", body_idle_timeout_s=0.3, body_deadline_s=0.6
    )
    app = create_app(settings)

    async def send() -> httpx.Response:
        async with _asgi_client(app) as client:
            return await asyncio.wait_for(
                client.post(PUSH, content=body(b'{"audience_type":'), auth=AUTH), timeout=5
            )

    try:
        response = asyncio.run(send())
        assert response.status_code == 408, response.text
        answer = response.json()
        assert set(answer) == PUSH_KEYS
        assert answer["ret_code"] == 1008001
        assert words in answer["err_msg"]
        assert app.state.store.count_pushes() == 0
    finally:
        app.state.store.close()


def test_arming_a_fault_on_a_busy_database_does_not_stall_other_requests(tmp_path: Path) -> None:
    app = create_app(replace(Settings(), data_dir=tmp_path / "data"))
    holder = sqlite3.connect(
        tmp_path / "data" / "tpns-mock.sqlite3", isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")  # as another worker process mid-write would
    release = threading.Timer(1.5, lambda: holder.execute("COMMIT"))

    async def race() -> tuple[float, int, int]:
        async with _asgi_client(app) as client:
            started = time.monotonic()
            release.start()
            arming = asyncio.ensure_future(
                client.post("/_mock/faults", json={"path": PUSH, "retCode": 1})
            )
            await asyncio.sleep(0.2)
            health = await client.get("/_mock/health")
            answered_s = time.monotonic() - started
            return answered_s, health.status_code, (await arming).status_code

    try:
        answered_s, health_status, fault_status = asyncio.run(race())
        assert health_status == 200 and fault_status == 201
        assert answered_s < 1.0, "the event loop waited for the database lock"
    finally:
        release.join()
        holder.close()
        app.state.store.close()
