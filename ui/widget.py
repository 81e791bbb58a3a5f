"""The chat on a clinic's own website, added with one tag:

    <script src="https://assistant.example-clinic.org/widget.js" defer></script>

    GET /widget.js        the launcher: a button in a corner of the site's page that opens the
                          chat in a frame (ui/static/widget.js; options are data- attributes)
    GET /widget/          the compact chat page that is framed (app.py mounts it)
    GET /widget-frame.js  runs first in /widget/: keeps Gradio working where third-party storage
                          is blocked, tells the launcher when the chat is ready and when Escape
                          is pressed, and puts focus in the question box when asked
    GET /gradio.js        Gradio's <gradio-app> web component from the installed wheel, for sites
                          that prefer it: Gradio ships the file but does not serve it, and a CDN
                          copy would put another site's script on the clinic's page
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gradio as gr
from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.datastructures import MutableHeaders

from .chat import ANSWERS_ID

STATIC = Path(__file__).resolve().parent / "static"
GRADIO_JS = Path(gr.__file__).resolve().parent / "templates" / "frontend" / "gradio.js"

WIDGET_PATH = "/widget"
FRAME_SCRIPT = b'<script src="/widget-frame.js"></script>'
# The widget page is exactly as tall as its frame: the answers scroll, and the disclaimer above
# and the question box below stay in view. Gradio's fill_height alone let a long answer grow
# the page (flex items do not shrink below their content unless min-height is 0). Gradio's
# 32 px page margin would leave a 360 px phone a 296 px chat: 12 px leaves 336.
WIDGET_CSS = f"""
.gradio-container {{ height: 100vh; height: 100dvh; }}
.gradio-container .main.fillable {{ padding: 12px; }}
.contain .column > * {{ flex-shrink: 0; }}
.contain, .column:has(#{ANSWERS_ID}), #{ANSWERS_ID} {{ min-height: 0; flex-shrink: 1; }}
.gradio-container #disclaimer summary {{ cursor: pointer; font-size: 14px; line-height: 1.4; }}
.gradio-container #disclaimer details p {{ margin: 4px 0 0; font-size: 14px; }}
"""

_JAVASCRIPT = "text/javascript; charset=utf-8"
# Sites load widget.js on every page view: cached for 5 minutes, so a new version reaches every
# visitor within that. gradio.js names a file whose name changes with each Gradio release:
# revalidated every time (a 304 when unchanged), so it never points at a file that is gone.
_WIDGET_CACHE = "public, max-age=300"
_REVALIDATE = "no-cache"


def add_widget(app: FastAPI) -> None:
    """The routes above, except the page itself, and the frame script in that page. Add them
    before the chat is mounted at "/", which would otherwise answer every path."""
    app.add_middleware(FrameScriptFirst, page_path=f"{WIDGET_PATH}/")

    @app.get("/widget.js", include_in_schema=False)
    async def launcher() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type=_JAVASCRIPT, headers={"Cache-Control": _WIDGET_CACHE})

    @app.get("/widget-frame.js", include_in_schema=False)
    async def frame_script() -> FileResponse:
        return FileResponse(
            STATIC / "widget-frame.js", media_type=_JAVASCRIPT, headers={"Cache-Control": _WIDGET_CACHE}
        )

    @app.get("/gradio.js", include_in_schema=False)
    async def web_component() -> FileResponse:
        return FileResponse(GRADIO_JS, media_type=_JAVASCRIPT, headers={"Cache-Control": _REVALIDATE})

    # The mount answers /widget/ only; the chat at "/" would take /widget for a page of its own.
    @app.get(WIDGET_PATH, include_in_schema=False)
    async def widget_page() -> RedirectResponse:
        return RedirectResponse(f"{WIDGET_PATH}/", status_code=308)


class FrameScriptFirst:
    """Puts the frame script first in the widget page's head, so it runs before Gradio's scripts.

    Not Gradio's `head` option: Gradio adds that after its app has started to load, too late to
    stand in for a blocked localStorage. A classic script at the top of <head> runs before the
    module scripts that follow it.
    """

    def __init__(self, app: Callable, page_path: str) -> None:
        self.app = app
        self.page_path = page_path

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] != self.page_path or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        body: list[bytes] = []

        async def send_with_script(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            page = b"".join(body)
            if MutableHeaders(scope=start).get("content-type", "").startswith("text/html"):
                page = page.replace(b"<head>", b"<head>" + FRAME_SCRIPT, 1)
                MutableHeaders(scope=start)["Content-Length"] = str(len(page))
            await send(start)
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, send_with_script)
