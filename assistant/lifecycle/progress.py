"""What a build shows while it works: a bar on a terminal, a plain line now and then elsewhere.

Off a terminal (a log file, CI, `make run` piped) a bar's carriage returns turn into one long
line, so there each stage prints when it starts, every `interval` seconds with the time left,
and when it ends. Without a stream (library calls, tests) nothing is shown.

Entry point: `with progress.stage("embedding passages", total, "passage") as advance: advance(n)`.
A build also tells its progress when it holds the lock and starts (`started`), and how it ended
(`finished(report)` or `failed(error)`), still holding it: status.py writes those down for the
staff console, where no later build can overwrite them first.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, interval: float = 10.0) -> None:
        self.stream = stream
        self.interval = interval
        self.on_terminal = bool(stream is not None and stream.isatty())

    @classmethod
    def to_stderr(cls) -> "Progress":
        return cls(sys.stderr)

    def note(self, message: str) -> None:
        if self.stream is not None:
            print(message, file=self.stream, flush=True)

    def started(self) -> None:
        """The build holds the lock and begins."""

    def finished(self, report) -> None:
        """The build ended with this BuildReport (published or not)."""

    def failed(self, error: BaseException) -> None:
        """The build stopped on this error; nothing it made is served."""

    @contextmanager
    def stage(self, description: str, total: int, unit: str) -> Iterator[Callable[[int], None]]:
        """Yields `advance(n)`: call it as each piece of the `total` is done."""
        if self.stream is None or total == 0:
            yield lambda n: None
        elif self.on_terminal:
            from tqdm import tqdm  # installed with sentence-transformers

            with tqdm(total=total, desc=description, unit=f" {unit}s", file=self.stream,
                      dynamic_ncols=True, smoothing=0.1) as bar:
                yield bar.update
        else:
            yield from self._log_lines(description, total, unit)

    def _log_lines(self, description: str, total: int, unit: str) -> Iterator[Callable[[int], None]]:
        started = last = time.monotonic()
        done = 0
        self.note(f"{description}: 0/{total} {unit}s")

        def advance(n: int) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last >= self.interval and done < total:
                last = now
                left = (now - started) / done * (total - done)
                self.note(f"{description}: {done}/{total} {unit}s ({done * 100 // total}%), about {_duration(left)} left")

        yield advance
        self.note(f"{description}: {done}/{total} {unit}s in {_duration(time.monotonic() - started)}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
