"""What a fault is: the checked form of a ``POST /_mock/faults`` body. Pure Python.

A fault makes the mock fail the way Tencent fails, so an app's tests can prove their retry and
timeout logic: answer a TPNS error code (``error``), close the connection without an answer
(``drop``), or only be slow and then answer normally (``delay``); or accept a push whose record
then ends ``PUSH_FAILED`` (``fail``). Arming, matching and counting
live in the store (so faults work across worker processes); answering lives in the middleware.
Every mistake in a fault body is a :class:`FaultSpecError` naming the field, answered as 422.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tpns_mock.errors import AUTH_FAILURE, MEANINGS
from tpns_mock.values import has_lone_surrogate, is_int

ACTIONS = ("error", "drop", "delay", "fail")
# "fail": the push is accepted as usual, and its record ends PUSH_FAILED instead of finished
FAIL_PATH = "/v3/push/app"
MAX_DELAY_MS = 600_000
MAX_TIMES = 2**31 - 1
MAX_PATH_CHARS = 1000
MAX_METHOD_CHARS = 20
MAX_ERR_MSG_CHARS = 4096
MAX_BODY_BYTES = 64 * 1024  # a fault body is a few hundred bytes
ADMIN_PREFIX = "/_mock"
# statuses HTTP forbids a body for (RFC 9110): a server must not send one, a client won't read it
NO_BODY_STATUSES = frozenset({204, 205, 304})
FIELDS = (
    "path",
    "method",
    "action",
    "retCode",
    "errMsg",
    "httpStatus",
    "delayMs",
    "times",
    "probability",
)


class FaultSpecError(ValueError):
    """A fault body broke a rule; the message says which field and how."""


@dataclass(frozen=True)
class FaultSpec:
    path: str
    method: str | None  # None: any method
    action: str
    retCode: int | None  # wire names, so the spec round-trips as sent
    errMsg: str | None
    httpStatus: int | None  # only for action 'error'
    delayMs: int
    times: int | None  # None: every matching request
    probability: float

    def public(self) -> dict[str, Any]:
        return asdict(self)


def _int_in(data: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = data.get(name, default)
    if not is_int(value) or not low <= value <= high:
        raise FaultSpecError(f"{name!r} must be an integer from {low} to {high}, not {value!r}")
    return int(value)


def _check_text(name: str, value: str, max_chars: int) -> None:
    if len(value) > max_chars:
        raise FaultSpecError(f"{name!r} has {len(value)} characters; at most {max_chars}")
    if has_lone_surrogate(value):
        raise FaultSpecError(
            f"{name!r} holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair)"
        )


def parse_fault(data: Any) -> FaultSpec:
    """Check a fault body and fill in its defaults."""
    if not isinstance(data, dict):
        raise FaultSpecError("the body must be a JSON object like " + _EXAMPLE)
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise FaultSpecError(f"unknown field(s) {unknown}; the fields are {list(FIELDS)}")

    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise FaultSpecError("'path' is required: the request path to fail, e.g. '/v3/push/app'")
    _check_text("path", path, MAX_PATH_CHARS)
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        raise FaultSpecError("'path' must be a TPNS path; /_mock/ endpoints cannot be failed")
    method = data.get("method")
    if method is not None:
        if (
            not isinstance(method, str)
            or not (method.isascii() and method.isalpha())
            or len(method) > MAX_METHOD_CHARS
        ):
            raise FaultSpecError(f"'method' must be an HTTP method like 'POST', not {method!r}")
        method = method.upper()

    action = data.get("action", "error")
    if action not in ACTIONS:
        raise FaultSpecError(f"'action' must be one of {list(ACTIONS)}, not {action!r}")
    delay_ms = _int_in(data, "delayMs", 0, MAX_DELAY_MS, 0)

    ret_code = data.get("retCode")
    err_msg = data.get("errMsg")
    if action == "error":
        if not is_int(ret_code) or not 0 <= ret_code < 2**31:
            raise FaultSpecError(
                "'retCode' is required for action 'error': the TPNS code to answer, "
                f"e.g. 1008028 (got {ret_code!r})"
            )
        if err_msg is None:
            err_msg = MEANINGS.get(ret_code, "error")
        if not isinstance(err_msg, str):
            raise FaultSpecError("'errMsg' must be a string")
        _check_text("errMsg", err_msg, MAX_ERR_MSG_CHARS)
        default_status = 403 if ret_code == AUTH_FAILURE else 200
        http_status = _int_in(data, "httpStatus", 200, 599, default_status)
        if http_status in NO_BODY_STATUSES:
            raise FaultSpecError(
                f"'httpStatus' {http_status} cannot carry a body, and an error fault answers "
                "with its retCode in one; use another status from 200 to 599"
            )
    else:
        for name in ("retCode", "errMsg", "httpStatus"):
            if name in data:
                raise FaultSpecError(f"{name!r} has no effect with action {action!r}; leave it out")
        if action == "delay" and delay_ms == 0:
            raise FaultSpecError("action 'delay' needs 'delayMs' above 0")
        if action == "fail" and path != FAIL_PATH:
            raise FaultSpecError(
                f"action 'fail' makes an accepted push end PUSH_FAILED; its path is {FAIL_PATH}"
            )
        http_status = None

    times = data.get("times", 1)
    if times is not None and (not is_int(times) or not 1 <= times <= MAX_TIMES):
        raise FaultSpecError(
            f"'times' must be an integer from 1 to {MAX_TIMES}, or null for every time: {times!r}"
        )
    probability = data.get("probability", 1.0)
    if (
        isinstance(probability, bool)
        or not isinstance(probability, (int, float))
        or not 0.0 <= probability <= 1.0
    ):
        raise FaultSpecError(f"'probability' must be a number from 0 to 1, not {probability!r}")

    return FaultSpec(
        path=path,
        method=method,
        action=action,
        retCode=ret_code if action == "error" else None,
        errMsg=err_msg if action == "error" else None,
        httpStatus=http_status,
        delayMs=delay_ms,
        times=times,
        probability=float(probability),
    )


_EXAMPLE = (
    '{"path": "/v3/push/app", "retCode": 1008028, "errMsg": "request too fast", '
    '"httpStatus": 200, "delayMs": 0, "times": 1, "probability": 1.0}'
)
