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
        with self._lock:
            now = self._clock()
            tokens = self._refilled(client, now)
            wait = self._seconds_to_one(tokens)
            self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
            self._forget_idle(now)
        return wait

    def wait(self, client: str) -> int:
        """The seconds until the client may go on (0: now), without taking from its allowance:
        for limits that count only failures, such as wrong passwords."""
        if self.per_minute == 0:
            return 0
        with self._lock:
            return self._seconds_to_one(self._refilled(client, self._clock()))

    def _refilled(self, client: str, now: float) -> float:
        """The client's tokens at `now`: what was left, plus per_minute / 60 a second, at most full."""
        tokens, counted = self._buckets.get(client, (self.per_minute, now))
        return min(self.per_minute, tokens + (now - counted) * self._rate)

    def _seconds_to_one(self, tokens: float) -> int:
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self._rate))

    @property
    def _rate(self) -> float:
        return self.per_minute / 60  # tokens per second

    def _forget_idle(self, now: float) -> None:
        # A bucket untouched for a minute is full again, the same as no bucket: drop it, so
        # memory stays bounded by the clients of the last minute.
        if now - self._swept < 60:
            return
        self._buckets = {client: b for client, b in self._buckets.items() if now - b[1] < 60}
        self._swept = now

