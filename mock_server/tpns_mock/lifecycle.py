"""What happens to a push after its ``push_id``: its status over time, and its push record.

Pure Python: a stored push and a time in, a status or a ``pushRecordData`` entry out. Every
accepted push walks ``PUSH_INIT`` -> ``PUSH_STARTED`` -> ``PUSH_FINISHED`` (or ``PUSH_FAILED``
when a fault said so) over its duration, from the moment it starts: when it was made, or its
``send_time``, before which it is ``PUSH_WAIT``. Status is computed from the clock when read,
never stored, so it needs no background task and every worker process agrees on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tpns_client.protocol.records import (
    PUSH_FAILED,
    PUSH_FINISHED,
    PUSH_INIT,
    PUSH_STARTED,
    PUSH_WAIT,
    RECORD_DATE_FORMAT,
)

from tpns_mock.push import MAX_EXPIRE_TIME_S, SEND_TIME_ZONE, is_zero
from tpns_mock.values import is_int

if TYPE_CHECKING:
    from tpns_mock.store import Push

INIT_SHARE = 0.25  # the first quarter of the duration is PUSH_INIT, the rest PUSH_STARTED
# the record's pushType for each audience_type (the document lists the list forms)
PUSH_TYPES = {"token": "token_list", "account": "account_list"}
LIST_TARGETS = {
    "token": "token_list",
    "token_list": "token_list",
    "account": "account_list",
    "account_list": "account_list",
}


def status_at(push: Push, now: float) -> str:
    """The push's status at unix time ``now``."""
    if push.start_at is None:  # recorded before pushes had a lifecycle
        return PUSH_FAILED if push.failed else PUSH_FINISHED
    if now < push.start_at:
        return PUSH_WAIT if push.scheduled else PUSH_INIT
    elapsed = now - push.start_at
    if elapsed >= push.duration_s:
        return PUSH_FAILED if push.failed else PUSH_FINISHED
    return PUSH_INIT if elapsed < push.duration_s * INIT_SHARE else PUSH_STARTED


def record_date(when: float) -> str:
    """A record's ``date``: Beijing time, as ``send_time`` is read."""
    return datetime.fromtimestamp(when, SEND_TIME_ZONE).strftime(RECORD_DATE_FORMAT)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _tag_set(body: Mapping[str, Any]) -> dict[str, Any]:
    """The record's ``tagSet`` for a tag push: ``{"op", "tagWithType": [...]}``."""
    tag_list = body.get("tag_list")
    if isinstance(tag_list, dict):
        tags = [t for t in tag_list.get("tags") or [] if isinstance(t, str)]
        return {
            "op": _text(tag_list.get("op")),
            "tagWithType": [{"tagTypeName": "xg_user_define", "tagValue": t} for t in tags],
        }
    found: list[dict[str, str]] = []
    op = ""
    rules = body.get("tag_rules")
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict):
            continue
        op = op or _text(rule.get("operator"))
        items = rule.get("tag_items")
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            kind = _text(item.get("tag_type")) or "xg_user_define"
            values = item.get("tags")
            for tag in values if isinstance(values, list) else []:
                if isinstance(tag, str):
                    found.append({"tagTypeName": kind, "tagValue": tag})
    return {"op": op, "tagWithType": found}


def push_record(push: Push, now: float) -> dict[str, Any]:
    """The push as ``get_push_record`` shows it (camelCase). Every key is always present, with
    an empty value where it does not apply, so a client decoding into a fixed structure never
    meets a missing field."""
    body = push.request
    message = body.get("message") if isinstance(body.get("message"), dict) else {}
    assert isinstance(message, dict)
    expire = body.get("expire_time")
    list_field = LIST_TARGETS.get(push.audience_type)
    targets = body.get(list_field) if list_field else None
    collapse = body.get("collapse_id")
    started = push.start_at if push.start_at is not None else 0.0
    return {
        "date": record_date(started),
        "pushId": push.push_id,
        "title": _text(message.get("title")),
        "content": _text(message.get("content")),
        "status": status_at(push, now),
        "pushType": PUSH_TYPES.get(push.audience_type, push.audience_type),
        "messageType": push.message_type,
        "environment": push.environment,
        "expireTime": expire if is_int(expire) and not is_zero(expire) else MAX_EXPIRE_TIME_S,
        "xgMediaResources": _text(message.get("xg_media_resources")),
        "multiPkg": body.get("multi_pkg") is True,
        "targetList": [t for t in targets if isinstance(t, str)]
        if isinstance(targets, list)
        else [],
        "collapseID": collapse if is_int(collapse) else 0,
        "tagSet": _tag_set(body) if push.audience_type == "tag" else {},
        "uploadId": push.upload_id or 0,
    }
