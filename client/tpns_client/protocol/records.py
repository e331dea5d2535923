"""Push records (``POST /v3/statistics/get_push_record``) and the push answer's success shape.

A push answers its ``push_id`` at once; what happens to it afterwards is a record whose
``status`` walks from ``PUSH_INIT`` (or ``PUSH_WAIT`` for a push scheduled with ``send_time``)
through ``PUSH_STARTED`` to a final state. Sources: tencentcloud.com/document/api/1024/33773 (one
task) and 1024/33772 (a date range); both allow 200 calls per hour.
"""

from __future__ import annotations

PUSH_INIT = "PUSH_INIT"  # task created
PUSH_WAIT = "PUSH_WAIT"  # scheduled: waiting for its send_time
PUSH_STARTED = "PUSH_STARTED"
PUSH_FINISHED = "PUSH_FINISHED"
PUSH_FAILED = "PUSH_FAILED"
PUSH_CANCELED = "PUSH_CANCELED"
PUSH_DELETED = "PUSH_DELETED"
PUSH_REVOKED = "PUSH_REVOKED"
PUSH_COLLAPSED = "PUSH_COLLAPSED"
PUSH_DELETED_PUSH_MSG = "PUSH_DELETED_PUSH_MSG"

STATES = (
    PUSH_INIT,
    PUSH_WAIT,
    PUSH_STARTED,
    PUSH_FINISHED,
    PUSH_FAILED,
    PUSH_CANCELED,
    PUSH_DELETED,
    PUSH_REVOKED,
    PUSH_COLLAPSED,
    PUSH_DELETED_PUSH_MSG,
)
# states a push never leaves: waiting for one of these can stop
FINAL_STATES = frozenset(STATES) - {PUSH_INIT, PUSH_WAIT, PUSH_STARTED}

RECORD_CALLS_PER_HOUR = 200
RECORD_WINDOW_S = 3600.0
MAX_RECORD_LIMIT = 200  # `limit` of the date-range form
DATE_FORMAT = "%Y-%m-%d"
RECORD_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# The one success answer of POST /v3/push/app on record from the real service (a comment in a
# public copy of Tencent's PHP SDK): besides seq, push_id, ret_code and environment it carries
# these, in this order. Note Tencent's spelling "targe".
PUSH_SUCCESS_ERR_MSG = "NO_ERROR"
PUSH_SUCCESS_EXTRA = {"err_msg": PUSH_SUCCESS_ERR_MSG, "err_msg_zh": "", "result": "{}"}
INVALID_TARGETS_KEY = "invalid_targe_list"
