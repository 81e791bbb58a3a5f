"""One build at a time per index folder (an exclusive `flock` on `index/.build.lock`), and one
crawl at a time per corpus folder (`corpus/.crawl.lock`).

The kernel drops the lock when its process ends, however it ends (kill -9 included), so
holding it also proves that no other build is alive: whatever `builds/.tmp-*` folders are
left then belong to dead builds and can be removed without a look at their age. The lock
file itself is never deleted (deleting a lock file lets two processes lock two files).

The lock is a file in the folder itself, so every process that shares the folder (servers on
several machines reading one index over NFS, a build started from a shell) shares the lock.

Entry points: `with build_lock(index_dir, wait=False): ...`, `with crawl_lock(corpus_dir): ...`,
`build_running(index_dir)`, `crawl_running(corpus_dir)`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".build.lock"
CRAWL_LOCK_FILE = ".crawl.lock"


class BuildLocked(RuntimeError):
    """Another build holds the index folder; the message names the fix."""


class CrawlLocked(RuntimeError):
    """Another crawl is writing the corpus folder."""


@contextmanager
def build_lock(index_dir: Path, *, wait: bool = False,
               waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the index folder's build lock. Without `wait`, a held lock raises BuildLocked at
    once; with it, `waiting(message)` is told and the call blocks until the other build ends."""
    def busy(holder: str) -> BuildLocked:
        return BuildLocked(f"Another build{holder} is writing {index_dir}/; the index being served is untouched. "
                           "Wait for it to finish, or run: clinic-assistant build --wait")

    with _exclusive(index_dir / LOCK_FILE, busy, wait=wait,
                    waiting=waiting and (lambda holder: waiting(f"Waiting for another build{holder} to finish..."))):
        yield


@contextmanager
def crawl_lock(corpus_dir: Path) -> Iterator[None]:
    """Hold the corpus folder's crawl lock, or raise CrawlLocked at once."""
    def busy(holder: str) -> CrawlLocked:
        return CrawlLocked(f"Another crawl{holder} is writing {corpus_dir}/. Wait for it to finish.")

    with _exclusive(corpus_dir / CRAWL_LOCK_FILE, busy):
        yield


def build_running(index_dir: Path) -> bool:
    """Whether a build holds the index folder's lock now."""
    return _held(index_dir / LOCK_FILE)


def crawl_running(corpus_dir: Path) -> bool:
    """Whether a crawl holds the corpus folder's lock now."""
    return _held(corpus_dir / CRAWL_LOCK_FILE)


def _held(path: Path) -> bool:
    """Asks for a shared lock for an instant: a job that starts in that instant waits for it
    (or, without --wait, says another one is running)."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@contextmanager
def _exclusive(path: Path, busy: Callable[[str], Exception], *, wait: bool = False,
               waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise busy(holder) from None
            if waiting is not None:
                waiting(holder)
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
