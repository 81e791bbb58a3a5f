"""The web service: one FastAPI app with the HTTP API, the widget and the Gradio chat pages.

    POST /api/ask   {"question": str, "history": [{"role": "user"|"assistant", "content": str}]}
    POST /api/feedback {"doc_ids": [str], "vote": "up"|"down"}: a vote on an answer that showed doc_ids
    GET  /healthz   {"status": "ok", "documents": int, "chunks": int, "model": str, "built_at": str, "build": str}
                    ("status": "degraded", "reasons": [str] while Redis, shared by the replicas, is down)
    GET  /widget/   the compact chat a clinic's site frames; /widget.js etc. in ui/widget.py
    GET  /sources/<doc id>  a document of the index, as a citation opens it (ui/sources.py)
    /staff          the staff console, when STAFF_PASSWORD_HASH or STAFF_ACCOUNTS is set (ui/staff/)
    GET  /          the chat page

Every error is JSON {"error": one sentence, "disclaimer": DISCLAIMER}; no traceback, no server
path. Logs carry counts and timings only: a question is patient data and is never logged.
Which hosts and sites may use the service, and the security headers: ui/security.py.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware

from assistant import texts
from assistant.answer import Assistant
from assistant.config import Settings
from assistant.index.embed import ModelNotFound
from assistant.index.store import IndexNotReady, read_manifest
from assistant.lifecycle.live import LiveAssistant
from assistant.records.feedback import FeedbackError, FeedbackStore
from assistant.render import answer_to_dict
from assistant.texts import EMPTY_QUESTION, SERVICE_ERROR

from . import security
from .answer_queue import BUSY_RETRY_SECONDS, AnswerWorkers, ServerBusy
from .chat import CHAT_CSS, build_chat
from .errors import error_response
from .ratelimit import RateLimiter
from .sources import add_sources
from .staff.accounts import AccountsError
from .staff.console import add_staff_console
from .staff.sessions import SecretError
from .widget import WIDGET_CSS, WIDGET_PATH, add_widget

log = logging.getLogger(__name__)

# A question is at most a few thousand characters and the history a few dozen messages: 64 KB
# is generous for the API, and refuses a body before it is read into memory.
API_MAX_BODY = 64 * 1024
# The chat page sends the whole conversation with each turn (~5 KB per answer shown), so its
# routes need more room: 1 MB is some 200 turns. Gradio itself accepted a 10 MB message.
PAGE_MAX_BODY = 1024 * 1024

_ROLES = ("user", "assistant")
_EXAMPLE = '{"question": "Where does breast cancer spread?"}'
_HISTORY_SHAPE = '"history" must be a list of {"role": "user" or "assistant", "content": string} objects.'


def create_app(settings: Settings, assistant: Assistant | None = None, *, bound_host: str | None = None) -> FastAPI:
    """The whole service. Loads the Assistant unless given one, so a missing index raises
    IndexNotReady here, before a server starts, rather than on the first question.
    `bound_host`: the address the server listens on, trusted as a Host name."""
    served = assistant if assistant is not None else Assistant.load(settings)
    # A real Assistant follows index/current, so a new build is served without a restart; a
    # stand-in (the tests' FailingAssistant) is served as it is.
    live = LiveAssistant(settings, served) if isinstance(served, Assistant) else None
    answering_workers = AnswerWorkers(live or served, max_waiting=settings.max_waiting_questions, workers=settings.answer_workers)
    limiter = RateLimiter(settings.rate_limit_per_minute, redis_url=settings.redis_url)
    # Votes have an allowance of their own: voting on answers must not use up questions.
    vote_limiter = RateLimiter(settings.rate_limit_per_minute, name="votes", redis_url=settings.redis_url)
    feedback = FeedbackStore(settings.feedback_location)
    if settings.database_url:
        _migrate_shared_records(settings, feedback)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        answering_workers.close()
        if live is not None:
            live.close()

    # No /docs or /openapi.json: the contract is in this module, and Swagger UI loads from a CDN.
    app = FastAPI(title="clinic-assistant", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    # The staff console's uploads may be larger than any question: their own limit, plus room
    # for the form around the files.
    staff_max_body = settings.staff_max_upload_mb * 1_000_000 + 64 * 1024
    app.add_middleware(BodySizeLimit, limit_for=lambda path: staff_max_body if security.is_staff_path(path) else
                       _body_limit(path))
    add_widget(app)

    def answering() -> Any:
        """The assistant answering now: after a reload, the new build's."""
        return live.assistant if live else served

    add_sources(app, settings.corpus_dir, indexed=lambda: _served_manifest(settings, answering()).get("documents", {}))

    async def group_gaps(entries: list) -> list:
        from assistant.records.gaps import group_questions

        return await answering_workers.run(group_questions, entries, answering().retriever.embedder)

    add_staff_console(app, settings, manifest=lambda: _served_manifest(settings, answering()) or None,
                      feedback=feedback, group_gaps=group_gaps)
    security.install(app, settings, bound_host)  # after the above: its guards see requests first
    # Outermost, so pages are compressed after their nonce is in: Gradio compresses its scripts
    # (Brotli) but not its pages, and the widget's page is 52 KB of config (about 9 KB gzipped).
    # Starlette leaves event streams and responses Gradio already compressed alone.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_exception_handler(Exception, _unexpected_error)

    @app.post("/api/ask")
    async def ask(request: Request) -> JSONResponse:
        # Counted before the body is read: a flood of malformed requests is limited too.
        if refused := _over_limit(limiter, request):
            return refused
        try:
            question, history = parse_ask_request(await request.body())
        except BadRequest as bad:
            return error_response(bad.status, str(bad))
        try:
            answer = await answering_workers.ask(question, history)
            # Absolute links: the caller may show them on another site's page.
            return JSONResponse(answer_to_dict(answer, base_url=str(request.base_url)))
        except ServerBusy:
            return error_response(503, texts.BUSY, headers={"Retry-After": str(BUSY_RETRY_SECONDS)})
        except Exception as error:  # the caller gets one fixed sentence, never an exception
            log.error("api answer failed: %s", type(error).__name__)
            return error_response(500, SERVICE_ERROR)

    @app.post("/api/feedback")
    async def vote(request: Request) -> JSONResponse:
        if refused := _over_limit(vote_limiter, request):
            return refused
        try:
            feedback.record(*parse_feedback_request(await request.body()))
        except BadRequest as bad:
            return error_response(bad.status, str(bad))
        except FeedbackError as bad:
            return error_response(422, str(bad))
        return JSONResponse({"status": "stored", "disclaimer": texts.DISCLAIMER})

    # Without this, other paths under /api/ would reach the chat's mount and get Gradio's 404.
    @app.api_route("/api/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    async def not_an_api_route(path: str) -> JSONResponse:
        status = 405 if path in ("ask", "feedback") else 404
        return error_response(status, "This is not an API route: ask with POST /api/ask.")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        health = answering_workers.health()
        # Still 200 when degraded: this replica answers; what it shares with the others does not.
        # In a worker thread: asking Redis may take up to its timeout when it is unreachable.
        reasons = [reason for reason in (await run_in_threadpool(limiter.degraded_reason),) if reason]
        return {"status": "degraded" if reasons else "ok", **({"reasons": reasons} if reasons else {}),
                "documents": health["documents"], "chunks": health["chunks"], "model": health["model"],
                # Which index answers: they change when a new build has been picked up.
                "built_at": health.get("built_at"), "build": health.get("build")}

    # Routes of the parent app are matched before the mounts: these shadow Gradio's upload
    # routes (one per chat page), which accept files even for a text-only chat and answer with
    # a server path.
    async def no_uploads() -> JSONResponse:
        return error_response(404, "This service does not accept files.")

    for mount in ("", WIDGET_PATH):
        app.add_api_route(f"{mount}/gradio_api/upload", no_uploads, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])

    chat = functools.partial(build_chat, answering_workers.ask, max_question_chars=settings.max_question_chars, limiter=limiter,
                             feedback=feedback, vote_limiter=vote_limiter)
    # The widget first: the chat at "/" answers every path not taken before it. The widget has
    # no footer: in a phone-sized frame every line counts, and the page's settings are the site's.
    _mount_chat(app, chat(compact=True), WIDGET_PATH, footer_links=[], css=WIDGET_CSS)
    # No link to Gradio's own API page in the footer: /api/ask is the API.
    return _mount_chat(app, chat(), "/", footer_links=["settings"], css=CHAT_CSS)


def _migrate_shared_records(settings: Settings, feedback: FeedbackStore) -> None:
    """Bring PostgreSQL's tables up to date as a replica starts. A database that is down does not
    stop the replica: answering needs none, and the migrations are tried again on first use."""
    from assistant.records.gaps import GapsLog

    try:
        feedback.database.migrate()
        GapsLog(settings.gaps_location, retention_days=settings.gaps_retention_days).database.migrate()
    except Exception as error:  # psycopg's errors: no address or password in the log line
        log.warning("records database not ready at start-up (%s); answering goes on", type(error).__name__)


def _served_manifest(settings: Settings, assistant: Any) -> dict:
    """The manifest of the index `assistant` answers from, with its build's name; for a
    stand-in without an index, the published one on disk ({} if there is none)."""
    index = getattr(getattr(assistant, "retriever", None), "index", None)
    if index is not None:
        return {**index.manifest, "build_id": index.path.name}
    try:
        return read_manifest(settings.index_dir)
    except IndexNotReady:
        return {}


def _mount_chat(app: FastAPI, chat: gr.Blocks, path: str, **options: Any) -> FastAPI:
    return gr.mount_gradio_app(
        app,
        chat,
        path=path,
        show_error=False,  # exception text must not reach patients
        run_history=False,  # would keep past questions in the browser
        enable_monitoring=False,  # None would serve /monitoring/summary to anyone
        mcp_server=False,
        ssr_mode=False,  # no Node server
        pwa=False,
        **options,
    )


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, *,
          loading: Future | None = None) -> None:
    """Run the service until interrupted; without a usable index or model, say so in one
    sentence and exit non-zero instead of starting. `loading`: the Assistant being loaded
    already (cli.serve starts it before this module's Gradio import)."""
    try:
        app = create_app(settings, loading.result() if loading is not None else None, bound_host=host)
    except (IndexNotReady, ModelNotFound, AccountsError, SecretError) as error:
        raise SystemExit(str(error)) from None  # message to stderr, exit status 1
    # uvicorn's proxy-headers middleware takes the client address from X-Forwarded-For only when
    # the connection comes from one of these (the rightmost address not a trusted proxy).
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=5,
                forwarded_allow_ips=list(settings.trusted_proxies))


class BadRequest(Exception):
    """A request we will not answer; the message is the one sentence the client sees."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_ask_request(body: bytes) -> tuple[str, list[dict[str, str]]]:
    """The question and history of an /api/ask body, checked strictly: a number is not
    turned into a string, null is not an empty list, unknown fields are refused."""
    try:
        payload = json.loads(body.decode("utf-8"))
    # UnicodeDecodeError and JSONDecodeError are ValueErrors; "[[[[..." nested deeply enough
    # makes the parser raise RecursionError.
    except (ValueError, RecursionError):
        raise BadRequest(400, f"The request body must be JSON in UTF-8, like {_EXAMPLE}.") from None
    if not isinstance(payload, dict):
        raise BadRequest(422, f"The request body must be a JSON object, like {_EXAMPLE}.")
    if not set(payload) <= {"question", "history"}:
        raise BadRequest(422, 'Only "question" and "history" may be sent.')
    question = payload.get("question")
    if not isinstance(question, str):
        raise BadRequest(422, '"question" is required and must be a string.')
    if not question.strip():
        raise BadRequest(422, EMPTY_QUESTION)
    history = payload.get("history", [])
    if not isinstance(history, list) or not all(_is_message(item) for item in history):
        raise BadRequest(422, _HISTORY_SHAPE)
    # JSON may spell lone surrogates ("\ud800"): not text, and they cannot be encoded back.
    if not all(_is_unicode(text) for text in [question, *(item["content"] for item in history)]):
        raise BadRequest(422, "The question and history must be valid Unicode text.")
    return question, history


def parse_feedback_request(body: bytes) -> tuple[str, list[str]]:
    """The vote and shown document ids of an /api/feedback body, checked as strictly as /api/ask;
    FeedbackStore.record checks the ids' number and length."""
    example = '{"doc_ids": ["liver.txt"], "vote": "up"}'
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise BadRequest(400, f"The request body must be JSON in UTF-8, like {example}.") from None
    if not isinstance(payload, dict) or set(payload) != {"doc_ids", "vote"}:
        raise BadRequest(422, f'The request body must be an object with "doc_ids" and "vote" only, like {example}.')
    doc_ids, vote = payload["doc_ids"], payload["vote"]
    if not isinstance(doc_ids, list) or not all(isinstance(d, str) and _is_unicode(d) for d in doc_ids):
        raise BadRequest(422, '"doc_ids" must be a list of document ids (strings).')
    if vote not in ("up", "down"):
        raise BadRequest(422, '"vote" must be "up" or "down".')
    return vote, doc_ids


def _is_message(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and set(item) == {"role", "content"}
        and item["role"] in _ROLES
        and isinstance(item["content"], str)
    )


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # Last resort for a bug outside the guarded paths: Starlette's default is plain text.
    log.error("unexpected %s on %s", type(error).__name__, request.url.path)
    return error_response(500, SERVICE_ERROR)


def _body_limit(path: str) -> int:
    return API_MAX_BODY if path.startswith("/api/") else PAGE_MAX_BODY


def _over_limit(limiter: RateLimiter, request: Request) -> JSONResponse | None:
    """A 429 with Retry-After when this client is over its allowance, else None."""
    wait = limiter.take(request.client.host if request.client else "")
    if not wait:
        return None
    return error_response(429, texts.TOO_MANY_QUESTIONS.format(seconds=wait), headers={"Retry-After": str(wait)})


class BodySizeLimit:
    """ASGI middleware: a request body over the path's limit gets 413 JSON and is not read on.

    A declared Content-Length is refused up front; a chunked body is counted as it arrives,
    and the app behind sees the client as gone once the limit is passed.
    """

    def __init__(self, app: Callable, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        too_large = error_response(413, f"The request is too large: at most {limit // 1024} KB.")
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await too_large(scope, receive, send)
            return

        received = 0
        refused = False
        response_started = False

        async def receive_within_limit() -> dict:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not refused and not response_started:
                        await too_large(scope, receive, send)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: dict) -> None:
            nonlocal response_started
            if refused:
                return
            response_started = True
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_unless_refused)
        except Exception:
            # The app behind may raise on the disconnect we made up; the client has its 413.
            if not refused:
                raise
