"""Who may reach the service, which sites may use it, and what its pages may do.

Outermost first, each request passes:
- SecurityHeaders: every response gets a Content-Security-Policy (scripts only from this server
  or inline ones carrying this response's nonce; frame-ancestors: this server and the allowed
  sites), X-Content-Type-Options and Referrer-Policy. The staff console gets a stricter policy
  (frame-ancestors 'none', X-Frame-Options DENY, no caching), a served source file a sandbox.
- HostGuard: the Host (and a proxy's X-Forwarded-Host) must name this server. Gradio builds the
  URLs in its page from these headers, and its localhost check trusts them.
- StaffGuard: the staff console (/staff) only from its own pages: no other site, not even one
  in ALLOWED_ORIGINS, may send it anything but a followed link.
- OriginGuard: a request that carries an Origin is refused unless it comes from this server's own
  pages or a site in ALLOWED_ORIGINS, so another site's page can neither read nor cause anything.
- Starlette's CORSMiddleware, for the allowed sites only. Gradio steps back when its parent app
  has one; otherwise Gradio echoes any Origin when the host is not localhost.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware

from assistant.config import Settings
from assistant.render import SOURCES_PATH

from .errors import error_response

# Names a server on this machine is always reached by.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

# Measured with Gradio 6.31 in Chromium; the browser tests ask a question on both chat pages
# and find no violation (test_browser_chat.py, test_widget_browser.py):
# - script-src needs no 'unsafe-inline' and no 'unsafe-eval': the inline scripts of Gradio's page
#   (its config among them) get this response's nonce; every other script is a file from here.
# - style-src 'unsafe-inline': the Svelte components write style attributes and insert <style>
#   elements while running; there is no nonce to give them. Styles cannot run code, and with
#   img-src, font-src and connect-src limited to this server they cannot send anything away.
# - img-src data: Gradio's icons (e.g. the settings gear) are data: SVG images.
_POLICY = (
    "default-src 'none'; "
    "script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self'; "
    "connect-src 'self'; "
    "manifest-src 'self'; "
    "base-uri 'self'; "
    "form-action 'none'; "
    "frame-ancestors {ancestors}"
)
# The staff console (ui/staff/): its forms post to itself, its styles are files, and no site may
# frame it, not even the clinic's own (ALLOWED_ORIGINS frame the chat only).
_STAFF_POLICY = (
    "default-src 'none'; "
    "script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
# A source file as the clinic gave it (ui/sources.py). An HTML page may carry scripts, forms and
# remote images: sandboxed (no script runs, and it gets an origin of its own, so it cannot read
# this server's pages), and nothing is loaded from anywhere.
_SOURCE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors {ancestors}"
STAFF_PATH = "/staff"
# `<script` opening a tag. Gradio writes its config into the page as JSON with "<" escaped
# (\u003c), so no text in it can open a tag that would receive the nonce.
_SCRIPT_TAG = re.compile(rb"<script(?=[\s>])", re.IGNORECASE)
# A Host header: a name or IPv4 address, or an IPv6 address in brackets, and an optional port.
# Anything else (user info, paths, spaces) is refused rather than interpreted.
_HOST_HEADER = re.compile(r"^(?:\[(?P<ip6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9.-]+))(?::\d{1,5})?$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The refusals name the setting: whoever reads one in a browser's console is likely its operator.
_UNKNOWN_HOST = "This server does not answer to that host name (see ALLOWED_HOSTS)."
_OTHER_SITE = "This site may not use the clinic's assistant (see ALLOWED_ORIGINS)."
_STAFF_ONLY = "The staff console can only be used from its own pages."


def install(app: FastAPI, settings: Settings, bound_host: str | None = None) -> None:
    """Add the guards to `app`. `bound_host`: the address the server listens on, trusted as a
    Host name unless it is a wildcard like 0.0.0.0."""
    # Starlette runs the middleware added last first: this is the list above, bottom up.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.allowed_origins),
        allow_methods=["GET", "POST"],
        # Gradio's <gradio-app> client marks its requests with x-gradio-user.
        allow_headers=["content-type", "x-gradio-user"],
        expose_headers=["Retry-After"],  # a site's script may read how long to wait after a 429
        max_age=600,
    )
    app.add_middleware(OriginGuard, allowed_origins=settings.allowed_origins)
    app.add_middleware(StaffGuard)
    app.add_middleware(HostGuard, hosts=trusted_hosts(settings, bound_host))
    app.add_middleware(SecurityHeaders, frame_ancestors=settings.allowed_origins)


def trusted_hosts(settings: Settings, bound_host: str | None = None) -> frozenset[str]:
    """The loopback names, ALLOWED_HOSTS, and the address the server listens on. Not the hosts of
    ALLOWED_ORIGINS: those are the sites that embed the chat, not names this server answers to."""
    hosts = {*LOOPBACK_HOSTS, *settings.allowed_hosts}
    if bound_host and bound_host not in ("0.0.0.0", "::", ""):
        hosts.add(bound_host.strip("[]").lower())
    return frozenset(hosts)


def host_name(header: str) -> str | None:
    """The host in a Host header value, lower case and without port or brackets; None if the
    value is not a plain host[:port]."""
    match = _HOST_HEADER.match(header.strip().lower())
    return match and (match["ip6"] or match["name"])


def same_origin(origin: str, host_header: str) -> bool:
    """Whether an Origin header names the site whose Host header this request carries: the
    assistant's own pages. Compared without the scheme, which a TLS proxy in front changes."""
    scheme, _, rest = origin.partition("://")
    if scheme not in _DEFAULT_PORTS or host_name(rest) is None or host_name(host_header) is None:
        return False
    theirs, ours = urlsplit("//" + rest.lower()), urlsplit("//" + host_header.strip().lower())
    default = _DEFAULT_PORTS[scheme]
    try:
        return (theirs.hostname, theirs.port or default) == (ours.hostname, ours.port or default)
    except ValueError:  # a port over 65535
        return False


async def _refuse(scope: dict, receive: Callable, send: Callable, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})  # 1008: policy violation
    else:
        await error_response(status, message)(scope, receive, send)


class HostGuard:
    """Refuses a request whose Host or X-Forwarded-Host is not a trusted name (400).

    Also refuses X-Gradio-Server, which Gradio would take as its public URL: it is meant for
    Gradio's Node front end, which this service does not run.
    """

    def __init__(self, app: Callable, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(hosts)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = Headers(scope=scope)
            forwarded = [h for value in headers.getlist("x-forwarded-host") for h in value.split(",")]
            names = [headers.get("host", ""), *forwarded]
            if "x-gradio-server" in headers or not all(host_name(name) in self.hosts for name in names):
                await _refuse(scope, receive, send, 400, _UNKNOWN_HOST)
                return
        await self.app(scope, receive, send)


class OriginGuard:
    """Refuses (403) a request whose Origin is neither this server's own nor an allowed site's.

    Browsers send Origin on every cross-site request that could change or read something
    (fetch, form posts, module scripts); a plain link or an <img> sends none and passes.
    "null" (sandboxed frames, local files) is refused like any other site.
    """

    def __init__(self, app: Callable, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None and origin not in self.allowed and not same_origin(origin, headers.get("host", "")):
                await _refuse(scope, receive, send, 403, _OTHER_SITE)
                return
        await self.app(scope, receive, send)


def is_staff_path(path: str) -> bool:
    return path == STAFF_PATH or path.startswith(STAFF_PATH + "/")


class StaffGuard:
    """Keeps every other site away from the staff console, the clinic's own sites included.

    For /staff paths, before OriginGuard (which lets ALLOWED_ORIGINS through) and CORS (which
    would answer them): a request whose Origin is not this server's own is refused (403), and so
    is one a browser marks as sent from another site (Sec-Fetch-Site: same-site or cross-site),
    unless it is a plain link followed to a page (Sec-Fetch-Mode: navigate, a GET). Such a visit
    arrives without the session cookie (SameSite=Strict) and finds the login page.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket") and is_staff_path(scope["path"]):
            headers = Headers(scope=scope)
            origin, site = headers.get("origin"), headers.get("sec-fetch-site")
            navigation = scope.get("method") in ("GET", "HEAD") and headers.get("sec-fetch-mode") == "navigate"
            foreign_origin = origin is not None and not same_origin(origin, headers.get("host", ""))
            foreign_site = site not in (None, "same-origin", "none") and not navigation
            if foreign_origin or foreign_site:
                await _refuse(scope, receive, send, 403, _STAFF_ONLY)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds the security headers to every HTTP response, and this response's nonce to the
    <script> tags of the chat's and the console's HTML pages (such a page is read whole for that;
    everything else streams). A served source file never gets a nonce: its scripts stay inert."""

    def __init__(self, app: Callable, frame_ancestors: Iterable[str]) -> None:
        self.app = app
        self.ancestors = " ".join(["'self'", *frame_ancestors])

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        page_start: dict | None = None
        page_body: list[bytes] = []
        staff, source = is_staff_path(scope["path"]), scope["path"].startswith(SOURCES_PATH)
        policy = _STAFF_POLICY if staff else _SOURCE_POLICY if source else _POLICY

        async def send_with_headers(message: dict) -> None:
            nonlocal page_start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy.format(nonce=nonce, ancestors=self.ancestors)
                headers["X-Content-Type-Options"] = "nosniff"
                # Same-origin: Gradio's own requests keep their Origin header (OriginGuard needs
                # it), and a source link opened from an answer does not tell its site where from.
                headers["Referrer-Policy"] = "same-origin"
                if staff:
                    headers["X-Frame-Options"] = "DENY"  # for browsers older than frame-ancestors
                    headers["Cache-Control"] = "no-store"  # staff pages and their tokens stay out of caches
                is_page = headers.get("content-type", "").startswith("text/html") and not source
                if is_page and "content-encoding" not in headers and scope["method"] != "HEAD":
                    page_start = message  # held until the whole page is read
                    return
            elif message["type"] == "http.response.body" and page_start is not None:
                page_body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = _SCRIPT_TAG.sub(b'<script nonce="' + nonce.encode() + b'"', b"".join(page_body))
                MutableHeaders(scope=page_start)["Content-Length"] = str(len(page))
                await send(page_start)
                await send({"type": "http.response.body", "body": page})
                return
            await send(message)

        await self.app(scope, receive, send_with_headers)
