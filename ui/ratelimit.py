"""Questions per minute from one client address, shared by the chat pages and the HTTP API.

A token bucket per address: `per_minute` questions may come at once, and the allowance refills
at per_minute / 60 a second. With 20: twenty quick questions, then one every 3 s.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        """`per_minute` 0 admits everything (for load tests)."""
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when counted)
        self._swept = clock()
        # The API runs on the event loop, Gradio may call the chat from its worker threads.
        self._lock = threading.Lock()

    def take(self, client: str) -> int:
        """Take one question from the client's allowance: 0 if it may be asked now, otherwise
        the whole seconds until it may (the value of a Retry-After header)."""
        if self.per_minute == 0:
            return 0
        rate = self.per_minute / 60  # tokens per second
        with self._lock:
            now = self._clock()
            tokens, counted = self._buckets.get(client, (self.per_minute, now))
            tokens = min(self.per_minute, tokens + (now - counted) * rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                wait = 0
            else:
                self._buckets[client] = (tokens, now)
                wait = max(1, math.ceil((1 - tokens) / rate))
            self._forget_idle(now)
        return wait

    def wait(self, client: str) -> int:
        """The seconds until the client may go on (0: now), without taking from its allowance:
        for limits that count only failures, such as wrong passwords."""
        if self.per_minute == 0:
            return 0
        rate = self.per_minute / 60
        with self._lock:
            tokens, counted = self._buckets.get(client, (self.per_minute, self._clock()))
            tokens = min(self.per_minute, tokens + (self._clock() - counted) * rate)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / rate))

    def _forget_idle(self, now: float) -> None:
        # A bucket untouched for a minute is full again, the same as no bucket: drop it, so
        # memory stays bounded by the clients of the last minute.
        if now - self._swept < 60:
            return
        self._buckets = {client: b for client, b in self._buckets.items() if now - b[1] < 60}
        self._swept = now

