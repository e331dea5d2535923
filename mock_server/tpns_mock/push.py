"""The push rules: the raw body of ``POST /v3/push/app`` in, a checked :class:`PushRequest` out.

Pure Python, no web framework: the route reads the body and authenticates, this module says
whether the body is a push Tencent would take; the route then looks the upload up in the store
and :func:`check_target` says whether the push may go to it. Every refusal is a
:class:`~tpns_mock.errors.TPNSError` naming the field and the rule:
1008001 when the body cannot be read as a JSON object, 1008002 when a required field is absent,
1008007 when a field has the wrong type or value, 10010012 for a malformed ``send_time``.
Sources and choices are in docs/fidelity.md.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, BinaryIO

from tpns_client.protocol.package import TOKEN_CHARS, Rules, first_non_token

from tpns_mock.errors import (
    ILLEGAL_SEND_TIME,
    INVALID_PARAM,
    MISSING_PARAM,
    PARAM_PARSE_ERROR,
    PUSH_TARGET_NOT_FOUND,
    RATE_LIMITED,
    TPNSError,
)
from tpns_mock.values import first_lone_surrogate, is_int

if TYPE_CHECKING:
    from tpns_mock.store import Upload

PACKAGE_AUDIENCES = frozenset({"package_account_push", "package_token_push"})
AUDIENCES = frozenset(
    {"all", "tag", "token", "token_list", "account", "account_list", *PACKAGE_AUDIENCES}
)
# Tencent limits full, tag and number-package pushes to one per second per app
RATE_LIMITED_AUDIENCES = frozenset({"all", "tag", *PACKAGE_AUDIENCES})
MESSAGE_TYPES = frozenset({"notify", "message"})
ENVIRONMENTS = frozenset({"product", "dev"})
# "all" is the Java SDK's default (and an older document's value for both platforms): like an
# absent platform, the message's shape then says which platform is meant
PLATFORMS = frozenset({"android", "ios", "all"})
TAG_OPS = frozenset({"AND", "OR"})
MAX_LIST_ITEMS = 1000
MAX_BODY_BYTES = 1024 * 1024
SEND_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# send_time is Beijing time, the zone of Tencent's service and its documents
SEND_TIME_ZONE = timezone(timedelta(hours=8), "UTC+8")
# strptime reads any Unicode digit (full-width, Arabic-Indic) as a digit; the rule is ASCII
# digits (one or two per field but the year, as strptime reads them)
SEND_TIME_SHAPE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2} [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}")
# deeper than any push Tencent documents (about 5), shallow enough that every answer that
# echoes a stored body stays within Python's recursion limit
MAX_DEPTH = 64
DEFAULT_ENVIRONMENT = "product"
# the bounds of the push document (548/39064)
MAX_SEND_AHEAD_S = 90 * 86400
MAX_EXPIRE_TIME_S = 259200
PUSH_SPEED_RANGE = (1000, 50000)
# full, tag and package pushes: the ones that may be scheduled, looped and collapsed
BROAD_AUDIENCES = frozenset({"all", "tag", *PACKAGE_AUDIENCES})


@dataclass(frozen=True)
class PushRequest:
    """A push body that passed every rule; ``body`` is the JSON object as sent."""

    audience_type: str
    message_type: str
    platform: str
    environment: str  # as sent, or DEFAULT_ENVIRONMENT
    seq: int
    upload_id: int | None  # for the package audiences
    target_count: int | None  # accounts/tokens listed in the body, for the list audiences
    body: Mapping[str, Any]
    send_at: float | None = None  # unix time of a send_time that schedules the push

    def scheduled(self, now: float) -> bool:
        """Whether the push waits (PUSH_WAIT) for a send_time still ahead of ``now``."""
        return self.send_at is not None and self.send_at > now

    @property
    def rate_limited(self) -> bool:
        return self.audience_type in RATE_LIMITED_AUDIENCES


def _missing(name: str, why: str = "") -> TPNSError:
    return TPNSError(MISSING_PARAM, f"{name!r} is required{why}")


def _invalid(name: str, rule: str) -> TPNSError:
    return TPNSError(INVALID_PARAM, f"{name!r} {rule}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number as a float; one too large for a double (``1e400``) would become infinity,
    which no JSON answer can carry."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def one_of(value: Any, choices: frozenset[str]) -> bool:
    """``value in choices`` for a JSON value of any type (a list or object is unhashable)."""
    return isinstance(value, str) and value in choices


def depth_of(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0). Iterative."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


def parse_body(raw: bytes, what: str = "the push") -> dict[str, Any]:
    """The body as a JSON object, or 1008001 saying why it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TPNSError(PARAM_PARSE_ERROR, f"the body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise TPNSError(PARAM_PARSE_ERROR, f"the body is empty: send {what} as a JSON object")
    try:
        body = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise TPNSError(
            PARAM_PARSE_ERROR,
            f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise TPNSError(PARAM_PARSE_ERROR, f"the body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise TPNSError(
            PARAM_PARSE_ERROR, f"the body must be a JSON object, not a {type(body).__name__}"
        )
    if depth_of(body) > MAX_DEPTH:
        raise TPNSError(
            INVALID_PARAM,
            f"the body nests arrays and objects more than {MAX_DEPTH} levels deep; "
            "a push is far flatter",
        )
    return body


def seq_of(body: Mapping[str, Any]) -> int:
    """The request's ``seq``, echoed in every answer; 0 when absent or unusable."""
    seq = body.get("seq")
    return seq if is_int(seq) and 0 <= seq < 2**63 else 0


def _string_list(body: Mapping[str, Any], name: str, audience: str) -> int:
    if name not in body:
        raise _missing(name, f" for audience_type {audience!r}")
    items = body[name]
    if not isinstance(items, list) or not items:
        raise _invalid(name, "must be a non-empty JSON array of strings")
    if len(items) > MAX_LIST_ITEMS:
        raise _invalid(name, f"has {len(items)} items; at most {MAX_LIST_ITEMS} are allowed")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise _invalid(name, f"item {index} must be a non-empty string")
    return len(items)


def _check_tag(body: Mapping[str, Any]) -> None:
    if "tag_rules" not in body and "tag_list" not in body:
        raise _missing("tag_rules", " (or 'tag_list') for audience_type 'tag'")
    if "tag_rules" in body:
        rules = body["tag_rules"]
        if not isinstance(rules, list) or not rules or not all(isinstance(r, dict) for r in rules):
            raise _invalid("tag_rules", "must be a non-empty JSON array of rule objects")
    if "tag_list" in body:
        tag_list = body["tag_list"]
        if not isinstance(tag_list, dict):
            raise _invalid("tag_list", 'must be an object like {"tags": ["t1"], "op": "OR"}')
        tags = tag_list.get("tags")
        if not isinstance(tags, list) or not tags:
            raise _invalid("tag_list", "needs 'tags', a non-empty array of strings")
        if not all(isinstance(t, str) and t for t in tags):
            raise _invalid("tag_list", "'tags' must hold non-empty strings")
        if not one_of(tag_list.get("op"), TAG_OPS):
            raise _invalid("tag_list", "needs 'op', 'AND' or 'OR'")


def _check_message(body: Mapping[str, Any], platform: str) -> None:
    if "message" not in body:
        raise _missing("message")
    message = body["message"]
    if not isinstance(message, dict):
        raise _invalid("message", "must be a JSON object")
    if platform == "ios":
        ios = message.get("ios")
        if ios is None:
            raise _missing("message.ios", " for an iOS push (it carries 'aps')")
        if not isinstance(ios, dict):
            raise _invalid("message.ios", "must be a JSON object")
        if "aps" not in ios:
            raise _missing("message.ios.aps", " for an iOS push")
        if not isinstance(ios["aps"], dict):
            raise _invalid("message.ios.aps", "must be a JSON object")
        return
    for name in ("title", "content"):
        if name not in message:
            raise _missing(f"message.{name}", " for an Android push")
        if not isinstance(message[name], str):
            raise _invalid(f"message.{name}", "must be a string")
    if not message["content"]:
        raise _invalid("message.content", "must not be empty")


def _platform_of(body: Mapping[str, Any]) -> str:
    """``platform`` if sent; else iOS when the message carries an ``ios`` object and no
    ``content`` (an empty one, as the PHP SDK sends by default, counts as none)."""
    if "platform" in body:
        platform = body["platform"]
        if not isinstance(platform, str) or platform not in PLATFORMS:
            raise _invalid("platform", f"must be 'android' or 'ios', not {platform!r}")
        if platform != "all":
            return platform
    message = body.get("message")
    if (
        isinstance(message, dict)
        and message.get("ios") is not None
        and is_zero(message.get("content"))
    ):
        return "ios"
    return "android"


def is_zero(value: Any) -> bool:
    """A client's zero value, which Tencent's SDKs send for a field they were not given:
    ``null``, ``false``, ``""`` or ``0``."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return value == ""
    return is_int(value) and value == 0


def given_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's top-level fields without the zero values that mean "not given".

    Go's encoder writes every field without ``omitempty`` and PHP's every property, so an
    SDK's push carries ``"platform": ""``, ``"upload_id": 0``, ``"tag_rules": null`` and the
    like; Tencent takes those as absent. A package push's ``upload_id`` is kept even when 0,
    so it is refused as an id no upload can have rather than as missing.
    """
    given = {k: v for k, v in body.items() if not is_zero(v)}
    audience = body.get("audience_type")
    upload_id = body.get("upload_id")
    if isinstance(audience, str) and audience in PACKAGE_AUDIENCES and is_int(upload_id):
        given["upload_id"] = upload_id
    return given


def _send_at(send_time: Any) -> float:
    """The unix time of a ``send_time`` string, or 10010012 naming the format."""
    try:
        if not (isinstance(send_time, str) and SEND_TIME_SHAPE.fullmatch(send_time)):
            raise ValueError(send_time)
        when = datetime.strptime(send_time, SEND_TIME_FORMAT)
    except ValueError:
        raise TPNSError(
            ILLEGAL_SEND_TIME, f"'send_time' must read 'YYYY-MM-DD HH:MM:SS', not {send_time!r}"
        ) from None
    return when.replace(tzinfo=SEND_TIME_ZONE).timestamp()


def _check_bounds(body: Mapping[str, Any], audience: str) -> None:
    """The push document's bounds on optional fields (each only when given)."""
    if "expire_time" in body and body["expire_time"] > MAX_EXPIRE_TIME_S:
        raise _invalid(
            "expire_time",
            f"must be at most {MAX_EXPIRE_TIME_S} s (3 days), not {body['expire_time']}",
        )
    if "push_speed" in body:
        speed = body["push_speed"]
        low, high = PUSH_SPEED_RANGE
        if not is_int(speed) or not low <= speed <= high:
            raise _invalid("push_speed", f"must be an integer from {low} to {high}, not {speed!r}")
    for name in ("loop_param", "collapse_id"):
        if name in body and audience not in BROAD_AUDIENCES:
            raise _invalid(name, f"is only for full, tag and package pushes, not {audience!r}")
    if "collapse_id" in body and (not is_int(body["collapse_id"]) or body["collapse_id"] < 0):
        raise _invalid("collapse_id", "must be a non-negative integer")
    if "loop_param" in body and not isinstance(body["loop_param"], dict):
        raise _invalid("loop_param", "must be a JSON object")


def _optional_int(
    body: Mapping[str, Any], name: str, allowed: frozenset[int] | None = None
) -> None:
    if name not in body:
        return
    value = body[name]
    if not is_int(value) or value < 0:
        raise _invalid(name, "must be a non-negative integer")
    if allowed is not None and value not in allowed:
        raise _invalid(name, f"must be one of {sorted(allowed)}, not {value}")


def check_push(sent: Mapping[str, Any], now: float | None = None) -> PushRequest:
    """Check a parsed push body against the rules, in the order a reader would fix them.

    ``now`` (unix time) is when the push arrives, for the ``send_time`` bound.
    """
    now = time.time() if now is None else now
    body = given_fields(sent)
    if "audience_type" not in body:
        raise _missing("audience_type")
    audience = body["audience_type"]
    if not isinstance(audience, str) or audience not in AUDIENCES:
        raise _invalid("audience_type", f"must be one of {sorted(AUDIENCES)}, not {audience!r}")
    if "message_type" not in body:
        raise _missing("message_type")
    message_type = body["message_type"]
    if not isinstance(message_type, str) or message_type not in MESSAGE_TYPES:
        raise _invalid("message_type", f"must be 'notify' or 'message', not {message_type!r}")
    platform = _platform_of(body)
    _check_message(body, platform)
    if "environment" in body:
        environment = body["environment"]
        if not isinstance(environment, str) or environment not in ENVIRONMENTS:
            raise _invalid("environment", f"must be 'product' or 'dev', not {environment!r}")
    elif platform == "ios":
        raise _missing("environment", " for an iOS push ('product' or 'dev')")
    else:
        environment = DEFAULT_ENVIRONMENT
    if "seq" in body and not (is_int(body["seq"]) and 0 <= body["seq"] < 2**63):
        raise _invalid("seq", "must be a non-negative 64-bit integer")

    upload_id: int | None = None
    target_count: int | None = None
    if audience in PACKAGE_AUDIENCES:
        if "upload_id" not in body:
            raise _missing("upload_id", f" for audience_type {audience!r}")
        upload_id = body["upload_id"]
        if not is_int(upload_id) or not 0 < upload_id < 2**31:
            raise _invalid("upload_id", "must be the positive integer an upload answered with")
    elif audience == "tag":
        _check_tag(body)
    elif audience in ("token", "token_list"):
        target_count = _string_list(body, "token_list", audience)
    elif audience in ("account", "account_list"):
        target_count = _string_list(body, "account_list", audience)

    _optional_int(body, "account_push_type", frozenset({0, 1}))
    _optional_int(body, "account_type")
    _optional_int(body, "expire_time")
    _check_bounds(body, audience)
    send_at: float | None = None
    if "send_time" in body:
        when = _send_at(body["send_time"])
        if audience in BROAD_AUDIENCES:
            if when - now > MAX_SEND_AHEAD_S:
                raise TPNSError(
                    ILLEGAL_SEND_TIME,
                    f"'send_time' {body['send_time']!r} (Beijing time) is more than 90 days ahead",
                )
            send_at = when
    unencodable = first_lone_surrogate(sent, "")
    if unencodable is not None:
        raise _invalid(
            unencodable, "holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair)"
        )
    return PushRequest(
        audience_type=str(audience),
        message_type=str(message_type),
        platform=platform,
        environment=str(environment),
        seq=seq_of(body),
        upload_id=upload_id,
        target_count=target_count,
        body=sent,
        send_at=send_at,
    )


def check_target(
    push: PushRequest,
    access_id: str,
    upload: Upload | None,
    open_package: Callable[[Upload], BinaryIO],
) -> Upload:
    """The upload a package push names, if it may be pushed to: the caller's own (another app's
    upload is as unknown as a missing one, 10010005) and, for ``package_token_push``, a package
    of 36-character tokens (else 1008007 naming the first other line). Reads the package, so
    the route calls it off the event loop."""
    assert push.upload_id is not None
    if upload is None or upload.access_id != access_id:
        raise TPNSError(
            PUSH_TARGET_NOT_FOUND,
            f"upload_id {push.upload_id} is not an upload of this app (AccessId {access_id})",
        )
    if push.audience_type == "package_token_push":
        try:
            with open_package(upload) as handle:
                problem = first_non_token(handle, upload.file_name, Rules(upload.rules))
        except OSError:
            raise TPNSError(
                PUSH_TARGET_NOT_FOUND, f"upload_id {push.upload_id} no longer exists"
            ) from None
        if problem is not None:
            line, chars = problem
            raise TPNSError(
                INVALID_PARAM,
                f"upload_id {push.upload_id} is not a token package: line {line} has {chars} "
                f"characters, a token has {TOKEN_CHARS} (use package_account_push for accounts)",
            )
    return upload


def rate_limited(wait_s: float, interval_s: float) -> TPNSError:
    """1008028 for a limited push made ``wait_s`` before the app's slot frees."""
    return TPNSError(
        RATE_LIMITED,
        f"at most one full, tag or package push per {interval_s:g} s per app; "
        f"retry in {wait_s:.2f} s",
    )
