"""corpus/ -> index/: load, clean, chunk, embed, store, publish.

Entry point: `build_index(settings) -> BuildReport`. A file that cannot be used is reported by
name and skipped; the build goes on. A build that fails leaves the served index untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


from . import store
from .chunk import REPEATED_SHARE, chunk_document, sentence_spans, tokenizer_counter
from .config import Settings
from .load import Skipped, load_corpus
from .types import Chunk, Document

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class IndexedDocument:
    id: str
    title: str
    chunks: int


@dataclass
class BuildReport:
    index_path: Path | None = None
    documents: list[IndexedDocument] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    def summary_lines(self) -> list[str]:
        lines = [f"Indexed {len(self.documents)} documents as {self.chunks} passages in {self.seconds:.1f} s."]
        for doc in self.documents:
            lines.append(f"  + {doc.id}: {doc.chunks} passages, title {doc.title!r}")
        for skipped in self.skipped:
            lines.append(f"  ! skipped {skipped.path}: {skipped.reason}")
        return lines


def embedding_text(chunk: Chunk) -> str:
    """What the model reads for a passage: its document title and section give it context."""
    parts = [chunk.title]
    if chunk.section and not chunk.text.startswith(chunk.section):
        parts.append(chunk.section)
    parts.append(chunk.text)
    return "\n".join(parts)


def highlight_sentences(chunks: list[Chunk]) -> list[tuple[int, int, int]]:
    """(chunk row, start, end) of each sentence that could be a passage's key sentence.

    Headings are left out (a heading restates the question; it does not answer it), and so are
    fragments under three words. Embedding them at build time keeps highlighting off the query
    path: a query then costs one encoding, whatever the passage length.
    """
    spans = []
    for row, chunk in enumerate(chunks):
        heading = chunk.section if chunk.section and chunk.text.startswith(chunk.section) else None
        for start, end in sentence_spans(chunk.text):
            sentence = chunk.text[start:end]
            if len(sentence.split()) < 3 or (heading and start == 0 and sentence.rstrip(":") == heading):
                continue
            spans.append((row, start, end))
    return spans


def build_index(settings: Settings, *, embedder=None) -> BuildReport:
    """Build the index of `settings.corpus_dir` into `settings.index_dir` and publish it."""
    loaded = load_corpus(settings.corpus_dir)
    return build_documents(loaded.documents, settings, skipped=loaded.skipped, embedder=embedder)


def build_documents(documents: list[Document], settings: Settings, *, skipped: Sequence[Skipped] = (),
                    embedder=None) -> BuildReport:
    """Chunk, embed and store `documents` into `settings.index_dir`, and publish the index.

    `clinic-assistant eval` calls this directly with a dataset's documents, so what it measures
    is this very pipeline from the chunker on.
    """
    started = time.perf_counter()
    report = BuildReport()
    report.skipped = list(skipped)

    count_tokens = tokenizer_counter(str(settings.resolved_model_path))
    chunks: list[Chunk] = []
    for doc in documents:
        chunks.extend(chunk_document(doc, count_tokens, max_tokens=settings.chunk_max_tokens))

    if embedder is None:
        from .embed import Embedder

        embedder = Embedder(settings.resolved_model_path, threads=settings.query_threads)
    vectors = embedder.encode([embedding_text(c) for c in chunks], threads=settings.build_threads)
    sentences = highlight_sentences(chunks)
    sentence_vectors = embedder.encode(
        [chunks[row].text[start:end] for row, start, end in sentences], threads=settings.build_threads
    )
    titles = list(dict.fromkeys(chunk.title for chunk in chunks if chunk.title.strip()))
    title_vectors = embedder.encode(titles, threads=settings.build_threads)
    title_row = {title: row for row, title in enumerate(titles)}
    chunk_titles = np.array([title_row.get(chunk.title, -1) for chunk in chunks], dtype=np.int32)

    per_doc = {doc.id: 0 for doc in documents}
    for chunk in chunks:
        per_doc[chunk.doc_id] += 1
    report.documents = [IndexedDocument(d.id, d.title, per_doc[d.id]) for d in documents]
    report.chunks = len(chunks)

    manifest = {
        "model": {"name": settings.model_name, "dimension": embedder.dimension, "path": str(settings.resolved_model_path)},
        "chunking": {"max_tokens": settings.chunk_max_tokens, "repeated_share": REPEATED_SHARE},
        "documents": {
            d.id: {"title": d.title, "url": d.url, "content_hash": d.content_hash, "chunks": per_doc[d.id]}
            for d in documents
        },
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
        "counts": {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences),
                   "titles": len(titles),
                   "skipped": len(skipped)},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    staging = store.new_staging_folder(settings.index_dir)
    try:
        store.write_chunks(staging, chunks)
        store.write_vectors(staging, vectors)
        store.write_sentences(staging, np.asarray(sentences, dtype=np.int32), sentence_vectors)
        store.write_lexical(staging, chunks)
        store.write_titles(staging, title_vectors, chunk_titles)
        report.seconds = time.perf_counter() - started
        manifest["build_seconds"] = round(report.seconds, 2)
        store.write_manifest(staging, manifest)
        report.index_path = store.publish(settings.index_dir, staging)
    except BaseException:
        store.discard(staging)
        raise
    log.info("built index: %d documents, %d chunks, %d skipped, %.1f s",
             len(documents), len(chunks), len(skipped), report.seconds)
    return report


def index_is_stale(settings: Settings) -> bool:
    """True when there is no index, or the corpus or the model differs from what it was built from."""
    from .load import content_hash, corpus_files, read_sources

    try:
        manifest = store.read_manifest(settings.index_dir)
    except store.IndexNotReady:
        return True
    if manifest.get("schema_version") != store.SCHEMA_VERSION:
        return True
    if manifest.get("model", {}).get("name") != settings.model_name:
        return True
    if manifest.get("chunking", {}).get("max_tokens") != settings.chunk_max_tokens:
        return True
    if not settings.corpus_dir.is_dir():
        return False  # nothing to build from: serve what there is
    sources = read_sources(settings.corpus_dir)
    indexed = {doc_id: info["content_hash"] for doc_id, info in manifest.get("documents", {}).items()}
    skipped = {s["path"] for s in manifest.get("skipped", [])}
    current = {}
    for path in corpus_files(settings.corpus_dir):
        doc_id = path.relative_to(settings.corpus_dir).as_posix()
        if doc_id in skipped:
            continue
        current[doc_id] = content_hash(path.read_bytes(), sources.get(doc_id))
    return current != indexed or bool(skipped - set(current) - _skipped_still_present(settings, skipped))


def _skipped_still_present(settings: Settings, skipped: set[str]) -> set[str]:
    return {p for p in skipped if (settings.corpus_dir / p).exists()}
