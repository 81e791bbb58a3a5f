"""Throwaway Redis, PostgreSQL and nginx for the tests that run past one machine.

Each is Debian's own binary (`make services` installs them), started on a loopback address and
a free port with its files in a temporary folder, and stopped at the end. A test that needs one
is skipped, with the reason, only when the binary is missing on this machine; CI installs them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Debian keeps PostgreSQL's server programs out of PATH, per major version (15 on bookworm).
POSTGRES_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name),
                   default=Path("/usr/lib/postgresql/15/bin"))
# Starting takes well under a second; a two-core machine busy with other tests can be slow.
START_SECONDS = 30


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the services below bind it themselves a moment later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {host}:{port} within {START_SECONDS} s")


def need(binary: str) -> str:
    """The binary's path, or skip the test saying how to install it."""
    path = shutil.which(binary) or (str(POSTGRES_BIN / binary) if (POSTGRES_BIN / binary).exists() else None)
    if path is None:
        pytest.skip(f"{binary} is not installed here; `make services` installs it (CI does)")
    return path


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    """redis-server without persistence on 127.0.0.1; stop() and start() again on the same port."""

    def __init__(self) -> None:
        self.binary = need("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, self.process, "redis-server")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh PostgreSQL cluster in a temporary folder; yields its URL (database `postgres`,
    user `postgres`, trust authentication on 127.0.0.1 only)."""
    initdb, pg_ctl = need("initdb"), need("pg_ctl")
    # PostgreSQL refuses to run as root: as root, run it as Debian's postgres user.
    as_user: list[str] = []
    if os.getuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user to run PostgreSQL as; install postgresql")
        as_user = ["runuser", "-u", "postgres", "--"]
    # Not under pytest's tmp_path: that is private to root, and the postgres user must write here.
    folder = Path(tempfile.mkdtemp(prefix="clinic-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if as_user:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--no-sync"], check=True, **quiet)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-t", str(START_SECONDS),
                        "-o", f"-k {sockets} -h 127.0.0.1 -p {port} -c fsync=off", "start"], check=True, **quiet)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if data.exists():
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], **quiet)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def nginx_server(config_in: Callable[[Path], str]) -> Iterator[Path]:
    """nginx in the foreground with the nginx.conf `config_in(folder)` writes for its temporary
    folder; yields that folder. The config must listen on loopback only."""
    binary = need("nginx")
    folder = Path(tempfile.mkdtemp(prefix="clinic-nginx-"))
    folder.chmod(0o755)  # nginx's workers run as nobody when started as root
    (folder / "nginx.conf").write_text(config_in(folder), encoding="utf-8")
    # -p: every relative path (logs, temporary bodies, the pid file) stays in the folder.
    command = [binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log"),
               "-g", f"daemon off; pid {folder / 'nginx.pid'};"]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    if check.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"nginx refused the config: {check.stderr}")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield folder
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)
