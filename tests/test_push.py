"""``POST /v3/push/app``: every rule, through the HTTP layer, on real uploads and a real store."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTH, Mock
from fastapi.testclient import TestClient
from pushing import (
    APPS,
    OTHER_APP,
    PUSH,
    android,
    package_push,
    push,
    pushes,
    signed_headers,
)
from tpns_mock.app import create_app
from tpns_mock.clock import ManualClock
from tpns_mock.settings import Settings
from zips import accounts_zip

TOKENS = ["0" * 4 + f"{i:032x}" for i in range(3)]  # 36 characters each


def beijing(days: float = 0.0, now: float | None = None) -> str:
    """A send_time ``days`` from now (or from ``now``), in Beijing time as TPNS reads it."""
    zone = timezone(timedelta(hours=8))
    when = datetime.fromtimestamp((time.time() if now is None else now) + days * 86400, zone)
    return when.strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def mock(make_mock: Callable[..., Mock]) -> Mock:
    return make_mock(apps=APPS)


def uploaded(mock: Mock, accounts: list[str], auth: Any = AUTH) -> int:
    body = mock.upload(accounts_zip(accounts), auth=auth)
    assert body["retCode"] == 0, body
    return int(body["uploadId"])


def refused(mock: Mock, body: Any, code: int, *words: str, raw: bytes | None = None) -> str:
    answer = push(mock, body, raw=raw)
    assert answer["ret_code"] == code, answer
    assert answer["_status"] == 200
    assert answer["push_id"] == ""
    for word in words:
        assert word in answer["err_msg"], answer["err_msg"]
    assert pushes(mock) == []
    return str(answer["err_msg"])


# -- the happy path ----------------------------------------------------------------------------


def test_upload_then_package_push_answers_a_push_id_and_is_recorded(mock: Mock) -> None:
    upload_id = uploaded(mock, ["alice", "bob", "carol"])
    answer = push(mock, package_push(upload_id, seq=42, account_push_type=1))
    assert answer["ret_code"] == 0, answer
    assert answer["err_msg"] == "NO_ERROR"
    assert answer["seq"] == 42
    assert answer["environment"] == "product"
    assert answer["result"] == "{}"
    assert answer["push_id"].isdigit()

    listed = pushes(mock)
    assert [p["pushId"] for p in listed] == [answer["push_id"]]
    detail = mock.client.get(f"/_mock/pushes/{answer['push_id']}").json()
    assert detail["audienceType"] == "package_account_push"
    assert detail["accessId"] == AUTH[0]
    assert detail["uploadId"] == upload_id
    assert detail["accountCount"] == 3
    assert detail["upload"]["uploadId"] == upload_id
    assert detail["upload"]["accountCount"] == 3
    assert detail["request"]["account_push_type"] == 1


def test_push_ids_are_distinct_and_listed_newest_first(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(push_rate_limit=False)
    upload_id = uploaded(mock, ["alice", "bob"])
    ids = [push(mock, package_push(upload_id))["push_id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert [p["pushId"] for p in pushes(mock)] == ids[::-1]


def test_signed_push_is_accepted_and_the_sign_covers_the_raw_body(mock: Mock) -> None:
    upload_id = uploaded(mock, ["alice", "bob"])
    raw = json.dumps(package_push(upload_id)).encode()
    headers = signed_headers(AUTH[0], AUTH[1], raw)
    ok = mock.client.post(PUSH, content=raw, headers=headers)
    assert ok.status_code == 200 and ok.json()["ret_code"] == 0, ok.text

    tampered = raw.replace(b"Hello", b"Hallo")
    refused_answer = mock.client.post(PUSH, content=tampered, headers=headers)
    assert refused_answer.status_code == 403
    assert refused_answer.json()["ret_code"] == 1008003
    assert "Sign" in refused_answer.json()["err_msg"]
    assert len(pushes(mock)) == 1


@pytest.mark.parametrize("auth", [None, (AUTH[0], "wrong-secret"), ("1599999999", AUTH[1])])
def test_push_without_valid_credentials_is_1008003_http_403(mock: Mock, auth: Any) -> None:
    answer = push(mock, android(), auth=auth)
    assert answer["_status"] == 403
    assert answer["ret_code"] == 1008003
    assert answer["seq"] == 0
    assert pushes(mock) == []


def test_bad_credentials_win_over_a_bad_body(mock: Mock) -> None:
    answer = push(mock, None, raw=b"{not json", auth=(AUTH[0], "wrong-secret"))
    assert (answer["_status"], answer["ret_code"]) == (403, 1008003)


# -- upload_id: unknown, foreign, token packages -----------------------------------------------


def test_unknown_upload_id_is_10010005(mock: Mock) -> None:
    uploaded(mock, ["alice", "bob"])
    refused(mock, package_push(999_999), 10010005, "999999")


def test_another_apps_upload_is_10010005_and_looks_like_an_unknown_one(mock: Mock) -> None:
    foreign = uploaded(mock, ["alice", "bob"], auth=OTHER_APP)
    message = refused(mock, package_push(foreign), 10010005, str(foreign))
    unknown = refused(mock, package_push(foreign + 1000), 10010005)
    assert re.sub(r"upload_id \d+", "", message) == re.sub(r"upload_id \d+", "", unknown)
    # its owner can push to it
    assert push(mock, package_push(foreign), auth=OTHER_APP)["ret_code"] == 0


def test_upload_id_after_reset_is_10010005(mock: Mock) -> None:
    upload_id = uploaded(mock, ["alice", "bob"])
    assert mock.client.post("/_mock/reset").status_code == 200
    refused(mock, package_push(upload_id), 10010005)


def test_token_package_push_needs_36_character_tokens(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(push_rate_limit=False)
    tokens = uploaded(mock, TOKENS)
    answer = push(mock, package_push(tokens, audience_type="package_token_push"))
    assert answer["ret_code"] == 0, answer
    accounts = uploaded(mock, [TOKENS[0], "alice", TOKENS[1]])
    message = refused_kept(mock, package_push(accounts, audience_type="package_token_push"))
    assert "line 2 has 5 characters" in message and "36" in message
    # a token package is also a list of accounts
    assert push(mock, package_push(tokens))["ret_code"] == 0


def test_token_length_is_counted_in_characters_not_bytes(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(push_rate_limit=False)
    upload_id = uploaded(mock, [TOKENS[0], "é" * 18])  # 36 bytes, 18 characters
    message = refused_kept(mock, package_push(upload_id, audience_type="package_token_push"))
    assert "line 2 has 18 characters" in message


def refused_kept(mock: Mock, body: dict[str, Any]) -> str:
    """A refusal on a mock that already holds pushes: nothing new is stored."""
    before = len(pushes(mock))
    answer = push(mock, body)
    assert answer["ret_code"] == 1008007, answer
    assert len(pushes(mock)) == before
    return str(answer["err_msg"])


# -- missing fields, bad values, bad JSON ------------------------------------------------------


def without(body: dict[str, Any], path: str) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    del target[last]
    return body


IOS = {"ios": {"aps": {"alert": {"title": "t", "body": "b"}}}}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (without(android(), "audience_type"), "'audience_type'"),
        (without(android(), "message_type"), "'message_type'"),
        (without(android(), "message"), "'message'"),
        (without(android(), "message.title"), "'message.title'"),
        (without(android(), "message.content"), "'message.content'"),
        (without(package_push(1), "upload_id"), "'upload_id'"),
        (android(audience_type="package_token_push"), "'upload_id'"),
        (android(audience_type=None), "'audience_type'"),
        (android(audience_type=""), "'audience_type'"),
        (android(audience_type="token"), "'token_list'"),
        (android(audience_type="token_list", token_list=None), "'token_list'"),
        (android(audience_type="account"), "'account_list'"),
        (android(audience_type="account_list"), "'account_list'"),
        (android(audience_type="tag"), "'tag_rules'"),
        (android(platform="ios", message={"ios": {}}, environment="dev"), "'message.ios.aps'"),
        (android(platform="ios", message={"title": "t", "content": "c"}), "'message.ios'"),
        (android(message=IOS), "'environment'"),
    ],
)
def test_each_missing_field_is_1008002(mock: Mock, body: dict[str, Any], field: str) -> None:
    refused(mock, body, 1008002, field, "required")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (android(audience_type="everyone"), "'audience_type'"),
        (android(message_type="alert"), "'message_type'"),
        (android(message="hello"), "'message'"),
        (android(message={"title": "t", "content": 5}), "'message.content'"),
        (android(message={"title": ["t"], "content": "c"}), "'message.title'"),
        (android(message={"title": "t", "content": ""}), "'message.content'"),
        (android(environment="staging"), "'environment'"),
        (android(platform="windows"), "'platform'"),
        (android(message=IOS, environment="prod"), "'environment'"),
        (android(platform="ios", message={"ios": {"aps": "x"}}, environment="dev"), "aps"),
        (package_push(0), "'upload_id'"),
        (package_push(-3), "'upload_id'"),
        (package_push("12"), "'upload_id'"),
        (package_push(True), "'upload_id'"),
        (package_push(1.5), "'upload_id'"),
        (package_push(2**31), "'upload_id'"),
        (android(audience_type="token_list", token_list=[]), "'token_list'"),
        (android(audience_type="token_list", token_list="abc"), "'token_list'"),
        (android(audience_type="token", token_list=[""]), "'token_list'"),
        (android(audience_type="account_list", account_list=[1, 2]), "'account_list'"),
        (
            android(audience_type="account_list", account_list=[f"a{i}" for i in range(1001)]),
            "1001 items",
        ),
        (android(audience_type="tag", tag_list={"tags": ["t1"], "op": "XOR"}), "'tag_list'"),
        (android(audience_type="tag", tag_list={"tags": [], "op": "OR"}), "'tag_list'"),
        (android(audience_type="tag", tag_list=["t1"]), "'tag_list'"),
        (android(audience_type="tag", tag_rules=[]), "'tag_rules'"),
        (android(account_push_type=2), "'account_push_type'"),
        (android(expire_time="3600"), "'expire_time'"),
        (android(seq="7"), "'seq'"),
        (android(seq=-1), "'seq'"),
    ],
)
def test_each_bad_value_is_1008007(mock: Mock, body: dict[str, Any], field: str) -> None:
    refused(mock, body, 1008007, field)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{not json", ("not valid JSON", "line 1 column 2")),
        (b"", ("empty",)),
        (b"   \n", ("empty",)),
        (b'["audience_type", "all"]', ("JSON object", "list")),
        (b'"all"', ("JSON object",)),
        (b"\xff\xfe{}", ("not UTF-8",)),
        (b'{"audience_type": "all", "seq": NaN}', ("NaN",)),
        (b"[" * 100_000 + b"]" * 100_000, ("not valid JSON",)),
    ],
)
def test_body_that_is_not_a_json_object_is_1008001_with_seq_0(
    mock: Mock, raw: bytes, words: tuple[str, ...]
) -> None:
    answer = push(mock, None, raw=raw)
    assert answer["ret_code"] == 1008001, answer
    assert answer["seq"] == 0
    for word in words:
        assert word in answer["err_msg"]
    assert pushes(mock) == []


def test_errors_after_parsing_echo_the_requests_seq(mock: Mock) -> None:
    answer = push(mock, android(seq=77, message_type="alert"))
    assert (answer["ret_code"], answer["seq"]) == (1008007, 77)


def test_body_past_one_mib_is_refused(mock: Mock) -> None:
    body = android(message={"title": "t", "content": "x" * (1024 * 1024)})
    refused(mock, body, 1008007, "bytes")


@pytest.mark.parametrize("send_time", ["2030-01-01", "tomorrow", 1700000000, "2030-13-01 00:00:00"])
def test_malformed_send_time_is_10010012(mock: Mock, send_time: Any) -> None:
    refused(mock, android(send_time=send_time), 10010012, "send_time")


# -- the other audiences -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "target_count"),
    [
        (android(audience_type="token", token_list=[TOKENS[0]]), 1),
        (android(audience_type="token_list", token_list=TOKENS), 3),
        (android(audience_type="account", account_list=["alice"]), 1),
        (
            android(
                audience_type="account_list",
                account_list=[f"a{i}" for i in range(1000)],
                account_type=1,
            ),
            1000,
        ),
        (android(audience_type="tag", tag_list={"tags": ["vip", "beta"], "op": "AND"}), None),
        (
            android(
                audience_type="tag",
                tag_rules=[{"tag_items": [{"tags": ["vip"], "is_not": False}], "operator": "OR"}],
            ),
            None,
        ),
        (
            android(audience_type="all", message_type="message", send_time=beijing(days=30)),
            None,
        ),
    ],
)
def test_other_audiences_are_accepted(
    mock: Mock, body: dict[str, Any], target_count: int | None
) -> None:
    answer = push(mock, body)
    assert answer["ret_code"] == 0, answer
    detail = mock.client.get(f"/_mock/pushes/{answer['push_id']}").json()
    assert detail["audienceType"] == body["audience_type"]
    assert detail["targetCount"] == target_count
    assert detail["upload"] is None


def test_ios_push_needs_aps_and_echoes_its_environment(mock: Mock) -> None:
    answer = push(mock, android(message=IOS, environment="dev"))
    assert (answer["ret_code"], answer["environment"]) == (0, "dev")
    assert pushes(mock)[0]["platform"] == "ios"


# -- the rate limit ----------------------------------------------------------------------------


def test_second_package_push_within_a_second_is_1008028(mock: Mock) -> None:
    upload_id = uploaded(mock, ["alice", "bob"])
    assert push(mock, package_push(upload_id))["ret_code"] == 0
    answer = push(mock, package_push(upload_id, seq=5))
    assert answer["ret_code"] == 1008028, answer
    assert answer["seq"] == 5
    assert "per 1 s" in answer["err_msg"] and "retry in" in answer["err_msg"]
    assert len(pushes(mock)) == 1
    # full and tag pushes share the app's slot
    assert push(mock, android())["ret_code"] == 1008028
    tag = android(audience_type="tag", tag_list={"tags": ["vip"], "op": "OR"})
    assert push(mock, tag)["ret_code"] == 1008028
    # pushes to listed accounts and tokens are not limited
    for _ in range(3):
        listed = android(audience_type="account_list", account_list=["alice"])
        assert push(mock, listed)["ret_code"] == 0


def test_the_slot_frees_after_the_interval(make_mock: Callable[..., Mock]) -> None:
    clock = ManualClock(1_700_000_000.0)
    mock = make_mock(apps=APPS, push_interval_s=0.5, clock=clock)
    upload_id = uploaded(mock, ["alice", "bob"])
    assert push(mock, package_push(upload_id))["ret_code"] == 0
    clock.advance(0.49)
    assert push(mock, package_push(upload_id))["ret_code"] == 1008028
    clock.advance(0.01)
    assert push(mock, package_push(upload_id))["ret_code"] == 0
    assert push(mock, package_push(upload_id))["ret_code"] == 1008028
    assert pushes(mock)[0]["createdAt"].startswith("2023-11-14T22:13:20.5")


def test_refused_pushes_do_not_take_the_slot(mock: Mock) -> None:
    upload_id = uploaded(mock, ["alice", "bob"])
    assert push(mock, package_push(upload_id + 1))["ret_code"] == 10010005
    assert push(mock, package_push(upload_id, message_type="x"))["ret_code"] == 1008007
    assert push(mock, package_push(upload_id))["ret_code"] == 0


def test_the_rate_limit_is_per_app(mock: Mock) -> None:
    mine = uploaded(mock, ["alice", "bob"])
    theirs = uploaded(mock, ["carol", "dave"], auth=OTHER_APP)
    assert push(mock, package_push(mine))["ret_code"] == 0
    assert push(mock, package_push(theirs), auth=OTHER_APP)["ret_code"] == 0
    assert push(mock, package_push(mine))["ret_code"] == 1008028


def test_the_rate_limit_can_be_switched_off(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(push_rate_limit=False)
    upload_id = uploaded(mock, ["alice", "bob"])
    for _ in range(5):
        assert push(mock, package_push(upload_id))["ret_code"] == 0


def test_the_rate_limit_holds_across_mocks_sharing_a_data_dir(tmp_path: Path) -> None:
    """As several worker processes would: two apps on one data dir, racing pushes."""
    settings = replace(Settings(), data_dir=tmp_path / "shared", push_interval_s=60)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        mock = Mock(first, tmp_path / "shared")
        upload_id = uploaded(mock, ["alice", "bob"])
        raw = json.dumps(package_push(upload_id)).encode()
        codes: list[int] = []
        barrier = threading.Barrier(6)

        def send(client: TestClient) -> None:
            barrier.wait()
            response = client.post(PUSH, content=raw, auth=AUTH)
            codes.append(response.json()["ret_code"])

        threads = [threading.Thread(target=send, args=(c,)) for c in [first, second] * 3]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(codes) == [0] + [1008028] * 5
        assert second.get("/_mock/pushes").json()["total"] == 1


def test_reset_forgets_pushes_and_push_ids_keep_increasing(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(push_rate_limit=False)
    first = push(mock, android())["push_id"]
    mock.client.post("/_mock/reset")
    assert pushes(mock) == []
    assert mock.client.get(f"/_mock/pushes/{first}").status_code == 404
    assert int(push(mock, android())["push_id"]) > int(first)


@pytest.mark.parametrize("push_id", ["999", "abc", "1" * 30])
def test_unknown_push_id_is_404(mock: Mock, push_id: str) -> None:
    response = mock.client.get(f"/_mock/pushes/{push_id}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
