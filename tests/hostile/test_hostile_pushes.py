"""Every JSON type in every field of every audience's push body, at the hostile suite's server.

Whatever a field holds, the push is answered in TPNS's six-key shape with a TPNS code, never a
5xx; whatever was accepted stays answerable by ``/_mock/pushes``. Hypothesis generates the bodies
from a fixed seed (``--hostile-seed``), with many more examples under ``--hostile-long``.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import httpx
import pytest
from conftest import AUTH, HostileRun, LiveServer
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

PUSH = "/v3/push/app"
ANSWER_KEYS = {"seq", "push_id", "ret_code", "environment", "err_msg", "result"}
SUCCESS_KEYS = ANSWER_KEYS | {"err_msg_zh", "invalid_targe_list"}
PUSH_CODES = {0, 1008001, 1008002, 1008007, 1008028, 10010005, 10010012}
MESSAGE = {"title": "Hi", "content": "Your order shipped"}
BASES: dict[str, dict[str, Any]] = {
    "all": {"audience_type": "all"},
    "tag": {"audience_type": "tag", "tag_list": {"tags": ["vip"], "op": "OR"}},
    "tag_rules": {"audience_type": "tag", "tag_rules": [{"tag_items": []}]},
    "token": {"audience_type": "token", "token_list": ["t" * 36]},
    "token_list": {"audience_type": "token_list", "token_list": ["t" * 36, "u" * 36]},
    "account": {"audience_type": "account", "account_list": ["alice"]},
    "account_list": {"audience_type": "account_list", "account_list": ["alice", "bob"]},
    "package_account_push": {"audience_type": "package_account_push", "upload_id": 1},
    "package_token_push": {"audience_type": "package_token_push", "upload_id": 1},
}
# every field the rules read, as a path into the body
FIELDS = [
    ("audience_type",),
    ("message_type",),
    ("message",),
    ("message", "title"),
    ("message", "content"),
    ("message", "ios"),
    ("message", "ios", "aps"),
    ("platform",),
    ("environment",),
    ("seq",),
    ("upload_id",),
    ("tag_rules",),
    ("tag_list",),
    ("tag_list", "tags"),
    ("tag_list", "op"),
    ("token_list",),
    ("token_list", 0),
    ("account_list",),
    ("account_list", 0),
    ("account_push_type",),
    ("account_type",),
    ("expire_time",),
    ("send_time",),
    ("an_unknown_field",),
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["all", "notify", "ios", "dev", "product", "AND", "2030-01-01 08:00:00"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def body_for(audience: str, ios: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"message_type": "notify", **copy.deepcopy(BASES[audience])}
    if ios:
        body.update(platform="ios", environment="dev", message={"ios": {"aps": {"alert": "Hi"}}})
    else:
        body["message"] = dict(MESSAGE)
    return body


def put(body: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set ``path`` in ``body`` to ``value``, making the containers on the way if missing."""
    for step in path[:-1]:
        if isinstance(body, list):
            body = body[step] if isinstance(step, int) and step < len(body) else None
        elif isinstance(body, dict):
            body = body.setdefault(step, {} if not isinstance(step, int) else [])
        if not isinstance(body, (dict, list)):
            return
    last = path[-1]
    if isinstance(body, dict) and not isinstance(last, int):
        body[last] = value
    elif isinstance(body, list) and isinstance(last, int):
        if last < len(body):
            body[last] = value
        else:
            body.append(value)


def check_answer(response: httpx.Response, body: Any) -> dict[str, Any]:
    assert response.status_code < 500, (body, response.text)
    answer = response.json()
    assert set(answer) == (SUCCESS_KEYS if answer.get("ret_code") == 0 else ANSWER_KEYS), answer
    assert answer["ret_code"] in PUSH_CODES, (body, answer)
    return dict(answer)


def test_every_json_type_in_every_field_is_answered_without_a_5xx(
    hostile_server: LiveServer, hostile_run: HostileRun
) -> None:
    accepted: list[str] = []
    with httpx.Client(base_url=hostile_server.url, auth=AUTH, timeout=30) as client:
        upload = client.post(
            "/v3/push/package/upload", files={"file": ("a.zip", _package())}
        ).json()
        assert upload["retCode"] == 0

        @settings(
            max_examples=10_000 if hostile_run.long else 400,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis_seed(hostile_run.seed)
        @given(
            audience=st.sampled_from(sorted(BASES)),
            ios=st.booleans(),
            changes=st.lists(st.tuples(st.sampled_from(FIELDS), json_values), max_size=3),
        )
        def one_push(audience: str, ios: bool, changes: list[tuple[Any, Any]]) -> None:
            body = body_for(audience, ios)
            for path, value in changes:
                put(body, path, value)
            if "upload_id" in body and body["upload_id"] == 1:
                body["upload_id"] = upload["uploadId"]
            started = time.monotonic()
            response = client.post(PUSH, content=json.dumps(body).encode())
            hostile_run.took(time.monotonic() - started, f"push {audience}")
            answer = check_answer(response, body)
            if answer["ret_code"] == 0:
                accepted.append(answer["push_id"])

        one_push()
        # whatever was accepted is answerable afterwards, in the list and one by one
        listing = client.get("/_mock/pushes", params={"limit": 1000})
        assert listing.status_code == 200
        for push_id in accepted[-20:]:
            assert client.get(f"/_mock/pushes/{push_id}").status_code == 200
    assert httpx.post(f"{hostile_server.url}/_mock/reset", timeout=10).status_code == 200


def _package() -> bytes:
    from zips import accounts_zip

    return accounts_zip(["alice", "bob"])


# -- regressions the generator found, stated once each (in process: the rules, not the network)


@pytest.mark.parametrize(
    "field", ["audience_type", "message_type", "platform", "environment", "tag_list.op"]
)
@pytest.mark.parametrize("value", [["all"], {"a": 1}, 7, 1.5, True])
def test_an_enum_field_of_another_type_is_1008007(mock: Any, field: str, value: Any) -> None:
    body = body_for("tag", ios=False)
    put(body, tuple(field.split(".")), value)
    answer = check_answer(mock.client.post(PUSH, json=body, auth=AUTH), body)
    assert answer["ret_code"] == 1008007, answer
    assert field.split(".")[0] in answer["err_msg"]


def test_a_push_nested_hundreds_of_levels_deep_is_refused_and_the_store_stays_answerable(
    mock: Any,
) -> None:
    deep: Any = "x"
    for _ in range(300):
        deep = {"d": deep}
    body = {**body_for("all", ios=False), "custom_content": deep}
    answer = check_answer(mock.client.post(PUSH, json=body, auth=AUTH), body)
    assert answer["ret_code"] == 1008007 and "64 levels" in answer["err_msg"], answer
    assert mock.client.get("/_mock/pushes").status_code == 200
    shallow = {**body_for("all", ios=False), "custom_content": {"a": {"b": [1, [2, {"c": 3}]]}}}
    answer = check_answer(mock.client.post(PUSH, json=shallow, auth=AUTH), shallow)
    assert answer["ret_code"] == 0
    assert mock.client.get(f"/_mock/pushes/{answer['push_id']}").json()["request"] == shallow


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400 + ".0"])
def test_a_number_past_a_double_is_refused_not_stored_as_infinity(mock: Any, number: str) -> None:
    raw = json.dumps(body_for("all", ios=False))[:-1] + f', "expire_time_f": {number}}}'
    answer = check_answer(mock.client.post(PUSH, content=raw.encode(), auth=AUTH), raw)
    assert answer["ret_code"] == 1008001 and "too large" in answer["err_msg"], answer
    assert mock.client.get("/_mock/pushes").status_code == 200
