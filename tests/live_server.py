"""A real uvicorn server for tests: the app over real HTTP on a loopback address."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from assistant.answer import Assistant
from assistant.config import Settings
from ui.app import create_app

# create_app has loaded the model by the time the server starts; uvicorn and Gradio's start-up
# events then take well under a second, but a loaded two-core machine can be slow.
STARTUP_SECONDS = 30


@contextmanager
def running_server(settings: Settings, host: str = "127.0.0.1", assistant: Assistant | None = None) -> Iterator[str]:
    """Serve create_app(settings, assistant) in a background thread; yield its base URL, then stop it."""
    app = create_app(settings, assistant)
    # Bind port 0 here and hand the socket to uvicorn: the OS picks a free port, and no other
    # process can take it between choosing and listening.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    # A browser keeps Gradio's event stream open; do not wait long for it when stopping.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True)
    thread.start()
    base_url = f"http://{host}:{port}"
    try:
        _wait_until_healthy(base_url, thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _wait_until_healthy(base_url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("The test server stopped during start-up; see the log above.")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"The test server did not answer /healthz within {STARTUP_SECONDS} s.")


class FailingAssistant:
    """A real Assistant whose ask() always fails, for the error paths of a real server.

    The exception's message holds text a patient must never see: a question and a server path.
    """

    def __init__(self, assistant: Assistant) -> None:
        self._assistant = assistant

    def ask(self, question: str, history: list[dict[str, str]] | None = None):
        raise RuntimeError(f"cannot search for {question!r} in {__file__}")

    def health(self) -> dict:
        return self._assistant.health()
