"""Questions per minute from one client address, shared by the chat pages and the HTTP API.

A moving window per address, counted by the `limits` library: at most `per_minute` questions in
any 60 seconds. With 20: twenty quick questions, then the next when the first of them is a
minute old. In memory by default; with REDIS_URL the count lives in Redis, so every replica
behind a load balancer counts the same visitor together.

If Redis cannot be reached, this replica goes on counting alone in memory (a visitor may then
get up to one allowance per replica) and `degraded_reason()` says so for /healthz; Redis is
tried again every REDIS_RETRY_SECONDS.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time

from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

# After a failed call to Redis, count locally for this long before trying it again: one slow or
# refused call per 5 s at most while Redis is down, and a quick return once it is back.
REDIS_RETRY_SECONDS = 5.0
# A Redis on the same network answers in well under a millisecond; past this it counts as down
# (this is the longest a question can be held up by a Redis that stopped answering).
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_DOWN = "Redis is unreachable: rate limits are counted by this replica alone."


class SharedCounts:
    """Where the windows are counted: Redis when a URL is given, with a local fallback."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.shared = None
        if redis_url:
            storage = storage_from_string(redis_url, wrap_exceptions=True, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                          socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
            self.shared = MovingWindowRateLimiter(storage)
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def call(self, operation: str, *args):
        """`operation` of the moving-window strategy, on Redis while it answers, else locally."""
        if self.shared is not None and not self._resting():
            try:
                result = getattr(self.shared, operation)(*args)
            except StorageError as error:
                with self._lock:
                    if self._failed_at is None:
                        log.warning("rate limits: Redis failed (%s), counting locally", type(error.storage_error).__name__)
                    self._failed_at = time.monotonic()
            else:
                if self._failed_at is not None:
                    log.warning("rate limits: Redis answers again, counting there")
                    self._failed_at = None
                return result
        return getattr(self.local, operation)(*args)

    def degraded_reason(self) -> str | None:
        """None while Redis counts (or none is configured), else one sentence without any client.
        Asks Redis (one PING) unless it failed a moment ago, so /healthz tells even when no
        visitor has been counted since Redis went away, or came back."""
        if self.shared is None:
            return None
        if not self._resting():
            if self.shared.storage.check():
                self._failed_at = None
            else:
                if self._failed_at is None:
                    log.warning("rate limits: Redis does not answer, counting locally")
                self._failed_at = time.monotonic()
        return REDIS_DOWN if self._failed_at is not None else None

    def _resting(self) -> bool:
        failed_at = self._failed_at
        return failed_at is not None and time.monotonic() - failed_at < REDIS_RETRY_SECONDS


@functools.lru_cache(maxsize=None)
def shared_counts(redis_url: str | None) -> SharedCounts:
    """One connection pool and one up/down state per Redis URL in a process, for all its limiters."""
    return SharedCounts(redis_url)


class RateLimiter:
    def __init__(self, per_minute: int, *, name: str = "questions", redis_url: str | None = None,
                 window_seconds: int = 60) -> None:
        """`per_minute` 0 admits everything (for load tests). `name` keeps limiters that count
        different things (questions, votes, failed logins) apart in one Redis. `window_seconds`
        is a minute except in tests that wait for a window to pass."""
        self.per_minute = per_minute
        # In memory, each limiter counts alone (two apps in one process must not share counts);
        # in Redis, sharing is the point.
        self.counts = shared_counts(redis_url) if redis_url else SharedCounts(None)
        self._item = RateLimitItemPerSecond(max(per_minute, 1), window_seconds, namespace=f"clinic-assistant/{name}")

    def take(self, client: str) -> int:
        """Take one question from the client's allowance: 0 if it may be asked now, otherwise
        the whole seconds until it may (the value of a Retry-After header)."""
        if self.per_minute == 0:
            return 0
        if self.counts.call("hit", self._item, client):
            return 0
        return self._seconds_to_next(client)

    def wait(self, client: str) -> int:
        """The seconds until the client may go on (0: now), without taking from its allowance:
        for limits that count only failures, such as wrong passwords."""
        if self.per_minute == 0 or self.counts.call("test", self._item, client):
            return 0
        return self._seconds_to_next(client)

    def degraded_reason(self) -> str | None:
        return self.counts.degraded_reason()

    def _seconds_to_next(self, client: str) -> int:
        # The window's oldest question leaves it at reset_time (seconds since the epoch).
        reset_at, _remaining = self.counts.call("get_window_stats", self._item, client)
        return max(1, math.ceil(reset_at - time.time()))
