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
