"""A thin TPNS client on httpx that works unchanged against tpns-mock or Tencent.

:class:`TPNSClient` (blocking) and :class:`AsyncTPNSClient` share one sans-IO core
(:mod:`tpns_client._core`): same requests, same parsing, same errors, same retries.
"""

from tpns_client._core import PushRecord, PushResult, RetryPolicy, UploadResult
from tpns_client.aio import AsyncTPNSClient
from tpns_client.errors import (
    AuthError,
    PackageRefused,
    PushWaitTimeout,
    RateLimitError,
    TPNSError,
    TransportError,
)
from tpns_client.protocol.paths import REGIONS
from tpns_client.sync import TPNSClient

__all__ = [
    "REGIONS",
    "AsyncTPNSClient",
    "AuthError",
    "PackageRefused",
    "PushRecord",
    "PushResult",
    "PushWaitTimeout",
    "RateLimitError",
    "RetryPolicy",
    "TPNSClient",
    "TPNSError",
    "TransportError",
    "UploadResult",
]
