"""A push's life after its push_id: records, statuses over (manual) time, scheduling, faults
that fail it, the record call limit, and ``/_mock/pushes`` status. No sleeps: the mock runs on a
:class:`ManualClock` the tests move."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTH
from fastapi.testclient import TestClient
from pushing import android, package_push, push
from tpns_client import PushWaitTimeout, TPNSClient
from tpns_mock.app import create_app
from tpns_mock.clock import ManualClock
from tpns_mock.lifecycle import status_at
from tpns_mock.settings import Settings
from tpns_mock.store import Store
from zips import accounts_zip

RECORD = "/v3/statistics/get_push_record"
T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, 16:00 in Beijing


class Clocked:
    def __init__(self, client: TestClient, clock: ManualClock) -> None:
        self.client = client
        self.clock = clock

    def upload(self, accounts: list[str]) -> int:
        answer = self.client.post(
            "/v3/push/package/upload", files={"file": ("a.zip", accounts_zip(accounts))}, auth=AUTH
        ).json()
        return int(answer["uploadId"])

    def record(self, query: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(RECORD, json=query, auth=AUTH)
        assert response.status_code < 500, response.text
        return {"_status": response.status_code, **response.json()}

    def status(self, push_id: str) -> str:
        (record,) = self.record({"pushId": push_id})["pushRecordData"]
        return str(record["status"])


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def build(**changes: Any) -> Clocked:
        clock = ManualClock(T0)
        settings = replace(Settings(), data_dir=tmp_path / f"d{len(clients)}", **changes)
        client = TestClient(create_app(settings, clock=clock))
        clients.append(client)
        return Clocked(client, clock)

    yield build
    for client in clients:
        client.close()


def test_a_push_walks_init_started_finished_over_its_duration(make: Any) -> None:
    mock = make(push_duration_s=4.0)
    push_id = push(mock, package_push(mock.upload(["alice", "bob"])))["push_id"]
    seen = []
    for at in (0.0, 0.99, 1.0, 3.99, 4.0, 1000.0):
        mock.clock.set(T0 + at)
        seen.append(mock.status(push_id))
    assert seen == ["PUSH_INIT", "PUSH_INIT"] + ["PUSH_STARTED"] * 2 + ["PUSH_FINISHED"] * 2
    listed = mock.client.get("/_mock/pushes").json()["pushes"][0]
    assert listed["status"] == "PUSH_FINISHED"
    assert mock.client.get(f"/_mock/pushes/{push_id}").json()["status"] == "PUSH_FINISHED"


def test_a_future_send_time_waits_then_walks(make: Any) -> None:
    mock = make(push_duration_s=1.0)
    # 2027-01-15 17:00:00 Beijing time is one hour after T0
    answer = push(mock, android(send_time="2027-01-15 17:00:00"))
    assert answer["ret_code"] == 0, answer
    for at, status in ((0, "PUSH_WAIT"), (3599, "PUSH_WAIT"), (3600, "PUSH_INIT")):
        mock.clock.set(T0 + at)
        assert mock.status(answer["push_id"]) == status
    mock.clock.set(T0 + 3601)
    (record,) = mock.record({"pushId": answer["push_id"]})["pushRecordData"]
    assert (record["status"], record["date"]) == ("PUSH_FINISHED", "2027-01-15 17:00:00")


def test_send_time_bound_is_90_days_from_the_mocks_clock(make: Any) -> None:
    mock = make()
    assert push(mock, android(send_time="2027-04-15 16:00:00"))["ret_code"] == 0  # 90 days
    late = push(mock, android(send_time="2027-04-15 16:00:01"))
    assert late["ret_code"] == 10010012 and "90 days" in late["err_msg"]


def test_a_list_push_with_send_time_is_not_scheduled(make: Any) -> None:
    mock = make(push_duration_s=0)
    body = android(audience_type="account_list", account_list=["a1"], send_time="2099-01-01 0:0:0")
    answer = push(mock, body)
    assert answer["ret_code"] == 0, answer
    assert mock.status(answer["push_id"]) == "PUSH_FINISHED"


def test_a_fail_fault_accepts_the_push_and_its_record_ends_failed(make: Any) -> None:
    mock = make(push_duration_s=1.0)
    fault = mock.client.post("/_mock/faults", json={"path": "/v3/push/app", "action": "fail"})
    assert fault.status_code == 201, fault.text
    refused = push(mock, android(message_type="alert"))  # a refused push leaves the fault armed
    assert refused["ret_code"] == 1008007
    failed = push(mock, android(audience_type="account_list", account_list=["a1"]))
    fine = push(mock, android(audience_type="account_list", account_list=["a1"]))
    assert failed["ret_code"] == fine["ret_code"] == 0
    assert mock.status(failed["push_id"]) == "PUSH_INIT"
    mock.clock.advance(1.0)
    assert mock.status(failed["push_id"]) == "PUSH_FAILED"
    assert mock.status(fine["push_id"]) == "PUSH_FINISHED"
    journal = mock.client.get("/_mock/requests").json()["requests"]
    assert [e["faultId"] for e in journal if e["path"] == "/v3/push/app"].count(
        fault.json()["id"]
    ) == 1


def test_a_fail_fault_on_another_path_is_refused(make: Any) -> None:
    mock = make()
    answer = mock.client.post("/_mock/faults", json={"path": RECORD, "action": "fail"})
    assert answer.status_code == 422 and "/v3/push/app" in answer.json()["message"]


def test_records_carry_upload_id_targets_and_tags(make: Any) -> None:
    mock = make(push_rate_limit=False)
    upload_id = mock.upload(["alice", "bob"])
    by_kind = {
        "package": push(mock, package_push(upload_id, expire_time=3600))["push_id"],
        "list": push(mock, android(audience_type="token_list", token_list=["t" * 36]))["push_id"],
        "tag": push(mock, android(audience_type="tag", tag_list={"tags": ["vip"], "op": "OR"}))[
            "push_id"
        ],
    }
    records = {
        kind: mock.record({"pushId": pid})["pushRecordData"][0] for kind, pid in by_kind.items()
    }
    assert (records["package"]["uploadId"], records["package"]["expireTime"]) == (upload_id, 3600)
    assert records["package"]["targetList"] == []
    assert (records["list"]["targetList"], records["list"]["uploadId"]) == (["t" * 36], 0)
    assert records["list"]["pushType"] == "token_list"
    assert records["tag"]["tagSet"] == {
        "op": "OR",
        "tagWithType": [{"tagTypeName": "xg_user_define", "tagValue": "vip"}],
    }


def test_the_date_range_filters_pages_and_counts(make: Any) -> None:
    mock = make(push_rate_limit=False)
    ids = [push(mock, android(message_type=kind))["push_id"] for kind in ("notify",) * 3]
    push(mock, android(message_type="message"))
    query = {"startDate": "2027-01-15", "endDate": "2027-01-15", "msgType": "notify"}
    page = mock.record({**query, "offset": 1, "limit": 1})
    assert page["count"] == 3
    assert [r["pushId"] for r in page["pushRecordData"]] == [ids[1]]
    assert mock.record({**query, "startDate": "2027-01-16", "endDate": "2027-01-17"})["count"] == 0
    assert mock.record({**query, "pushType": "token"})["count"] == 0


@pytest.mark.parametrize(
    ("query", "code", "words"),
    [
        ({}, 1008002, "'pushId'"),
        ({"pushId": ["1"]}, 1008007, "'pushId'"),
        ({"startDate": "2027/01/15", "endDate": "2027-01-15"}, 1008007, "'startDate'"),
        ({"startDate": "2027-01-15", "endDate": "2027-01-14"}, 1008007, "'endDate'"),
        ({"startDate": "2027-01-15", "endDate": "2027-01-15", "limit": 201}, 1008007, "'limit'"),
        ({"startDate": "2027-01-15", "endDate": "2027-01-15", "pushType": {}}, 1008007, "push"),
    ],
)
def test_bad_record_queries_name_the_field(
    make: Any, query: dict[str, Any], code: int, words: str
) -> None:
    answer = make().record(query)
    assert (answer["_status"], answer["retCode"]) == (200, code), answer
    assert words in answer["errMsg"]


def test_another_apps_push_and_unknown_ids_have_no_record(make: Any) -> None:
    mock = make()
    push_id = push(mock, android())["push_id"]
    assert mock.record({"pushId": "99999999999999999999999"})["pushRecordData"] == []
    other = mock.client.post(RECORD, json={"pushId": push_id}, auth=("1500000009", "x"))
    assert other.status_code == 403


def test_record_calls_are_limited_to_200_an_hour_unless_lifted(make: Any) -> None:
    mock = make()
    answers = [mock.record({"pushId": "1"})["retCode"] for _ in range(201)]
    assert answers[:200] == [0] * 200 and answers[200] == 1008028
    mock.clock.advance(3600)
    assert mock.record({"pushId": "1"})["retCode"] == 0
    lifted = make(push_rate_limit=False)
    assert {lifted.record({"pushId": "1"})["retCode"] for _ in range(201)} == {0}


def test_the_sync_client_waits_and_times_out_on_a_scheduled_push(make: Any) -> None:
    mock = make(push_duration_s=0)
    with TPNSClient(*AUTH, base_url="http://testserver", auth="basic") as tpns:
        tpns._http = mock.client  # the in-process app, through TestClient's transport
        done = tpns.push({**android(audience_type="account_list", account_list=["a1"])})
        assert tpns.wait_for_push(done.push_id, timeout=5).finished
        later = tpns.push(android(send_time="2027-01-15 17:00:00"))
        with pytest.raises(PushWaitTimeout) as caught:
            tpns.wait_for_push(later.push_id, timeout=0.3, poll_s=0.05)
        assert caught.value.status == "PUSH_WAIT"
        assert tpns.push_record("424242") is None


def test_an_older_data_dir_gains_the_lifecycle_columns(tmp_path: Path) -> None:
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "tpns-mock.sqlite3")
    db.execute("ALTER TABLE pushes DROP COLUMN start_at")
    db.execute(
        "INSERT INTO pushes (access_id, audience_type, message_type, platform, environment, seq,"
        " body, created_at) VALUES ('a', 'all', 'notify', 'android', 'product', 0, ?, 'x')",
        (json.dumps(android()),),
    )
    db.commit()
    db.close()
    store = Store(tmp_path)
    try:
        (old,) = store.list_pushes()
        assert old.start_at is None
        assert status_at(old, T0) == "PUSH_FINISHED"
    finally:
        store.close()
