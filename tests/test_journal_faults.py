"""The request journal and fault injection: in process, and on a live server where the network
path is the point (a delay past the client's timeout, a dropped connection)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import AUTH, UPLOAD, LiveServer, Mock, start_server
from fastapi.testclient import TestClient
from pushing import APPS, OTHER_APP, PUSH, android, package_push, push, signed_headers
from tpns_mock.app import create_app
from tpns_mock.middleware import FaultMiddleware, JournalMiddleware
from tpns_mock.settings import Settings
from tpns_mock.store import Store
from zips import accounts_zip


@pytest.fixture
def mock(make_mock: Callable[..., Mock]) -> Mock:
    return make_mock(apps=APPS, push_rate_limit=False)


def journal(mock: Mock) -> list[dict[str, Any]]:
    response = mock.client.get("/_mock/requests")
    assert response.status_code == 200
    return response.json()["requests"]  # type: ignore[no-any-return]


def arm(client: TestClient | httpx.Client, **fault: Any) -> dict[str, Any]:
    response = client.post("/_mock/faults", json=fault)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


# -- the journal -------------------------------------------------------------------------------


def test_journal_records_tpns_calls_newest_first(mock: Mock) -> None:
    upload = mock.upload(accounts_zip(["alice", "bob"]))
    push(mock, package_push(upload["uploadId"]))
    push(mock, android(message_type="alert"))
    mock.client.get("/_mock/uploads")  # the admin plane is not journaled

    entries = journal(mock)
    assert [(e["method"], e["path"], e["status"], e["retCode"]) for e in entries] == [
        ("POST", PUSH, 200, 1008007),
        ("POST", PUSH, 200, 0),
        ("POST", UPLOAD, 200, 0),
    ]
    assert all(e["accessId"] == AUTH[0] for e in entries)
    assert all(isinstance(e["durationMs"], float) and e["durationMs"] >= 0 for e in entries)
    assert entries[0]["headers"]["content-type"] == "application/json"
    assert entries[0]["id"] > entries[1]["id"] > entries[2]["id"]


def test_journal_records_auth_failures_and_unknown_paths(mock: Mock) -> None:
    push(mock, android(), auth=None)
    mock.client.post("/v3/push/nowhere", json={})
    entries = journal(mock)
    assert (entries[0]["path"], entries[0]["status"], entries[0]["retCode"]) == (
        "/v3/push/nowhere",
        404,
        1008004,
    )
    assert (entries[1]["status"], entries[1]["retCode"], entries[1]["accessId"]) == (
        403,
        1008003,
        None,
    )


def test_journal_keeps_only_the_newest_entries(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(journal_size=3, push_rate_limit=False)
    for seq in range(5):
        push(mock, android(seq=seq))
    body = mock.client.get("/_mock/requests").json()
    assert body["total"] == 3 and body["keep"] == 3
    assert [e["id"] for e in body["requests"]] == [5, 4, 3]
    assert mock.client.get("/_mock/pushes").json()["total"] == 5  # pushes are not trimmed


def test_journal_can_be_cleared_and_switched_off(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock()
    push(mock, android())
    assert len(journal(mock)) == 1
    assert mock.client.delete("/_mock/requests").status_code == 200
    assert journal(mock) == []

    off = make_mock(journal_size=0)
    push(off, android())
    assert journal(off) == []


def test_reset_clears_the_journal_and_faults(mock: Mock) -> None:
    push(mock, android())
    arm(mock.client, path=PUSH, retCode=1008028)
    mock.client.post("/_mock/reset")
    assert journal(mock) == []
    assert mock.client.get("/_mock/faults").json()["faults"] == []


def test_journal_never_holds_a_secret_or_a_signature(mock: Mock) -> None:
    secrets: list[str] = []
    for access_id, secret in (AUTH, OTHER_APP):
        token = base64.b64encode(f"{access_id}:{secret}".encode()).decode()
        secrets += [secret, token]
        # Basic: accepted upload, accepted push
        mock.upload(accounts_zip(["alice", "bob"]), auth=(access_id, secret))
        push(mock, android(), auth=(access_id, secret))
        # signed: accepted, then the same Sign on a tampered body
        raw = json.dumps(android()).encode()
        headers = signed_headers(access_id, secret, raw)
        secrets.append(headers["Sign"])
        assert mock.client.post(PUSH, content=raw, headers=headers).json()["ret_code"] == 0
        assert mock.client.post(PUSH, content=raw + b" ", headers=headers).status_code == 403
    # a wrong secret is a secret too, and so is one sent in a header or query of its own
    wrong = "wrong-secret-that-must-not-leak"
    wrong_token = base64.b64encode(f"{AUTH[0]}:{wrong}".encode()).decode()
    secrets += [wrong, wrong_token]
    push(mock, android(), auth=(AUTH[0], wrong))
    mock.client.post(
        f"{PUSH}?secretKey={wrong}&x=1",
        content=b"{}",
        headers={"X-Api-Key": wrong, "SecretKey": wrong, "Proxy-Authorization": f"Basic {wrong}"},
    )

    entries = journal(mock)
    assert len(entries) == 10
    text = mock.client.get("/_mock/requests").text
    for secret in secrets:
        assert secret not in text
    basic = [e for e in entries if "authorization" in e["headers"]]
    assert basic and all(e["headers"]["authorization"] == "Basic [redacted]" for e in basic)
    signed = [e for e in entries if "sign" in e["headers"]]
    assert len(signed) == 4 and all(e["headers"]["sign"] == "[redacted]" for e in signed)
    assert signed[0]["headers"]["accessid"] in (AUTH[0], OTHER_APP[0])  # not a secret
    assert entries[0]["query"] == "secretKey=[redacted]&x=[redacted]"
    # nor do the other admin views or any answer
    for view in ("/_mock/pushes", "/_mock/uploads", "/_mock/faults"):
        body = mock.client.get(view).text
        assert not any(secret in body for secret in secrets), view


def test_journal_and_faults_hand_the_route_the_servers_own_receive(tmp_path: Path) -> None:
    """Nothing between the server and the upload route may buffer the 100 MiB body."""
    seen: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    store = Store(tmp_path / "data")
    try:
        stack = JournalMiddleware(FaultMiddleware(app, store), store, keep=10)
        scope = {"type": "http", "method": "POST", "path": UPLOAD, "headers": []}
        anyio.run(stack, scope, receive, send)
        assert seen == [receive]
        assert store.count_requests() == 1
    finally:
        store.close()


# -- faults: arming and validation -------------------------------------------------------------


def test_fault_is_armed_with_its_defaults(mock: Mock) -> None:
    fault = arm(mock.client, path=PUSH, retCode=1008028)
    assert fault["path"] == PUSH
    assert fault["action"] == "error"
    assert (fault["retCode"], fault["errMsg"], fault["httpStatus"]) == (
        1008028,
        "request too fast",
        200,
    )
    assert (fault["times"], fault["remaining"], fault["fired"]) == (1, 1, 0)
    assert fault["probability"] == 1.0 and fault["delayMs"] == 0
    assert arm(mock.client, path=PUSH, retCode=1008003)["httpStatus"] == 403
    assert len(mock.client.get("/_mock/faults").json()["faults"]) == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "'path' is required"),
        ({"path": "v3/push/app", "retCode": 1}, "'path'"),
        ({"path": "/_mock/uploads", "retCode": 1}, "/_mock/"),
        ({"path": PUSH}, "'retCode' is required"),
        ({"path": PUSH, "retCode": "1008028"}, "'retCode'"),
        ({"path": PUSH, "retCode": 1, "httpStatus": 99}, "'httpStatus'"),
        ({"path": PUSH, "retCode": 1, "httpStatus": 600}, "'httpStatus'"),
        ({"path": PUSH, "retCode": 1, "delayMs": -1}, "'delayMs'"),
        ({"path": PUSH, "retCode": 1, "delayMs": 10**9}, "'delayMs'"),
        ({"path": PUSH, "retCode": 1, "times": 0}, "'times'"),
        ({"path": PUSH, "retCode": 1, "times": 1.5}, "'times'"),
        ({"path": PUSH, "retCode": 1, "probability": 1.5}, "'probability'"),
        ({"path": PUSH, "retCode": 1, "probability": True}, "'probability'"),
        ({"path": PUSH, "retCode": 1, "errMsg": 5}, "'errMsg'"),
        ({"path": PUSH, "retCode": 1, "retcode": 2}, "unknown field"),
        ({"path": PUSH, "action": "explode"}, "'action'"),
        ({"path": PUSH, "action": "drop", "retCode": 1}, "no effect"),
        ({"path": PUSH, "action": "delay"}, "'delayMs'"),
        ({"path": PUSH, "retCode": 1, "method": "PO ST"}, "'method'"),
        ([{"path": PUSH}], "JSON object"),
    ],
)
def test_bad_fault_bodies_are_422_naming_the_field(mock: Mock, body: Any, words: str) -> None:
    response = mock.client.post("/_mock/faults", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_fault"
    assert words in response.json()["message"]
    assert mock.client.get("/_mock/faults").json()["faults"] == []


def test_fault_body_that_is_not_json_is_400(mock: Mock) -> None:
    response = mock.client.post("/_mock/faults", content=b"{path: /v3}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_faults_can_be_disarmed_one_by_one_or_all(mock: Mock) -> None:
    first = arm(mock.client, path=PUSH, retCode=1008028, times=None)
    arm(mock.client, path=UPLOAD, retCode=1008011, times=None)
    assert mock.client.delete(f"/_mock/faults/{first['id']}").status_code == 204
    assert mock.client.delete(f"/_mock/faults/{first['id']}").status_code == 404
    assert push(mock, android())["ret_code"] == 0
    assert mock.client.delete("/_mock/faults").status_code == 200
    assert mock.upload(accounts_zip(["alice", "bob"]))["retCode"] == 0


# -- faults: answering -------------------------------------------------------------------------


def test_fault_answers_1008028_once_then_the_push_goes_through(mock: Mock) -> None:
    fault = arm(mock.client, path=PUSH, retCode=1008028, errMsg="request too fast", times=1)
    first = push(mock, android())
    assert (first["_status"], first["ret_code"], first["err_msg"]) == (
        200,
        1008028,
        "request too fast",
    )
    assert mock.client.get("/_mock/pushes").json()["total"] == 0  # the route never ran
    retry = push(mock, android())
    assert retry["ret_code"] == 0 and retry["push_id"]

    listed = mock.client.get("/_mock/faults").json()["faults"]
    assert [(f["id"], f["fired"], f["remaining"]) for f in listed] == [(fault["id"], 1, 0)]
    entries = journal(mock)
    assert [(e["retCode"], e["faultId"]) for e in entries] == [(0, None), (1008028, fault["id"])]


def test_fault_on_upload_answers_in_the_upload_shape(mock: Mock) -> None:
    arm(mock.client, path=UPLOAD, retCode=1008011, errMsg="upload file error", httpStatus=503)
    response = mock.client.post(
        UPLOAD, files={"file": ("a.zip", accounts_zip(["alice", "bob"]))}, auth=AUTH
    )
    assert response.status_code == 503
    assert response.json() == {"retCode": 1008011, "errMsg": "upload file error"}
    assert mock.client.get("/_mock/uploads").json()["total"] == 0
    assert mock.upload(accounts_zip(["alice", "bob"]))["retCode"] == 0


def test_fault_matches_its_method_and_path_only(mock: Mock) -> None:
    arm(mock.client, path=PUSH, retCode=1008004, method="get", times=None)
    assert push(mock, android())["ret_code"] == 0
    assert mock.client.get(PUSH).json()["ret_code"] == 1008004


def test_fault_with_times_null_fires_every_time_and_probability_0_never(mock: Mock) -> None:
    arm(mock.client, path=PUSH, retCode=1008028, times=None, probability=0.0)
    arm(mock.client, path=PUSH, retCode=1008004, times=None)
    assert [push(mock, android())["ret_code"] for _ in range(3)] == [1008004] * 3
    fired = [f["fired"] for f in mock.client.get("/_mock/faults").json()["faults"]]
    assert fired == [0, 3]


def test_delay_fault_slows_the_answer_then_handles_it_normally(mock: Mock) -> None:
    arm(mock.client, path=PUSH, action="delay", delayMs=300)
    started = time.monotonic()
    answer = push(mock, android())
    assert time.monotonic() - started >= 0.3
    assert answer["ret_code"] == 0
    assert journal(mock)[0]["durationMs"] >= 300


def test_drop_fault_in_process_raises_the_error_a_live_client_sees(mock: Mock) -> None:
    arm(mock.client, path=PUSH, action="drop")
    with pytest.raises(httpx.RemoteProtocolError, match="disconnected without sending"):
        mock.client.post(PUSH, json=android(), auth=AUTH)
    assert push(mock, android())["ret_code"] == 0
    assert [(e["status"], e["dropped"]) for e in journal(mock)] == [(200, False), (None, True)]


def test_times_is_taken_atomically_across_mocks_sharing_a_data_dir(tmp_path: Path) -> None:
    settings = replace(Settings(), data_dir=tmp_path / "shared", push_rate_limit=False)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        arm(first, path=PUSH, retCode=1008028, times=3)
        raw = json.dumps(android()).encode()
        codes: list[int] = []
        barrier = threading.Barrier(10)

        def send(client: TestClient) -> None:
            barrier.wait()
            codes.append(client.post(PUSH, content=raw, auth=AUTH).json()["ret_code"])

        threads = [threading.Thread(target=send, args=(c,)) for c in [first, second] * 5]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(codes) == [0] * 7 + [1008028] * 3
        assert second.get("/_mock/faults").json()["faults"][0]["remaining"] == 0


# -- on a live server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("live") / "data", "--no-rate-limit")
    yield server
    server.stop()


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, auth=AUTH, timeout=10) as http:
        http.post("/_mock/reset")
        yield http


def test_delay_past_the_clients_timeout_is_a_timeout_error(client: httpx.Client) -> None:
    arm(client, path=PUSH, action="delay", delayMs=1500)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post(PUSH, json=android(), timeout=0.3)
    assert time.monotonic() - started < 1.4
    # the fault fired once: the retry is answered at once
    answer = client.post(PUSH, json=android(), timeout=1.0).json()
    assert answer["ret_code"] == 0


def test_error_fault_with_a_delay_answers_after_it(client: httpx.Client) -> None:
    arm(client, path=PUSH, retCode=1008028, delayMs=400)
    started = time.monotonic()
    answer = client.post(PUSH, json=android()).json()
    assert time.monotonic() - started >= 0.4
    assert answer["ret_code"] == 1008028


def test_drop_fault_closes_the_connection_without_an_answer(
    client: httpx.Client, live: LiveServer
) -> None:
    arm(client, path=PUSH, action="drop")
    with pytest.raises(httpx.TransportError) as caught:
        client.post(PUSH, json=android())
    assert not isinstance(caught.value, httpx.TimeoutException)
    # the server is fine, and the next push is answered
    assert client.post(PUSH, json=android()).json()["ret_code"] == 0
    entries = client.get("/_mock/requests").json()["requests"]
    assert [(e["status"], e["dropped"]) for e in entries] == [(200, False), (None, True)]


def test_drop_fault_on_an_upload_mid_body(client: httpx.Client) -> None:
    arm(client, path=UPLOAD, action="drop")
    with pytest.raises(httpx.TransportError):
        client.post(
            UPLOAD, files={"file": ("a.zip", accounts_zip([f"a{i}" for i in range(50_000)]))}
        )
    assert client.get("/_mock/uploads").json()["total"] == 0
    response = client.post(UPLOAD, files={"file": ("a.zip", accounts_zip(["alice", "bob"]))})
    assert response.json()["retCode"] == 0


def test_live_server_logs_no_error_for_a_drop(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        with httpx.Client(base_url=server.url, auth=AUTH, timeout=5) as http:
            arm(http, path=PUSH, action="drop")
            with pytest.raises(httpx.TransportError):
                http.post(PUSH, json=android())
            assert http.get("/_mock/health").status_code == 200
    finally:
        server.stop()
    output = server.output()
    assert "ASGI callable" not in output and "Exception" not in output, output
