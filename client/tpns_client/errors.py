"""The client's exceptions: one :class:`TPNSError` carrying TPNS's own ``ret_code``/``err_msg``.

A subclass per thing a caller may want to handle on its own (bad credentials, rate limiting, a
refused package, the network). Messages are built from the server's answer and the URL only, never
from the request's headers, so no SecretKey, Authorization value or Sign can end up in a log or a
traceback.
"""

from __future__ import annotations


class TPNSError(Exception):
    """TPNS refused the request (``ret_code`` != 0), or answered something that is not TPNS.

    ``ret_code`` is None when there was no TPNS answer (a transport failure, a non-JSON body);
    ``http_status`` is None when no HTTP response was received.
    """

    def __init__(self, ret_code: int | None, err_msg: str, http_status: int | None = None) -> None:
        self.ret_code = ret_code
        self.err_msg = err_msg
        self.http_status = http_status
        super().__init__(str(self))

    def __str__(self) -> str:
        code = f"retCode {self.ret_code}" if self.ret_code is not None else "no retCode"
        status = f", HTTP {self.http_status}" if self.http_status is not None else ""
        return f"{code}{status}: {self.err_msg}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(ret_code={self.ret_code!r}, err_msg={self.err_msg!r}, "
            f"http_status={self.http_status!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.ret_code, self.err_msg, self.http_status))


class AuthError(TPNSError):
    """1008003 (or HTTP 401/403): wrong AccessId/SecretKey pair, Sign or TimeStamp."""


class RateLimitError(TPNSError):
    """1008028: too many requests; retried with backoff before this is raised."""


class PackageRefused(TPNSError):
    """The package breaks a rule: refused by the server (1008011, 1008012) or by the local check.

    A local refusal has ``http_status`` None and an ``err_msg`` naming the account (or line) and
    the rule; nothing was sent.
    """

    @property
    def local(self) -> bool:
        return self.http_status is None


class TransportError(TPNSError):
    """No usable HTTP answer: connection refused, timeout, TLS failure. ``url`` says where to.

    ``kind`` is the name of the httpx exception (``ConnectError``, ``ReadTimeout``, ...);
    ``retryable`` is False when the same request cannot do better (an unsupported scheme, a
    malformed URL). The httpx exception itself is not kept (no ``__cause__``, no
    ``__context__``): its request carries the Authorization or Sign header.
    """

    def __init__(self, url: str, err_msg: str, kind: str = "", retryable: bool = True) -> None:
        self.url = url
        self.kind = kind
        self.retryable = retryable
        super().__init__(None, err_msg)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.url, self.err_msg, self.kind, self.retryable))


class PushWaitTimeout(TPNSError, TimeoutError):
    """``wait_for_push`` gave up: the push had not reached a final state in time.

    ``status`` is the last status seen (None when no record of the push was found yet).
    """

    def __init__(self, push_id: str, status: str | None, timeout_s: float) -> None:
        self.push_id = push_id
        self.status = status
        self.timeout_s = timeout_s
        seen = f"still {status}" if status else "no record of it found"
        super().__init__(None, f"push {push_id} not done after {timeout_s:g} s ({seen})")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.push_id, self.status, self.timeout_s))
