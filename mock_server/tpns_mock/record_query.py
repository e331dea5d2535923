"""The body of ``POST /v3/statistics/get_push_record``, checked. Pure Python.

Two documented forms (tencentcloud.com/document/api/1024/33773 and 1024/33772): one task by
``pushId``, or an app's pushes between ``startDate`` and ``endDate`` (``YYYY-MM-DD``, Beijing
time) filtered by ``msgType`` and ``pushType`` and paged by ``offset``/``limit``. Zero values
(``""``, ``0``, ``null``) mean "not given", as for a push.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tpns_client.protocol.records import DATE_FORMAT, MAX_RECORD_LIMIT

from tpns_mock.errors import INVALID_PARAM, MISSING_PARAM, TPNSError
from tpns_mock.push import MESSAGE_TYPES, SEND_TIME_ZONE, is_zero
from tpns_mock.values import is_int

# the filter's pushType values and the audience types each one covers
PUSH_TYPE_AUDIENCES: Mapping[str, frozenset[str]] = {
    "all": frozenset({"all"}),
    "tag": frozenset({"tag"}),
    "token": frozenset({"token", "token_list"}),
    "token_list": frozenset({"token", "token_list"}),
    "account": frozenset({"account", "account_list"}),
    "account_list": frozenset({"account", "account_list"}),
    "package_account_push": frozenset({"package_account_push"}),
    "package_token_push": frozenset({"package_token_push"}),
}


@dataclass(frozen=True)
class RecordQuery:
    push_id: int | None  # the one-task form; None for the date range
    start: float = 0.0  # unix time range [start, end) of the date range
    end: float = 0.0
    msg_type: str | None = None
    audiences: frozenset[str] | None = None  # None: every kind
    offset: int = 0
    limit: int = MAX_RECORD_LIMIT


def _invalid(name: str, rule: str) -> TPNSError:
    return TPNSError(INVALID_PARAM, f"{name!r} {rule}")


def _date(body: Mapping[str, Any], name: str) -> datetime:
    value = body.get(name)
    if value is None:
        raise TPNSError(
            MISSING_PARAM, "'pushId' is required, or 'startDate' and 'endDate' for a date range"
        )
    try:
        return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=SEND_TIME_ZONE)
    except (TypeError, ValueError):
        raise _invalid(name, f"must read 'YYYY-MM-DD', not {value!r}") from None


def _count(body: Mapping[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = body.get(name, default)
    if not is_int(value) or not low <= value <= high:
        raise _invalid(name, f"must be an integer from {low} to {high}, not {value!r}")
    return int(value)


def check_record_query(sent: Mapping[str, Any]) -> RecordQuery:
    body = {k: v for k, v in sent.items() if not is_zero(v)}
    if "pushId" in body:
        push_id = body["pushId"]
        if is_int(push_id):
            push_id = str(push_id)
        if not (isinstance(push_id, str) and push_id.isascii() and push_id.isdigit()):
            raise _invalid("pushId", f"must be the push_id a push answered, not {push_id!r}")
        # an id past 64 bits cannot exist; it is looked up as one that does not
        return RecordQuery(push_id=int(push_id) if len(push_id) < 19 else -1)
    start = _date(body, "startDate")
    end = _date(body, "endDate")
    if end < start:
        raise _invalid("endDate", "must not be before 'startDate'")
    msg_type = body.get("msgType")
    if msg_type is not None and not (isinstance(msg_type, str) and msg_type in MESSAGE_TYPES):
        raise _invalid("msgType", f"must be 'notify' or 'message', not {msg_type!r}")
    push_type = body.get("pushType")
    if push_type is not None and not (
        isinstance(push_type, str) and push_type in PUSH_TYPE_AUDIENCES
    ):
        raise _invalid("pushType", f"must be one of {sorted(PUSH_TYPE_AUDIENCES)}")
    return RecordQuery(
        push_id=None,
        start=start.timestamp(),
        end=(end + timedelta(days=1)).timestamp(),
        msg_type=msg_type,
        audiences=PUSH_TYPE_AUDIENCES[push_type] if push_type is not None else None,
        offset=_count(body, "offset", 0, 2**31 - 1, 0),
        limit=_count(body, "limit", 1, MAX_RECORD_LIMIT, MAX_RECORD_LIMIT),
    )
