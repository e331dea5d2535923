"""TPNS return codes, their meanings, and :class:`Refusal`, the exception that carries one.

The codes and their meanings are Tencent's (see docs/fidelity.md for sources). The rules raise
:class:`Refusal`; the mock's routes decide how it is shaped on the wire (camelCase for the upload,
snake_case for the push) and the client's local check turns it into ``PackageRefused``.
"""

from __future__ import annotations

SUCCESS = 0
PARAM_PARSE_ERROR = 1008001
MISSING_PARAM = 1008002
AUTH_FAILURE = 1008003
SERVICE_ERROR = 1008004
INVALID_PARAM = 1008007
UPLOAD_FILE_ERROR = 1008011
UPLOAD_EMPTY_FILE = 1008012
RATE_LIMITED = 1008028
PUSH_TARGET_NOT_FOUND = 10010005
ILLEGAL_SEND_TIME = 10010012

MEANINGS: dict[int, str] = {
    SUCCESS: "success",
    PARAM_PARSE_ERROR: "parameter parse error",
    MISSING_PARAM: "missing parameter",
    AUTH_FAILURE: "auth failure",
    SERVICE_ERROR: "invoke service error",
    INVALID_PARAM: "invalid parameter",
    UPLOAD_FILE_ERROR: "upload file error",
    UPLOAD_EMPTY_FILE: "upload empty file",
    RATE_LIMITED: "request too fast",
    PUSH_TARGET_NOT_FOUND: "push target does not exist",
    ILLEGAL_SEND_TIME: "illegal send_time",
}
# the codes a refused package answers
PACKAGE_CODES = frozenset({UPLOAD_FILE_ERROR, UPLOAD_EMPTY_FILE})


class Refusal(Exception):
    """A refusal with a TPNS return code, a human message and the HTTP status to answer with.

    Business errors answer HTTP 200, as Tencent does; only auth failures use 403.
    """

    def __init__(self, code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status

    @property
    def err_msg(self) -> str:
        """The message as sent: Tencent's meaning of the code, then what exactly went wrong."""
        meaning = MEANINGS.get(self.code, "error")
        return f"{meaning}: {self.message}" if self.message else meaning

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.code}, {self.message!r}, http_status={self.http_status})"
