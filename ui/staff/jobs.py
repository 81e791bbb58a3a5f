"""Builds and crawls started from the console: the very commands staff would type, run as child
processes with the server's settings, so the lock, the check questions and the report are the
command line's own, and a build's memory and threads never touch the process answering patients.

A job's progress is its status file (assistant/lifecycle/status.py), which any server process
reads; its output goes to index/.build.log or .crawl.log for whoever runs the server.

    start_build(settings, by="j.smith")  ->  None, or why not ("A build is already running ...")
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from assistant.config import Settings
from assistant.lifecycle.lock import build_running, crawl_running
from assistant.lifecycle.status import RUNNING, JobStatus, now, read_status, status_path, write_status

log = logging.getLogger(__name__)


def build_status(settings: Settings) -> JobStatus | None:
    """The last build's status; RUNNING while a build holds the lock, or is still starting."""
    return read_status(status_path(settings.index_dir, "build"),
                       running=lambda status: build_running(settings.index_dir) or _starting_here(status))


def crawl_status(settings: Settings) -> JobStatus | None:
    return read_status(status_path(settings.index_dir, "crawl"),
                       running=lambda status: crawl_running(settings.corpus_dir) or _starting_here(status))


def start_build(settings: Settings, *, by: str) -> str | None:
    """Start `clinic-assistant build`; None if started, else the sentence saying why not."""
    busy = _busy("build", build_status(settings))
    if busy:
        return busy
    _start("build", settings, ["build", "--by", by], by=by)
    return None


def start_crawl(settings: Settings, *, by: str, url: str, sitemap: str | None, max_pages: int) -> str | None:
    """Start `clinic-assistant crawl URL`; None if started, else the sentence saying why not."""
    busy = _busy("crawl", crawl_status(settings))
    if busy:
        return busy
    arguments = ["crawl", url, "--max-pages", str(max_pages), "--by", by]
    _start("crawl", settings, arguments + (["--sitemap", sitemap] if sitemap else []), by=by, stage=url)
    return None


def _busy(kind: str, status: JobStatus | None) -> str | None:
    if status is not None and status.state == RUNNING:
        return (f"A {kind} is already running (started by {status.by} at {status.started_at}); its progress is "
                "shown below. Wait for it to finish.")
    return None


def _starting_here(status: JobStatus) -> bool:
    """A job started on this machine whose process is alive but has not taken its lock yet
    (it is still loading; a build takes a few seconds to load its model)."""
    if status.host != socket.gethostname():
        return False
    try:
        os.kill(status.pid, 0)
    except OSError:
        return False
    return True


def _start(kind: str, settings: Settings, arguments: list[str], *, by: str, stage: str = "starting") -> None:
    log_path = settings.index_dir / f".{kind}.log"
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", *arguments],
            env={**os.environ, **settings.to_env()}, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
            start_new_session=True,  # a server stopped with Ctrl-C lets a build finish
        )
    # Until the job writes its own status: says who started it, and that it is on its way.
    write_status(status_path(settings.index_dir, kind), JobStatus(kind=kind, state=RUNNING, by=by, started_at=now(),
                                                                   stage=stage, pid=child.pid))
    log.info("staff %s started a %s (process %d)", by, kind, child.pid)
    threading.Thread(target=child.wait, name=f"{kind}-{child.pid}", daemon=True).start()  # reaped when it ends


def log_file(settings: Settings, kind: str) -> Path:
    return settings.index_dir / f".{kind}.log"
