"""The push contract: ``POST /v3/push/app``, answered in snake_case with six keys.

Which tests need ``--tpns-allow-push`` against Tencent (the ``push`` mark): every test that
expects a push to be accepted, and every refused body that names a broad audience (``all``,
``tag``), in case Tencent took it after all. A refused push sends nothing, so the other refusals
run against Tencent without the flag; their bodies target made-up accounts and tokens only, so
even a push Tencent took by mistake would reach no device.

The rate limit (one full, tag or package push per second per app) would make the accepted pushes
trip over each other, so each ``push`` test starts with a fresh slot: the mock is reset
(``/_mock/reset`` frees the slot), Tencent is waited for.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from tpns_client import AsyncTPNSClient, RetryPolicy, TransportError

from contract_tests.conftest import RecordingTransport, Target
from contract_tests.raw import Answer, Api, accounts_zip

pytestmark = pytest.mark.anyio

B: dict[str, Any] = {"message_type": "notify", "message": {"title": "t", "content": "c"}}
ACCOUNTS = ["tpns-contract-a", "tpns-contract-b"]  # made up: a push to them reaches no device
TOKENS = [f"00000000-0000-4000-8000-{n:012d}" for n in (1, 2)]  # 36 characters, made up
PUSH_KEYS = {"seq", "push_id", "ret_code", "environment", "err_msg", "result"}
# Tencent's success answer adds two keys (and says NO_ERROR), as recorded from the real service
SUCCESS_KEYS = PUSH_KEYS | {"err_msg_zh", "invalid_targe_list"}
RATE_INTERVAL_S = 1.1  # Tencent's one-per-second limit, with a margin


def body(**fields: Any) -> dict[str, Any]:
    """B plus ``fields``; a field given as None is left out."""
    made = copy.deepcopy(B)
    made.update(fields)
    return {k: v for k, v in made.items() if v is not None}


def package(upload_id: Any, **fields: Any) -> dict[str, Any]:
    return body(**{"audience_type": "package_account_push", "upload_id": upload_id, **fields})


async def upload(api: Api, lines: list[str] = ACCOUNTS) -> int:
    answer = await api.upload(accounts_zip(lines))
    assert (answer.status, answer.body["retCode"]) == (200, 0), answer.body
    return int(answer.body["uploadId"])


def assert_push_answer(answer: Answer, status: int, ret_code: int, seq: int = 0) -> None:
    assert answer.status == status, answer
    keys = SUCCESS_KEYS if ret_code == 0 else PUSH_KEYS
    assert isinstance(answer.body, dict) and set(answer.body) == keys, answer.body
    assert answer.body["ret_code"] == ret_code, answer.body
    assert answer.body["seq"] == seq, answer.body
    assert isinstance(answer.body["err_msg"], str)
    if ret_code:
        assert answer.body["err_msg"], answer.body
        assert answer.body["push_id"] == "", answer.body


def assert_accepted(answer: Answer, seq: int = 0, environment: str = "product") -> str:
    assert_push_answer(answer, 200, 0, seq)
    push_id = answer.body["push_id"]
    assert isinstance(push_id, str) and push_id.isdigit(), answer.body
    assert answer.body["err_msg"] == "NO_ERROR"
    assert (answer.body["err_msg_zh"], answer.body["invalid_targe_list"]) == ("", [])
    assert answer.body["environment"] == environment
    assert answer.body["result"] == "{}"
    return push_id


@pytest.fixture
def upload_id(api: Api) -> Callable[..., Any]:
    """``await upload_id()`` uploads ACCOUNTS (or the lines given) and answers the uploadId."""

    async def make(lines: list[str] = ACCOUNTS) -> int:
        return await upload(api, lines)

    return make


@pytest.fixture(autouse=True)
async def _fresh_rate_slot(request: pytest.FixtureRequest, target: Target, api: Api) -> None:
    """Before each test that expects a push to be accepted: a free rate-limit slot."""
    marked = request.node.get_closest_marker("push") or request.node.get_closest_marker("mock_only")
    if not marked:
        return
    if target.mock:
        (await api.http.post("/_mock/reset")).raise_for_status()
    else:
        await asyncio.sleep(RATE_INTERVAL_S)


# -- the happy path ------------------------------------------------------------------------------


@pytest.mark.push
@pytest.mark.parametrize("auth", ["sign", "basic"])
async def test_upload_then_package_push_answers_a_push_id(
    api: Api, upload_id: Callable[..., Any], auth: str
) -> None:
    answer = await api.push(package(await upload_id()), auth=auth)  # type: ignore[arg-type]
    assert_accepted(answer)


@pytest.mark.push
async def test_seq_is_echoed(api: Api, upload_id: Callable[..., Any]) -> None:
    answer = await api.push(package(await upload_id(), seq=42))
    assert_accepted(answer, seq=42)


@pytest.mark.push
async def test_package_token_push_to_a_package_of_tokens(
    api: Api, upload_id: Callable[..., Any]
) -> None:
    uploaded = await upload_id(TOKENS)
    answer = await api.push(package(uploaded, audience_type="package_token_push"))
    assert_accepted(answer)


@pytest.mark.push
@pytest.mark.mock_only
async def test_the_push_is_recorded_with_its_upload(
    api: Api, upload_id: Callable[..., Any]
) -> None:
    uploaded = await upload_id()
    push_id = assert_accepted(await api.push(package(uploaded)))
    seen = (await api.http.get(f"/_mock/pushes/{push_id}")).json()
    assert (seen["uploadId"], seen["accountCount"]) == (uploaded, 2)


@pytest.mark.push
async def test_the_client_pushes_to_a_package(
    target: Target, transport: RecordingTransport
) -> None:
    async with AsyncTPNSClient(
        target.access_id, target.secret_key, base_url=target.url, transport=transport
    ) as tpns:
        uploaded = await tpns.upload_package(ACCOUNTS)
        result = await tpns.push_package(uploaded.upload_id, {"title": "t", "content": "c"})
    assert result.push_id.isdigit() and result.ret_code == 0
    assert (result.seq, result.environment, result.result) == (0, "product", "{}")
    assert result.err_msg == "NO_ERROR"


# -- whose upload --------------------------------------------------------------------------------


async def test_upload_id_never_issued_is_10010005(api: Api) -> None:
    assert_push_answer(await api.push(package(999999999)), 200, 10010005)


async def test_another_apps_upload_id_is_10010005(api: Api, other_api: Api) -> None:
    theirs = await upload(other_api)
    assert_push_answer(await api.push(package(theirs)), 200, 10010005)


async def test_package_token_push_to_a_package_of_accounts_is_1008007(
    api: Api, upload_id: Callable[..., Any]
) -> None:
    answer = await api.push(package(await upload_id(), audience_type="package_token_push"))
    assert_push_answer(answer, 200, 1008007)


# -- missing fields: 1008002 ---------------------------------------------------------------------


def without(made: dict[str, Any], path: str) -> dict[str, Any]:
    made = copy.deepcopy(made)
    *parents, last = path.split(".")
    at = made
    for name in parents:
        at = at[name]
    del at[last]
    return made


BROAD = pytest.mark.push  # a broad audience: refused, but only sent to Tencent with allow-push
Case = Callable[[int], dict[str, Any]]  # the body, given an uploadId of ACCOUNTS

MISSING: list[Any] = [
    pytest.param(lambda u: without(package(u), "audience_type"), id="audience_type"),
    pytest.param(lambda u: without(package(u), "message_type"), id="message_type"),
    pytest.param(lambda u: without(package(u), "message"), id="message"),
    pytest.param(lambda u: without(package(u), "message.title"), id="message.title"),
    pytest.param(lambda u: without(package(u), "message.content"), id="message.content"),
    pytest.param(lambda u: without(package(u), "upload_id"), id="upload_id-account-package"),
    pytest.param(lambda u: body(audience_type="package_token_push"), id="upload_id-token-package"),
    pytest.param(lambda u: body(audience_type="token"), id="token_list-token"),
    pytest.param(lambda u: body(audience_type="token_list"), id="token_list-token_list"),
    pytest.param(lambda u: body(audience_type="account"), id="account_list-account"),
    pytest.param(lambda u: body(audience_type="account_list"), id="account_list-account_list"),
    pytest.param(lambda u: body(audience_type="tag"), id="tag_rules-tag", marks=BROAD),
    pytest.param(lambda u: package(u, message={"ios": {"aps": {}}}), id="environment-ios-message"),
    pytest.param(lambda u: package(u, platform="ios", environment="dev"), id="message.ios"),
    pytest.param(
        lambda u: package(u, platform="ios", environment="dev", message={"ios": {}}),
        id="message.ios.aps",
    ),
]


@pytest.mark.parametrize("case", MISSING)
async def test_each_missing_field_is_1008002(
    api: Api, upload_id: Callable[..., Any], case: Case
) -> None:
    assert_push_answer(await api.push(case(await upload_id())), 200, 1008002)


# -- bad values: 1008007 -------------------------------------------------------------------------

MANY_ACCOUNTS = [f"tpns-contract-{n}" for n in range(1001)]

BAD: list[Any] = [
    pytest.param(lambda u: package(u, audience_type="everyone"), id="audience_type-everyone"),
    pytest.param(lambda u: package(u, message_type="alert"), id="message_type-alert"),
    pytest.param(lambda u: package(u, environment="staging"), id="environment-staging"),
    pytest.param(lambda u: package(u, message="hello"), id="message-string"),
    pytest.param(lambda u: package("12"), id="upload_id-string"),
    pytest.param(lambda u: package(0), id="upload_id-0"),
    pytest.param(lambda u: package(-1), id="upload_id-negative"),
    pytest.param(lambda u: package(True), id="upload_id-true"),
    pytest.param(lambda u: body(audience_type="token_list", token_list=[]), id="token_list-empty"),
    pytest.param(
        lambda u: body(audience_type="account_list", account_list=MANY_ACCOUNTS),
        id="account_list-1001-items",
    ),
    pytest.param(
        lambda u: body(audience_type="tag", tag_list={"tags": ["vip"], "op": "XOR"}),
        id="tag_list-op-XOR",
        marks=BROAD,
    ),
    pytest.param(
        lambda u: body(audience_type="account_list", account_list=ACCOUNTS, account_push_type=2),
        id="account_push_type-2",
    ),
    pytest.param(lambda u: package(u, platform="windows"), id="platform-windows"),
]


@pytest.mark.parametrize("case", BAD)
async def test_each_bad_value_is_1008007(
    api: Api, upload_id: Callable[..., Any], case: Case
) -> None:
    assert_push_answer(await api.push(case(await upload_id())), 200, 1008007)


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b'["a"]'], ids=["not-json", "empty", "json-array"]
)
async def test_body_that_is_not_a_json_object_is_1008001_with_seq_0(api: Api, raw: bytes) -> None:
    assert_push_answer(await api.push(raw=raw), 200, 1008001, seq=0)


async def test_malformed_send_time_is_10010012(api: Api, upload_id: Callable[..., Any]) -> None:
    answer = await api.push(package(await upload_id(), send_time="tomorrow"))
    assert_push_answer(answer, 200, 10010012)


# -- the rate limit ------------------------------------------------------------------------------


@pytest.mark.push
async def test_two_package_pushes_back_to_back_are_0_then_1008028(
    api: Api, upload_id: Callable[..., Any]
) -> None:
    uploaded = await upload_id()
    first = await api.push(package(uploaded))
    second = await api.push(package(uploaded))
    assert_accepted(first)
    assert_push_answer(second, 200, 1008028)


@pytest.mark.push
async def test_account_list_pushes_back_to_back_are_both_accepted(api: Api) -> None:
    made = body(audience_type="account_list", account_list=ACCOUNTS)
    assert_accepted(await api.push(made))
    assert_accepted(await api.push(made))


# -- other audiences -----------------------------------------------------------------------------


@pytest.mark.push
@pytest.mark.parametrize(
    "fields",
    [
        {"audience_type": "all"},
        {"audience_type": "tag", "tag_list": {"tags": ["vip"], "op": "OR"}},
        {"audience_type": "token_list", "token_list": TOKENS},
        {"audience_type": "account_list", "account_list": ["alice"]},
    ],
    ids=["all", "tag", "token_list", "account_list"],
)
async def test_other_audiences_are_accepted(api: Api, fields: dict[str, Any]) -> None:
    assert_accepted(await api.push(body(**fields)))


# -- auth ----------------------------------------------------------------------------------------


async def test_push_without_credentials_is_1008003(api: Api, upload_id: Callable[..., Any]) -> None:
    answer = await api.push(package(await upload_id()), auth="none")
    assert_push_answer(answer, 403, 1008003)


@pytest.mark.parametrize("auth", ["basic", "sign"])
async def test_push_with_a_wrong_secret_is_1008003(
    api: Api, upload_id: Callable[..., Any], auth: str
) -> None:
    answer = await api.push(
        package(await upload_id()),
        auth=auth,  # type: ignore[arg-type]
        secret="not-the-secret-key",
    )
    assert_push_answer(answer, 403, 1008003)


async def test_push_signed_then_changed_is_1008003(api: Api, upload_id: Callable[..., Any]) -> None:
    uploaded = await upload_id()
    signed = json.dumps(package(uploaded, seq=1)).encode()
    sent = json.dumps(package(uploaded, seq=2)).encode()
    headers = {"Content-Type": "application/json", **api.auth_headers(signed)}
    response = await api.http.post("/v3/push/app", content=sent, headers=headers)
    assert_push_answer(
        Answer(response.status_code, response.json(), response.headers), 403, 1008003
    )


# -- faults (the mock's test-control plane) ------------------------------------------------------


@pytest.fixture
async def arm(api: Api) -> Any:
    """``await arm(**fault)`` arms a fault on the mock; all are disarmed after the test."""

    async def make(**fault: Any) -> None:
        response = await api.http.post("/_mock/faults", json=fault)
        assert response.status_code == 201, response.text

    yield make
    (await api.http.delete("/_mock/faults")).raise_for_status()


@pytest.mark.mock_only
async def test_fault_1008028_once_then_the_retry_is_accepted(
    api: Api, upload_id: Callable[..., Any], arm: Any
) -> None:
    uploaded = await upload_id()
    await arm(path="/v3/push/app", retCode=1008028, times=1)
    assert_push_answer(await api.push(package(uploaded)), 200, 1008028)
    assert_accepted(await api.push(package(uploaded)))


@pytest.mark.mock_only
async def test_delay_fault_past_the_clients_timeout_is_a_timeout_error(
    target: Target, transport: RecordingTransport, api: Api, arm: Any
) -> None:
    if target.kind == "in-process":
        pytest.skip("a client's timeout needs a network path: run with --tpns-url")
    await arm(path="/v3/push/app", action="delay", delayMs=2000, times=1)
    async with AsyncTPNSClient(
        target.access_id, target.secret_key, base_url=target.url, transport=transport, timeout=0.5
    ) as tpns:
        with pytest.raises(TransportError) as caught:
            await tpns.push(body(audience_type="account_list", account_list=ACCOUNTS))
    assert "Timeout" in caught.value.err_msg
    assert caught.value.url == target.url + "/v3/push/app"
    # the mock answers the delayed push later; wait for it, so it cannot land in the next test
    for _ in range(200):
        journal = (await api.http.get("/_mock/requests")).json()["requests"]
        if any(e["faultId"] is not None for e in journal):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the delayed push was never answered")


@pytest.mark.mock_only
async def test_drop_fault_is_a_connection_error(
    target: Target, transport: RecordingTransport, api: Api, arm: Any
) -> None:
    await arm(path="/v3/push/app", action="drop", times=1)
    async with AsyncTPNSClient(
        target.access_id,
        target.secret_key,
        base_url=target.url,
        transport=transport,
        retry=RetryPolicy(backoff_s=0.01),
    ) as tpns:
        with pytest.raises(TransportError) as caught:
            await tpns.push(body(audience_type="account_list", account_list=ACCOUNTS))
    assert caught.value.url == target.url + "/v3/push/app"
    assert "failed at POST" in caught.value.err_msg
    # the push may have arrived, so the client did not send it again
    journal = (await api.http.get("/_mock/requests")).json()["requests"]
    assert [(e["path"], e["dropped"]) for e in journal] == [("/v3/push/app", True)]


# -- a client's zero values, and the documented bounds -------------------------------------------

ZERO_VALUES = {
    "platform": "",
    "environment": "",
    "send_time": "",
    "plan_id": "",
    "group_id": "",
    "trace_id": "",
    "expire_time": 0,
    "collapse_id": 0,
    "push_speed": 0,
    "multi_pkg": False,
    "force_collapse": False,
    "tag_rules": None,
    "token_list": None,
    "channel_rules": None,
    "loop_param": None,
}


@pytest.mark.push
@pytest.mark.parametrize("name", sorted(ZERO_VALUES))
async def test_a_zero_value_means_not_given(api: Api, name: str) -> None:
    made = body(audience_type="account_list", account_list=ACCOUNTS)
    made[name] = ZERO_VALUES[name]
    assert_accepted(await api.push(made))


@pytest.mark.push
async def test_upload_id_0_on_an_account_push_means_not_given(api: Api) -> None:
    made = body(audience_type="account_list", account_list=ACCOUNTS, upload_id=0)
    assert_accepted(await api.push(made))


OUT_OF_BOUNDS: list[Any] = [
    pytest.param(lambda u: package(u, expire_time=259201), 1008007, id="expire_time-259201"),
    pytest.param(lambda u: package(u, push_speed=999), 1008007, id="push_speed-999"),
    pytest.param(lambda u: package(u, push_speed=50001), 1008007, id="push_speed-50001"),
    pytest.param(
        lambda u: body(audience_type="account_list", account_list=ACCOUNTS, collapse_id=7),
        1008007,
        id="collapse_id-on-account_list",
    ),
    pytest.param(
        lambda u: body(
            audience_type="token_list",
            token_list=TOKENS,
            loop_param={"startDate": "2030-01-01", "endDate": "2030-01-02", "loopType": 1},
        ),
        1008007,
        id="loop_param-on-token_list",
    ),
    pytest.param(
        lambda u: package(u, send_time="2099-01-01 00:00:00"), 10010012, id="send_time-2099"
    ),
    pytest.param(lambda u: package(u, environment="prod"), 1008007, id="environment-prod"),
]


@pytest.mark.parametrize(("case", "code"), OUT_OF_BOUNDS)
async def test_each_value_past_a_documented_bound_is_refused(
    api: Api, upload_id: Callable[..., Any], case: Case, code: int
) -> None:
    assert_push_answer(await api.push(case(await upload_id())), 200, code)


@pytest.mark.push
async def test_the_bounds_themselves_are_accepted(api: Api, upload_id: Callable[..., Any]) -> None:
    uploaded = await upload_id()
    answer = await api.push(package(uploaded, expire_time=259200, push_speed=1000, collapse_id=7))
    assert_accepted(answer)
