"""Changes to the corpus folder made by programs (the staff console, the website crawl): add,
replace and remove a document, and set its row in sources.csv. Each change is all or nothing.

A file is written under a temporary name beside its place and renamed over it (one os.replace),
so a build that reads the folder meanwhile sees the old file or the new one, never half of one;
sources.csv is rewritten the same way, keeping the columns and rows staff gave it.

    check_document_name("Liver leaflet.docx")  ->  "Liver leaflet.docx"  (or CorpusChangeRefused)
    check_upload("Liver leaflet.docx", data, max_bytes=20_000_000)  ->  Document, read as a build reads it
    save_document(corpus_dir, "web/clinic.example.org/liver.html", data)
    set_sources(corpus_dir, {"web/clinic.example.org/liver.html": {"url": "https://clinic.example.org/liver"}})
    remove_document(corpus_dir, "old.pdf")
"""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from pathlib import Path

from assistant.types import Document

from .load import NOT_DOCUMENTS, SOURCES_FILE, SUPPORTED_SUFFIXES, UnusableFile, load_document, read_sources

# Letters (any script), digits, spaces and . _ - ( ): a name staff recognise, that no shell,
# URL or file system reads as anything else. 120 characters leave room under any path limit.
_SAFE_NAME = re.compile(r"^[\w][\w .()-]{0,118}$")
_SOURCE_COLUMNS = ("file", "title", "url")


class CorpusChangeRefused(ValueError):
    """A change we will not make; the message is one sentence naming the file and the fix."""


def check_document_name(name: str) -> str:
    """`name` as a document's file name in the corpus folder, or CorpusChangeRefused."""
    name = name.strip()
    suffix = Path(name).suffix.lower()
    if "/" in name or "\\" in name or not _SAFE_NAME.match(name) or name.startswith("."):
        raise CorpusChangeRefused(f"{name!r} is not a usable file name: use letters, digits, spaces and . _ - ( ) only.")
    if name in NOT_DOCUMENTS:
        raise CorpusChangeRefused(f"{name} describes the corpus and is not a document; edit it on the server.")
    if suffix not in SUPPORTED_SUFFIXES:
        raise CorpusChangeRefused(f"{name}: {suffix or 'no'} files cannot be read; use {', '.join(SUPPORTED_SUFFIXES)}.")
    return name


# What a file of each kind starts with; a file that says it is one thing and is another is
# refused with both names, before any reader tries it.
_SIGNATURES = {".pdf": (b"%PDF-", "a PDF"), ".docx": (b"PK\x03\x04", "a Word (.docx) file")}


def check_upload(name: str, data: bytes, *, max_bytes: int) -> Document:
    """Read an uploaded file exactly as a build would, in a folder of its own: the Document it
    gives, or CorpusChangeRefused with the file's name and the reason (nothing is written)."""
    import tempfile

    name = check_document_name(name)
    if len(data) > max_bytes:
        raise CorpusChangeRefused(f"{name} is {len(data) / 1e6:.1f} MB; at most {max_bytes // 1_000_000} MB may be "
                                  "uploaded at once.")
    signature = _SIGNATURES.get(Path(name).suffix.lower())
    if signature and data.strip() and not data.startswith(signature[0]):
        raise CorpusChangeRefused(f"{name} is not {signature[1]}, whatever its name says; export it again.")
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        (Path(folder) / name).write_bytes(data)
        try:
            return load_document(Path(folder) / name, Path(folder))
        except UnusableFile as why:
            raise CorpusChangeRefused(f"{name} cannot be used: {why}.") from None
        except OSError as error:
            raise CorpusChangeRefused(f"{name} cannot be read ({error.strerror}).") from None


def document_path(corpus_dir: Path, doc_id: str) -> Path:
    """The file of an existing document (its id is its path under the corpus folder), or
    CorpusChangeRefused if there is none or the id points outside the folder."""
    root = corpus_dir.resolve()
    path = (root / doc_id).resolve()
    if (not doc_id or not path.is_relative_to(root) or path == root or Path(doc_id).name in NOT_DOCUMENTS
            or any(part.startswith(".") for part in Path(doc_id).parts) or not path.is_file()):
        raise CorpusChangeRefused(f"There is no document {doc_id!r} in the corpus folder.")
    return path


def save_document(corpus_dir: Path, doc_id: str, data: bytes) -> Path:
    """Write (or replace) the document `doc_id` with `data` in one rename."""
    path = corpus_dir / doc_id
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data)
    return path


def remove_document(corpus_dir: Path, doc_id: str) -> None:
    """Delete the document's file and its sources.csv row."""
    document_path(corpus_dir, doc_id).unlink()
    set_sources(corpus_dir, {doc_id: None})


def set_sources(corpus_dir: Path, rows: dict[str, dict[str, str] | None]) -> None:
    """Set (or, with None, remove) the sources.csv rows of these documents, merging the given
    columns into what staff wrote; other rows and columns are kept as they were."""
    current = read_sources(corpus_dir)
    changed = False
    for doc_id, values in rows.items():
        if values is None:
            changed |= current.pop(doc_id, None) is not None
            continue
        merged = {**current.get(doc_id, {"file": doc_id}), **values, "file": doc_id}
        if current.get(doc_id) != merged:
            current[doc_id] = merged
            changed = True
    if not changed:
        return  # an unchanged sources.csv keeps its bytes, so no document's hash moves
    columns = list(dict.fromkeys([*_SOURCE_COLUMNS, *(key for row in current.values() for key in row)]))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for doc_id in sorted(current):
        writer.writerow({column: current[doc_id].get(column, "") for column in columns})
    write_atomically(corpus_dir / SOURCES_FILE, out.getvalue().encode("utf-8"))


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one rename: a reader sees the old bytes or the new ones, and a
    failed write (a full disk) leaves the old file and no temporary one."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")  # a dot file: never read as a document
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
