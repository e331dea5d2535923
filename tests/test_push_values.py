"""Generated cases for the push rules' value checks (pure, no server): a client's zero values
never change the outcome, and no JSON value in an optional field escapes as anything but a
TPNS refusal."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tpns_mock.errors import TPNSError
from tpns_mock.push import check_push, given_fields

NOW = 1_800_000_000.0
BASE = {
    "audience_type": "account_list",
    "account_list": ["alice"],
    "message_type": "notify",
    "message": {"title": "t", "content": "c"},
}
OPTIONAL = [
    "platform",
    "environment",
    "send_time",
    "plan_id",
    "group_id",
    "trace_id",
    "upload_id",
    "expire_time",
    "collapse_id",
    "push_speed",
    "multi_pkg",
    "force_collapse",
    "tag_rules",
    "token_list",
    "channel_rules",
    "loop_param",
    "account_type",
    "account_push_type",
    "seq",
]
ZEROS = st.sampled_from(["", 0, False, None])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(OPTIONAL), ZEROS))
def test_zero_values_in_optional_fields_are_as_if_absent(zeros: dict[str, Any]) -> None:
    push = check_push({**BASE, **zeros}, NOW)
    assert (push.audience_type, push.platform, push.environment) == (
        "account_list",
        "android",
        "product",
    )
    assert push.send_at is None and push.body == {**BASE, **zeros}
    assert given_fields({**BASE, **zeros}) == BASE


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(OPTIONAL), JSON, min_size=1))
def test_any_json_in_optional_fields_is_accepted_or_a_tpns_refusal(fields: dict[str, Any]) -> None:
    for audience in ("account_list", "package_account_push", "all"):
        body = {**BASE, "audience_type": audience, **fields}
        try:
            check_push(body, NOW)
        except TPNSError as error:
            assert error.code in (1008002, 1008007, 10010012), error
