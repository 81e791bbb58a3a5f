"""The documents a citation opens: `GET /sources/<doc id>` serves a file of the index, read-only.

Only a document of the index being served is answered, by its id exactly as the index records
it; the id is never used as a path before it has been found there, and the file must still lie
inside the corpus folder once links are resolved, so no name reaches another file. PDFs open in
the browser (a citation adds `#page=N`); Word files download; text, markdown and HTML are shown
as text or as a sandboxed page (ui/security.py: no script runs, nothing is loaded).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response

from assistant.render import SOURCES_PATH

from .errors import error_response

_TYPES = {
    ".pdf": "application/pdf",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
_NOT_FOUND = "There is no such document in the clinic's collection."
# Citations may be opened often; a changed file is picked up within a minute.
_CACHE = "public, max-age=60"


def source_file(corpus_dir: Path, indexed: Callable[[], dict], doc_id: str) -> Path | None:
    """The file of `doc_id` if it is a document of the served index and lies inside the corpus
    folder, else None."""
    if doc_id not in indexed():
        return None
    root = corpus_dir.resolve()
    path = (root / doc_id).resolve()
    if not path.is_relative_to(root) or not path.is_file() or path.suffix.lower() not in _TYPES:
        return None
    return path


def add_sources(app: FastAPI, corpus_dir: Path, indexed: Callable[[], dict]) -> None:
    """`indexed()`: the served index's documents, {doc id: entry}, read at each request so a new
    build's documents are served as soon as it is."""

    @app.api_route(SOURCES_PATH + "{doc_id:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def source(doc_id: str) -> Response:
        path = source_file(corpus_dir, indexed, doc_id)
        if path is None:
            return error_response(404, _NOT_FOUND)
        suffix = path.suffix.lower()
        # Word has no viewer in a browser: it downloads, under its own name.
        disposition = "attachment" if suffix == ".docx" else "inline"
        return FileResponse(path, media_type=_TYPES[suffix], filename=path.name, content_disposition_type=disposition,
                            headers={"Cache-Control": _CACHE})

    # Without this, a change sent here would reach the chat's mount and get Gradio's 404.
    @app.api_route(SOURCES_PATH + "{doc_id:path}", methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def read_only(doc_id: str) -> Response:
        return error_response(405, "The clinic's documents can only be read here.")
