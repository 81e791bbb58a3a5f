"""What the last build and the last crawl did, or are doing now, in small JSON files beside the
index: `index/.build-status.json` and `index/.crawl-status.json`.

Any process may read them: the staff console shows them with live progress, whichever server
process (or machine sharing the index folder) a member of staff happens to reach. Only the job
holding its lock writes its file, with a temporary name and one rename, so a reader sees a whole
file. A file still saying "running" while no job holds the lock was left by a job that was
killed: `read_status` says so.

    progress = StatusProgress(status_path(index_dir, "build"), by="j.smith", checks=7, tee=Progress.to_stderr())
    build_index(settings, progress=progress, ...)
    read_status(status_path(index_dir, "build"))  ->  JobStatus(state="done", lines=(...), ...)
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from assistant.documents.corpus import write_atomically

from .progress import Progress

RUNNING, DONE, FAILED, STOPPED = "running", "done", "failed", "stopped"
# A running job rewrites its file at most this often (each is a small write and a rename).
WRITE_INTERVAL = 0.5


@dataclass(frozen=True)
class JobStatus:
    kind: str  # "build" or "crawl"
    state: str  # RUNNING, DONE, FAILED, or STOPPED (killed: found running with its lock free)
    by: str  # who started it: a staff member's name, or "command line (user)"
    started_at: str  # UTC, ISO 8601
    finished_at: str | None = None
    stage: str = ""  # e.g. "embedding passages"
    done: int = 0
    total: int = 0
    lines: tuple[str, ...] = ()  # the report, or what went wrong
    checks: int = 0  # check questions asked of the new index
    failed_checks: tuple[str, ...] = ()  # those it missed, described
    published: bool = False  # a build: a new index is served
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    @property
    def percent(self) -> int:
        return self.done * 100 // self.total if self.total else 0


def status_path(index_dir: Path, kind: str) -> Path:
    return index_dir / f".{kind}-status.json"


def read_status(path: Path, *, running: Callable[[JobStatus], bool] | None = None) -> JobStatus | None:
    """The job's last status (None: no job ran yet). `running(status)` says whether the job
    still runs (its lock is held, say); a file that says RUNNING when it does not is reported
    as STOPPED."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        status = JobStatus(**{**data, "lines": tuple(data.get("lines", ())),
                              "failed_checks": tuple(data.get("failed_checks", ()))})
    except (OSError, ValueError, TypeError):
        return None
    if status.state == RUNNING and running is not None and not running(status):
        return replace(status, state=STOPPED, lines=status.lines + ("The job stopped before it finished; nothing it "
                                                                    "made is served. Start it again.",))
    return status


def write_status(path: Path, status: JobStatus) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(asdict(status), ensure_ascii=False).encode("utf-8"))


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class StatusProgress(Progress):
    """A build's Progress that also writes its status file; `tee` still shows it on a terminal."""

    def __init__(self, path: Path, *, by: str, checks: int = 0, tee: Progress | None = None) -> None:
        super().__init__(tee.stream if tee else None, interval=tee.interval if tee else 10.0)
        self._tee = tee or Progress()
        self.path = path
        self.status = JobStatus(kind="build", state=RUNNING, by=by, started_at=now(), checks=checks)
        self._written = 0.0

    def note(self, message: str) -> None:
        self._tee.note(message)

    def started(self) -> None:
        self.status = replace(self.status, started_at=now())
        self._write(force=True)

    @contextmanager
    def stage(self, description: str, total: int, unit: str) -> Iterator[Callable[[int], None]]:
        self.status = replace(self.status, stage=description, done=0, total=total)
        self._write(force=True)
        with self._tee.stage(description, total, unit) as advance:
            def both(n: int) -> None:
                advance(n)
                self.status = replace(self.status, done=self.status.done + n)
                self._write()

            yield both

    def finished(self, report) -> None:
        lines = tuple(report.summary_lines())
        if self.status.checks and report.published:
            lines += (f"  all {self.status.checks} check questions found their document",)
        self.status = replace(self.status, state=DONE, finished_at=now(), lines=lines, published=report.published,
                              checks=self.status.checks if report.published else 0)
        self._write(force=True)

    def failed(self, error: BaseException) -> None:
        from .gate import ChecksFailed

        failures = tuple(f.describe() for f in error.failures) if isinstance(error, ChecksFailed) else ()
        message = str(error) if isinstance(error, Exception) else "The build was interrupted."
        if isinstance(error, OSError):
            message = f"The build stopped: {error.strerror or error}. The index being served was left as it was."
        self.status = replace(self.status, state=FAILED, finished_at=now(), lines=tuple(message.splitlines()),
                              failed_checks=failures)
        self._write(force=True)

    def _write(self, force: bool = False) -> None:
        if force or time.monotonic() - self._written >= WRITE_INTERVAL:
            write_status(self.path, self.status)
            self._written = time.monotonic()
