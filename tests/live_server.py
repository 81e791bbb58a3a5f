"""The live test environment: the app over real HTTP, a stand-in clinic website, and Chromium.

Everything listens on loopback addresses only (127.0.0.1 for the assistant, 127.0.0.2 and
127.0.0.3 for clinic sites); a page that tries to reach any other host fails its test.
"""

from __future__ import annotations

import http.server
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.texts import DISCLAIMER
from ui.app import create_app

REPO = str(Path(__file__).resolve().parent.parent)
PYTHON_LIBRARY = str(Path(httpx.__file__).resolve().parent.parent)  # site-packages

# create_app has loaded the model by the time the server starts; uvicorn and Gradio's start-up
# events then take well under a second, but a loaded two-core machine can be slow.
STARTUP_SECONDS = 30

CHROMIUM = Path("/usr/bin/chromium")
# Flags that work as root on these machines; no network but loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")

# An init script: records every Content-Security-Policy violation in each document and frame.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) =>
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
"""

AXE_JS = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
# The rules of WCAG 2.1 levels A and AA, as axe-core tags them.
WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


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
        wait_until_healthy(base_url, thread.is_alive)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def wait_until_healthy(base_url: str, alive: Callable[[], bool], seconds: float = STARTUP_SECONDS) -> None:
    """Until /healthz at base_url answers 200; raises if `alive()` turns false (the server died)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"The test server at {base_url} stopped during start-up; see the log above.")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"The test server at {base_url} did not answer /healthz within {seconds} s.")


def assert_clean_error(response: httpx.Response, status: int) -> None:
    """The error contract: the status we chose, a JSON body of one sentence and the disclaimer,
    no traceback and no server path."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "disclaimer"}
    assert body["error"] and isinstance(body["error"], str)
    assert body["disclaimer"] == DISCLAIMER
    assert_nothing_leaks(response)


def assert_nothing_leaks(response: httpx.Response) -> None:
    """No traceback and no path on the server's disk in a response."""
    for secret in ("Traceback", REPO, PYTHON_LIBRARY):
        assert secret not in response.text, f"{secret!r} in the answer to {response.request.url}"


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


class ClinicSite:
    """A plain website standing in for a clinic's: serves the HTML in `pages` (path -> page).

    Its origin is known before any page is written, so a test can allow it in the assistant's
    settings first and then write pages that point at the assistant.
    """

    def __init__(self, host: str) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = pages.get(self.path.split("?")[0])
                body = (page if page is not None else "Not found").encode("utf-8")
                self.send_response(200 if page is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # quiet: the test output is about the assistant
                pass

        self._server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.origin = f"http://{host}:{self._server.server_address[1]}"

    def __enter__(self) -> "ClinicSite":
        threading.Thread(target=self._server.serve_forever, name="clinic-site", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def clinic_page(body: str, *, head: str = "") -> str:
    """A minimal, accessible page of a clinic's site around `body`."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Example clinic</title>{head}</head><body>"
        "<header><h1>Example clinic</h1></header>"
        '<main><p>Opening hours, directions and our teams.</p><a href="#contact">Contact us</a></main>'
        f"{body}</body></html>"
    )


@contextmanager
def chromium_context(**options) -> Iterator:
    """Chromium with a fresh profile (nothing cached or stored from an earlier run); `options`
    go to Playwright's launch_persistent_context, e.g. viewport."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="chat-browser-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, **options
        )
        yield context
        context.close()


class LoopbackOnly:
    """Routes every request of a browser context: loopback goes through, anything else is
    aborted and remembered, for the test to assert there was none."""

    def __init__(self, context) -> None:
        self._elsewhere: list[str] = []
        context.route("**/*", self._route)

    def elsewhere(self) -> list[str]:
        """The URLs off loopback asked for since the last call (so one test's are not the next's)."""
        urls, self._elsewhere = self._elsewhere, []
        return urls

    def _route(self, route) -> None:
        host = urlsplit(route.request.url).hostname
        if host is None or host.startswith("127."):  # None: data: and blob: URLs
            route.continue_()
        else:
            self._elsewhere.append(route.request.url)
            route.abort()


def axe_violations(frame) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations in a page or frame: [{"id", "help", "targets"}].

    Injected with Playwright's evaluate, which the page's CSP does not restrict, so the page is
    checked exactly as served. Frames inside it are not entered (each page is checked on its
    own), but the frame elements themselves are: their accessible names, for one.
    """
    if not AXE_JS.exists():
        pytest.fail(f"axe-core is not installed at {AXE_JS}. Run: npm ci --prefix tests/js")
    frame.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    return frame.evaluate(
        """async (tags) => {
            const result = await axe.run(document, { runOnly: { type: "tag", values: tags }, iframes: false });
            return result.violations.map((v) => ({ id: v.id, help: v.help, targets: v.nodes.map((n) => n.target) }));
        }""",
        WCAG21_AA,
    )
