"""The mock's clock: one place that says what time it is, so tests can move time themselves.

A push's record walks from ``PUSH_INIT`` to ``PUSH_FINISHED`` as time passes, and a scheduled
push waits for its ``send_time``: with :class:`ManualClock` a test sets the time and reads the
status, instead of sleeping and hoping the machine was fast enough.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Unix time in seconds."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to; safe to share between threads."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            self._now = when
