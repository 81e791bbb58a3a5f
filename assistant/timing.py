"""Where a question's time goes: milliseconds per stage, for benchmarks/run.py.

`Assistant.respond` takes an optional `timings` dict and hands one StageClock down the answer
path; each stage adds its milliseconds under its name ("safety", "encode", "vector search", ...).
Without a dict, nothing is recorded and a lap costs one clock read.
"""

from __future__ import annotations

import time


class StageClock:
    def __init__(self, timings: dict[str, float] | None) -> None:
        self._timings = timings
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Charge the time since the previous lap (or the start) to `stage`."""
        now = time.perf_counter()
        if self._timings is not None:
            self._timings[stage] = self._timings.get(stage, 0.0) + (now - self._last) * 1000
        self._last = now
