"""One build at a time per index folder: an exclusive `flock` on `index/.build.lock`.

The kernel drops the lock when its process ends, however it ends (kill -9 included), so
holding it also proves that no other build is alive: whatever `builds/.tmp-*` folders are
left then belong to dead builds and can be removed without a look at their age. The lock
file itself is never deleted (deleting a lock file lets two processes lock two files).

Entry point: `with build_lock(index_dir, wait=False): ...`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".build.lock"


class BuildLocked(RuntimeError):
    """Another build holds the index folder; the message names the fix."""


@contextmanager
def build_lock(index_dir: Path, *, wait: bool = False,
               waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the index folder's build lock. Without `wait`, a held lock raises BuildLocked at
    once; with it, `waiting(message)` is told and the call blocks until the other build ends."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise BuildLocked(
                    f"Another build{holder} is writing {index_dir}/; the index being served is untouched. "
                    "Wait for it to finish, or run: clinic-assistant build --wait"
                ) from None
            if waiting is not None:
                waiting(f"Waiting for another build{holder} to finish...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        # Who holds it, for the message a second build prints.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _holder(fd: int) -> str:
    pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return f" (process {pid})" if pid.isdigit() else ""
