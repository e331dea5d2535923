"""Where TPNS is: the regions' base URLs and the API paths the mock emulates."""

from __future__ import annotations

from collections.abc import Mapping

REGIONS: Mapping[str, str] = {
    "guangzhou": "https://api.tpns.tencent.com",
    "shanghai": "https://api.tpns.sh.tencent.com",
    "hongkong": "https://api.tpns.hk.tencent.com",
    "singapore": "https://api.tpns.sgp.tencent.com",
}
UPLOAD_PATH = "/v3/push/package/upload"
PUSH_PATH = "/v3/push/app"
PUSH_RECORD_PATH = "/v3/statistics/get_push_record"
# every TPNS endpoint the mock answers, each with its one method
EMULATED: Mapping[str, str] = {
    UPLOAD_PATH: "POST",
    PUSH_PATH: "POST",
    PUSH_RECORD_PATH: "POST",
}
API_PREFIX = "/v3/"
# paths whose answers are camelCase (retCode/errMsg); the push API answers snake_case
CAMEL_CASE_PREFIXES = (UPLOAD_PATH, "/v3/statistics/")


def camel_case(path: str) -> bool:
    """Whether TPNS answers ``path`` with ``retCode``/``errMsg`` rather than ``ret_code``."""
    return path.startswith(CAMEL_CASE_PREFIXES)
