"""The staff console's pages: plain server-rendered HTML forms on the FastAPI app, no Gradio.

Why not Gradio Blocks, which the chat uses: every change here is a form that must carry a CSRF
token and be refused without one, uploads must be checked before anything is stored, and the
pages must not be reachable from the sites that embed the chat. Gradio's uploads go through its
own /gradio_api/upload route (which the chat closes), its events run over its queue with no
place for a per-form token, and its login keeps sessions in the memory of one process. Plain
forms work without JavaScript, are accessible as HTML is, and keep a strict page policy
(scripts from this server only, forms posting only here, no framing at all).

    GET  /staff                      documents: what the index holds, what it skipped; upload, replace, delete
    GET  /staff/build                rebuild with live progress, the report, the check questions, rollback
    GET  /staff/website              fetch the clinic's website (clinic-assistant crawl)
    GET  /staff/feedback             thumbs per document; unanswered questions when GAPS_LOG=1
    GET  /staff/login, POST /staff/login, POST /staff/logout
    GET  /staff/build/status, /staff/website/status    a job's status as JSON, for the progress bar

Every POST but the login carries the session's CSRF token; the login form carries a signed
token of its own. ui/security.py refuses /staff to other sites (Origin, Sec-Fetch-Site),
frames and caches. Changes are logged with who and which document, never with any text.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile

from assistant.config import Settings
from assistant.documents import corpus
from assistant.documents.load import SUPPORTED_SUFFIXES, content_hash, corpus_files, read_sources
from assistant.index.store import IndexNotReady
from assistant.lifecycle.build import rollback_index
from assistant.lifecycle.lock import BuildLocked
from assistant.lifecycle.status import DONE, FAILED, RUNNING, STOPPED
from assistant.records.changes import ChangeLog
from assistant.records.feedback import FeedbackStore
from assistant.records.gaps import GapsLog
from assistant.render import SOURCES_PATH

from ..errors import error_response
from ..ratelimit import RateLimiter
from . import jobs
from .accounts import DUMMY_HASH, NAME, NAME_RULE, Accounts, verify_password
from .sessions import COOKIE, SESSION_SECONDS, Session, SessionSigner, load_secret

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"
ASSETS = {"staff.css": "text/css; charset=utf-8", "staff.js": "text/javascript; charset=utf-8"}
# Failed logins per minute: per name, a person who mistypes gets several tries and a word list
# one guess every 12 seconds; per address a little more, for several staff behind one address.
FAILED_LOGINS_PER_NAME = 5
FAILED_LOGINS_PER_ADDRESS = 20
# Rows of the documents table on one page: past this, the search narrows it.
MAX_ROWS = 500
# Files in one upload.
MAX_FILES = 20
STATE_NAMES = {RUNNING: "Running", DONE: "Finished", FAILED: "Failed", STOPPED: "Stopped"}
KINDS = {".pdf": "PDF", ".docx": "Word", ".html": "Web page", ".htm": "Web page", ".md": "Markdown", ".txt": "Text"}
# Shown after a redirect (POST, then GET: reloading the page does not start a job twice).
NOTICES = {
    "build-started": "The build has started; its progress is shown below.",
    "crawl-started": "Fetching has started; its progress is shown below.",
    "rolled-back": "Now serving the earlier build; the chat follows within a few seconds.",
}
_FORM_EXPIRED = ("This form has expired or did not come from the staff console, so nothing was changed. "
                 "Reload the page and try again.")


@dataclass(frozen=True)
class DocumentRow:
    doc_id: str
    title: str
    kind: str
    link: str
    link_text: str
    passages: int | str
    changed: str
    by: str
    note: str
    editable: bool
    suffix: str


def add_staff_console(app: FastAPI, settings: Settings, *, manifest: Callable[[], dict | None],
                      feedback: FeedbackStore, group_gaps: Callable[[list], Awaitable[list]]) -> None:
    """The console's routes on `app`, or 404s for every /staff path when it is off.

    `manifest()`: the served index's manifest (None: none yet). `group_gaps(entries)`: the gaps
    grouped by meaning, with the server's model. Raises AccountsError (bad settings) at once."""
    if not settings.staff_console_on:
        async def off() -> Response:
            return error_response(404, "There is no such page.")

        for path in ("/staff", "/staff/{rest:path}"):
            app.add_api_route(path, off, methods=["GET", "HEAD", "POST"], include_in_schema=False)
        return

    accounts = Accounts.from_settings(settings)
    signer = SessionSigner(load_secret(settings.resolved_staff_secret_file))
    changes = ChangeLog.beside(settings.index_dir)
    # Counted in Redis with REDIS_URL, so guessing passwords on every replica in turn gains nothing.
    by_address = RateLimiter(FAILED_LOGINS_PER_ADDRESS, name="failed-logins-by-address", redis_url=settings.redis_url)
    by_name = RateLimiter(FAILED_LOGINS_PER_NAME, name="failed-logins-by-name", redis_url=settings.redis_url)
    pages = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    max_bytes = settings.staff_max_upload_mb * 1_000_000

    def session_of(request: Request) -> Session | None:
        session = signer.read_cookie(request.cookies.get(COOKIE))
        if session is None:
            return None
        stored = accounts.hash_for(session.name)
        # A changed password, or a name taken out of the accounts file, ends its sessions.
        return session if stored and signer.fingerprint(stored) == session.account else None

    def render(template: str, session: Session | None, *, status: int = 200, **values: Any) -> HTMLResponse:
        page = pages.get_template(template).render(session=session, csrf=signer.csrf_token(session) if session else "",
                                                   messages=values.pop("messages", []), **values)
        return HTMLResponse(page, status_code=status)

    def staff_page(path: str):
        """Register a GET page for logged-in staff; anyone else is sent to the login page."""
        def register(build: Callable[[Request, Session], Awaitable[Response]]):
            async def page(request: Request) -> Response:
                session = session_of(request)
                if session is None:
                    return RedirectResponse("/staff/login", status_code=303)
                return await build(request, session)

            app.add_api_route(path, page, methods=["GET"], include_in_schema=False)
            return build
        return register

    def staff_change(path: str):
        """Register a POST that changes something: only with a session and its CSRF token."""
        def register(change: Callable[[Request, Session, Any], Awaitable[Response]]):
            async def checked(request: Request) -> Response:
                session, form, refused = await checked_form(request)
                return refused or await change(request, session, form)

            app.add_api_route(path, checked, methods=["POST"], include_in_schema=False)
            return change
        return register

    async def checked_form(request: Request) -> tuple[Session | None, Any, Response | None]:
        """The session and form of a change, or the response that refuses it."""
        session = session_of(request)
        if session is None:
            return None, None, RedirectResponse("/staff/login", status_code=303)
        form = await request.form(max_files=MAX_FILES, max_fields=20)
        if not signer.csrf_ok(session, form.get("csrf_token") if isinstance(form.get("csrf_token"), str) else None):
            log.warning("staff %s: a change without a valid CSRF token was refused (%s)", session.name, request.url.path)
            return session, form, error_response(403, _FORM_EXPIRED)
        return session, form, None

    # --- logging in and out ---

    @app.get("/staff/login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        if session_of(request):
            return RedirectResponse("/staff", status_code=303)
        return render("login.html", None, title="Log in", login_token=signer.login_form_token(), name="")

    @app.post("/staff/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        address = request.client.host if request.client else ""
        form = await request.form(max_files=0, max_fields=5)
        name = str(form.get("name") or "").strip()
        password = str(form.get("password") or "")

        def again(message: str, status: int) -> HTMLResponse:
            return render("login.html", None, status=status, title="Log in", login_token=signer.login_form_token(),
                          name=name if NAME.match(name) else "", messages=[("error", message)])

        def failed(message: str, status: int) -> HTMLResponse:
            by_address.take(address)
            by_name.take(name.lower())
            return again(message, status)

        # Checked before the password: past the limit, even the right one is not tried.
        wait = max(by_address.wait(address), by_name.wait(name.lower()))
        if wait:
            log.warning("staff login refused: too many attempts from %s or for %r", address, name[:64])
            return again(f"Too many attempts. Wait {wait} seconds, then try again.", 429)
        if not signer.login_form_ok(str(form.get("login_token") or "")):
            return failed("The login form had expired. Please log in again.", 403)
        if not NAME.match(name):
            return failed(f"Type your name: {NAME_RULE}.", 401)
        stored = accounts.hash_for(name)
        # An unknown name costs one scrypt too, so the time taken does not tell which names exist.
        ok = verify_password(password, stored or DUMMY_HASH) and stored is not None
        if not ok:
            log.warning("staff login failed for %r from %s", name, address)
            return failed("Wrong name or password.", 401)
        log.info("staff %s logged in from %s", name, address)
        response = RedirectResponse("/staff", status_code=303)
        response.set_cookie(COOKIE, signer.new_cookie(name, stored), max_age=SESSION_SECONDS, path="/", secure=True,
                            httponly=True, samesite="strict")
        return response

    @staff_change("/staff/logout")
    async def logout(request: Request, session: Session, _form: Any) -> Response:
        log.info("staff %s logged out", session.name)
        response = RedirectResponse("/staff/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    # --- documents ---

    def documents_page(session: Session, query: str = "", messages=(), status: int = 200) -> HTMLResponse:
        served = manifest() or {}
        rows, others = document_rows(settings, served, changes)
        needle = query.strip().lower()
        matching = [r for r in rows if needle in f"{r.title} {r.doc_id} {r.link}".lower()] if needle else rows
        return render("documents.html", session, status=status, title="Documents", page="documents",
                      messages=list(messages), rows=matching[:MAX_ROWS], shown_rows=min(len(matching), MAX_ROWS),
                      total_rows=len(matching), indexed_count=len(rows), others=others, query=query,
                      built_at=served.get("built_at"), changed_count=sum(1 for r in rows if r.note),
                      max_mb=settings.staff_max_upload_mb, suffixes=" ".join(SUPPORTED_SUFFIXES),
                      accept=",".join(SUPPORTED_SUFFIXES))

    @staff_page("/staff")
    async def documents(request: Request, session: Session) -> Response:
        return documents_page(session, request.query_params.get("q", "")[:200])

    @staff_change("/staff/documents/upload")
    async def upload(request: Request, session: Session, form: Any) -> Response:
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
        if not files:
            return documents_page(session, messages=[("error", "Choose one or more files to upload.")], status=422)
        messages, refused_any = [], False
        for upload_file in files:
            outcome = await _store_upload(settings, changes, session.name, upload_file, max_bytes=max_bytes)
            refused_any |= outcome[0] == "error"
            messages.append(outcome)
        return documents_page(session, messages=messages, status=422 if refused_any else 200)

    @staff_change("/staff/documents/replace")
    async def replace(request: Request, session: Session, form: Any) -> Response:
        doc_id, upload_file = str(form.get("doc_id") or ""), form.get("file")
        try:
            corpus.document_path(settings.corpus_dir, doc_id)
        except corpus.CorpusChangeRefused as error:
            return documents_page(session, messages=[("error", str(error))], status=422)
        if not isinstance(upload_file, UploadFile) or not upload_file.filename:
            return documents_page(session, messages=[("error", f"Choose the new version of {doc_id}.")], status=422)
        if Path(upload_file.filename).suffix.lower() != Path(doc_id).suffix.lower():
            message = (f"{upload_file.filename} is not a {Path(doc_id).suffix} file like {doc_id}; upload it as a new "
                       "document and delete the old one instead.")
            return documents_page(session, messages=[("error", message)], status=422)
        outcome = await _store_upload(settings, changes, session.name, upload_file, max_bytes=max_bytes, doc_id=doc_id)
        return documents_page(session, messages=[outcome], status=422 if outcome[0] == "error" else 200)

    @staff_change("/staff/documents/delete")
    async def delete(request: Request, session: Session, form: Any) -> Response:
        doc_id = str(form.get("doc_id") or "")
        try:
            corpus.remove_document(settings.corpus_dir, doc_id)
        except corpus.CorpusChangeRefused as error:
            return documents_page(session, messages=[("error", str(error))], status=422)
        changes.record(session.name, "deleted", doc_id)
        log.info("staff %s deleted %s", session.name, doc_id)
        return documents_page(session, messages=[("ok", f"Deleted {doc_id}. Rebuild to take it out of the answers.")])

    # --- rebuild ---

    def job_view(kind: str) -> dict[str, Any]:
        job = jobs.build_status(settings) if kind == "build" else jobs.crawl_status(settings)
        return {"job": job, "state_names": STATE_NAMES, "status_url": f"/staff/{'build' if kind == 'build' else 'website'}/status",
                "job_title": "Last build" if kind == "build" else "Last fetch"}

    def build_page(session: Session, messages=(), status: int = 200) -> HTMLResponse:
        served = manifest()
        summary = None
        if served:
            summary = {"documents": served["counts"]["documents"], "chunks": served["counts"]["chunks"],
                       "built_at": served.get("built_at"), "build": served.get("build_id", "")}
        return render("build.html", session, status=status, title="Rebuild", page="build", messages=list(messages),
                      served=summary, **job_view("build"))

    def notices(request: Request) -> list[tuple[str, str]]:
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return [("ok", notice)] if notice else []

    @staff_page("/staff/build")
    async def build_view(request: Request, session: Session) -> Response:
        return build_page(session, notices(request))

    @staff_change("/staff/build")
    async def rebuild(request: Request, session: Session, _form: Any) -> Response:
        busy = jobs.start_build(settings, by=session.name)
        if busy:
            return build_page(session, messages=[("error", busy)], status=409)
        return RedirectResponse("/staff/build?notice=build-started", status_code=303)

    @staff_change("/staff/build/rollback")
    async def rollback(request: Request, session: Session, _form: Any) -> Response:
        try:
            before, now = rollback_index(settings.index_dir)
        except BuildLocked:
            return build_page(session, messages=[("error", "A build is running; go back when it has finished.")],
                              status=409)
        except IndexNotReady as error:
            return build_page(session, messages=[("error", str(error))], status=409)
        log.info("staff %s rolled the index back from %s to %s", session.name, before.name if before else None, now.name)
        return RedirectResponse("/staff/build?notice=rolled-back", status_code=303)

    @app.get("/staff/build/status", include_in_schema=False)
    async def build_progress(request: Request) -> Response:
        return job_json(request, jobs.build_status(settings))

    # --- the website ---

    def website_page(session: Session, messages=(), status: int = 200, **form: Any) -> HTMLResponse:
        view = job_view("crawl")
        last_url = view["job"].stage if view["job"] and view["job"].stage.startswith("http") else ""
        return render("website.html", session, status=status, title="Website", page="website",
                      messages=list(messages), url=form.get("url", last_url), sitemap=form.get("sitemap", ""),
                      max_pages=form.get("max_pages", 200), **view)

    @staff_page("/staff/website")
    async def website(request: Request, session: Session) -> Response:
        return website_page(session, notices(request))

    @staff_change("/staff/website")
    async def crawl(request: Request, session: Session, form: Any) -> Response:
        url, sitemap = str(form.get("url") or "").strip(), str(form.get("sitemap") or "").strip() or None
        try:
            max_pages = int(str(form.get("max_pages") or "200"))
            if not 1 <= max_pages <= 100_000:
                raise ValueError
        except ValueError:
            return website_page(session, [("error", "At most this many pages: a whole number from 1 to 100000.")],
                                422, url=url, sitemap=sitemap or "")
        from assistant.documents.crawl import normalise

        if normalise(url) is None or (sitemap and normalise(sitemap) is None):
            return website_page(session, [("error", "Give the start page as a web address, like "
                                                    "https://www.example-clinic.org/")], 422, url=url,
                                sitemap=sitemap or "", max_pages=max_pages)
        busy = jobs.start_crawl(settings, by=session.name, url=url, sitemap=sitemap, max_pages=max_pages)
        if busy:
            return website_page(session, [("error", busy)], 409, url=url, sitemap=sitemap or "", max_pages=max_pages)
        return RedirectResponse("/staff/website?notice=crawl-started", status_code=303)

    @app.get("/staff/website/status", include_in_schema=False)
    async def crawl_progress(request: Request) -> Response:
        return job_json(request, jobs.crawl_status(settings))

    def job_json(request: Request, job) -> Response:
        if session_of(request) is None:
            return error_response(401, "Log in to the staff console first.")
        return JSONResponse({"state": "none"} if job is None else {**asdict(job), "percent": job.percent})

    # --- what patients found useful ---

    @staff_page("/staff/feedback")
    async def feedback_page(request: Request, session: Session) -> Response:
        titles = {doc_id: entry.get("title", doc_id) for doc_id, entry in ((manifest() or {}).get("documents") or {}).items()}
        votes = feedback.summary()
        most = max([v.up for v in votes] + [v.down for v in votes] + [1])
        width = 160
        rows = [{"doc_id": v.doc_id or "(answers without passages)", "title": titles.get(v.doc_id, v.doc_id or "—"),
                 "up": v.up, "down": v.down, "up_width": round(width * v.up / most),
                 "down_width": round(width * v.down / most)} for v in votes]
        groups = []
        if settings.gaps_log:
            entries = GapsLog(settings.gaps_location, retention_days=settings.gaps_retention_days).entries()
            groups = await group_gaps(entries) if entries else []
        return render("feedback.html", session, title="Feedback", page="feedback", votes=rows, chart_width=width,
                      gaps_on=settings.gaps_log, groups=groups, retention_days=settings.gaps_retention_days)

    @app.get("/staff/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return error_response(404, "There is no such page.")
        return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    @app.api_route("/staff/{rest:path}", methods=["GET", "HEAD", "POST"], include_in_schema=False)
    async def unknown(rest: str) -> Response:
        return error_response(404, "There is no such page.")


async def _store_upload(settings: Settings, changes: ChangeLog, who: str, upload_file: UploadFile, *, max_bytes: int,
                        doc_id: str | None = None) -> tuple[str, str]:
    """Check one uploaded file and store it (under `doc_id` when replacing): ("ok", what was
    done) or ("error", the file's name and why it was refused; nothing stored)."""
    # The name only: old browsers send a whole path ("C:\\Users\\...\\leaflet.pdf"), and no
    # folder a client names is ever used.
    name = re.split(r"[\\/]", upload_file.filename or "")[-1]
    data = await upload_file.read(max_bytes + 1)
    try:
        document = corpus.check_upload(name, data, max_bytes=max_bytes)
    except corpus.CorpusChangeRefused as error:
        log.info("staff %s: upload of %s refused", who, name[:120])
        return "error", str(error)
    target = doc_id or document.id
    existed = (settings.corpus_dir / target).is_file()
    corpus.save_document(settings.corpus_dir, target, data)
    action = "replaced" if existed else "uploaded"
    changes.record(who, action, target)
    log.info("staff %s %s %s (%d bytes)", who, action, target, len(data))
    return "ok", (f"{action.capitalize()} {target}: “{document.title}”. It is served after the next rebuild.")


def document_rows(settings: Settings, manifest: dict, changes: ChangeLog) -> tuple[list[DocumentRow], list[DocumentRow]]:
    """The documents of the served index, and the corpus files that are not in it (new since the
    build, or skipped by it with the reason)."""
    indexed = manifest.get("documents") or {}
    skipped = {s["path"]: s["reason"] for s in manifest.get("skipped") or []}
    built = _epoch(manifest.get("built_at"))
    latest = changes.latest()
    on_disk = {p.relative_to(settings.corpus_dir).as_posix(): p for p in corpus_files(settings.corpus_dir)} \
        if settings.corpus_dir.is_dir() else {}
    sources = read_sources(settings.corpus_dir) if on_disk else {}

    def changed(doc_id: str, path: Path, modified: float, entry: dict) -> bool:
        # Only a file touched since the build (to the second it records) is read and hashed.
        if built is not None and modified < built - 1:
            return False
        try:
            return content_hash(path.read_bytes(), sources.get(doc_id)) != entry.get("content_hash")
        except OSError:
            return True

    rows = []
    for doc_id, entry in sorted(indexed.items(), key=lambda item: item[1].get("title", "").lower()):
        path = on_disk.get(doc_id)
        modified = path.stat().st_mtime if path else None
        note = ("deleted since the last build" if path is None
                else "changed since the last build" if changed(doc_id, path, modified, entry) else "")
        url = entry.get("url")
        link = url or f"{SOURCES_PATH}{doc_id}"
        suffix = Path(doc_id).suffix.lower()
        rows.append(DocumentRow(
            doc_id=doc_id, title=entry.get("title") or doc_id,
            kind="Web page" if url and suffix in (".html", ".htm") else KINDS.get(suffix, suffix),
            link=link, link_text=url or "open the file", passages=entry.get("chunks", 0),
            changed=_date(modified), by=_who(latest.get(doc_id)), note=note, editable=path is not None, suffix=suffix))
    others = [DocumentRow(doc_id=doc_id, title=doc_id, kind=KINDS.get(path.suffix.lower(), path.suffix), link="",
                          link_text="", passages="", changed=_date(path.stat().st_mtime), by=_who(latest.get(doc_id)),
                          note=f"skipped by the last build: {skipped[doc_id]}" if doc_id in skipped
                          else "new: it joins the index at the next rebuild",
                          editable=True, suffix=path.suffix.lower())
              for doc_id, path in sorted(on_disk.items()) if doc_id not in indexed]
    return rows, others


def _who(change) -> str:
    return f"{change.who} ({change.action} {change.at[:10]})" if change else "—"


def _date(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch)) + " UTC" if epoch else "—"


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None
