"""The mock's view of TPNS return codes: the protocol's, plus the helpers its layers share.

The codes live once, in :mod:`tpns_client.protocol.codes`; everything below the routes raises
:class:`TPNSError` (the protocol's :class:`~tpns_client.protocol.codes.Refusal`), and only the
routes decide how it is shaped on the wire.
"""

from __future__ import annotations

from tpns_client.protocol.codes import (
    AUTH_FAILURE,
    ILLEGAL_SEND_TIME,
    INVALID_PARAM,
    MEANINGS,
    MISSING_PARAM,
    PARAM_PARSE_ERROR,
    PUSH_TARGET_NOT_FOUND,
    RATE_LIMITED,
    SERVICE_ERROR,
    SUCCESS,
    UPLOAD_EMPTY_FILE,
    UPLOAD_FILE_ERROR,
)
from tpns_client.protocol.codes import Refusal as TPNSError

__all__ = [
    "AUTH_FAILURE",
    "ILLEGAL_SEND_TIME",
    "INVALID_PARAM",
    "MEANINGS",
    "MISSING_PARAM",
    "PARAM_PARSE_ERROR",
    "PUSH_TARGET_NOT_FOUND",
    "RATE_LIMITED",
    "SERVICE_ERROR",
    "SUCCESS",
    "UPLOAD_EMPTY_FILE",
    "UPLOAD_FILE_ERROR",
    "TPNSError",
    "auth_failure",
]


def auth_failure(message: str) -> TPNSError:
    return TPNSError(AUTH_FAILURE, message, http_status=403)
