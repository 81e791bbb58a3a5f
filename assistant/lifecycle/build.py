"""corpus/ -> index/: load, clean, chunk, embed, store, check, publish; only what changed.

Entry point: `build_index(settings) -> BuildReport`. Each file's content hash (its bytes and its
sources.csv row) is compared with the served build's manifest: new and changed documents are
loaded, chunked and embedded; unchanged ones keep their passages, passage vectors, sentence
vectors and title vectors from the served build; removed ones leave. The lexical index is
rebuilt from all passages: 3,253 passages took 0.06 s (benchmarks/rebuild.py), so patching
it is not worth its risk. Another model, chunk setting or index format makes every
vector stale: the build is then a full one, and the report says why.

A file that cannot be used is reported by name and skipped; the build goes on. The build holds
the index folder's lock (lock.py), writes beside the served build and publishes with one atomic
swap (index/store.py): a build that fails, is killed or fills the disk leaves the served index as it
was, and the next build removes what it left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.config import Settings
from assistant.documents.chunk import (
    REPEATED_SHARE,
    chunk_document,
    sentence_spans,
    tokenizer_counter,
)
from assistant.documents.load import (
    Skipped,
    UnusableFile,
    content_hash,
    corpus_files,
    load_document,
    read_sources,
)
from assistant.index import store
from assistant.index.embed import encoder_identity, export_path, model_fingerprint
from assistant.types import Chunk, Document

from .lock import build_lock
from .progress import Progress

log = logging.getLogger(__name__)

# Texts per call to the model: small enough for a progress bar that moves every few seconds,
# large enough (8 batches of 32) that sorting by length within a call still saves padding.
ENCODE_SLICE = 256


@dataclass(frozen=True)
class IndexedDocument:
    id: str
    title: str
    chunks: int


@dataclass
class BuildReport:
    index_path: Path | None = None  # the build now served
    documents: list[IndexedDocument] = field(default_factory=list)  # every document in it
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0  # texts the model encoded: passages, sentences and titles
    full_reason: str | None = None  # why every document was embedded again; None: incremental
    published: bool = True  # False: nothing changed, the served build stays
    cleaned_up: list[str] = field(default_factory=list)  # leftovers of dead builds, removed
    seconds: float = 0.0

    def summary_lines(self) -> list[str]:
        if not self.published:
            lines = [f"Nothing changed: the index ({len(self.documents)} documents, {self.chunks} passages) is up to "
                     f"date; checked in {self.seconds:.1f} s."]
        else:
            kind = f"full build: {self.full_reason}" if self.full_reason else "incremental build"
            lines = [f"Indexed {len(self.documents)} documents as {self.chunks} passages in {self.seconds:.1f} s "
                     f"({kind}; {self.embedded} texts embedded)."]
        lines.append(f"  added {len(self.added)}, changed {len(self.changed)}, removed {len(self.removed)}, "
                     f"unchanged {len(self.unchanged)}, skipped {len(self.skipped)}")
        by_id = {doc.id: doc for doc in self.documents}
        for mark, ids in (("+", self.added), ("~", self.changed)):
            for doc_id in ids:
                doc = by_id[doc_id]
                lines.append(f"  {mark} {doc.id}: {doc.chunks} passages, title {doc.title!r}")
        lines += [f"  - {doc_id}: removed from the index" for doc_id in self.removed]
        lines += [f"  ! skipped {skipped.path}: {skipped.reason}" for skipped in self.skipped]
        if self.cleaned_up:
            lines.append(f"  (removed {len(self.cleaned_up)} leftovers of an interrupted build)")
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


def build_index(settings: Settings, *, embedder=None, full: bool = False, checks: Sequence = (),
                check_source: str = "", progress: Progress | None = None, wait: bool = False,
                cluster=None) -> BuildReport:
    """Bring the index of `settings.index_dir` up to date with `settings.corpus_dir` and publish it.

    `full`: embed every document again. `checks` (gate.Check): questions the new build must
    answer from their document, or it is not published (gate.ChecksFailed). `wait`: wait for
    another build of the same folder instead of raising lock.BuildLocked. `cluster`
    (cluster.DaskBuild): read and chunk the documents and embed the passages on its workers;
    the lock, the checks and publishing stay here, as without it.
    """
    map_tasks = cluster.map if cluster is not None else _map_locally
    if cluster is not None and embedder is None:
        embedder = cluster.embedder
    progress = progress or Progress()
    started = time.perf_counter()
    if not settings.corpus_dir.is_dir():
        raise FileNotFoundError(f"No corpus folder at {settings.corpus_dir}/. Create it and put documents in it.")
    with build_lock(settings.index_dir, wait=wait, waiting=progress.note):
        progress.started()
        try:
            report = _build_holding_the_lock(settings, embedder=embedder, full=full, checks=checks,
                                             check_source=check_source, progress=progress, started=started,
                                             map_tasks=map_tasks)
        except BaseException as error:
            progress.failed(error)
            raise
        progress.finished(report)
        return report


def _build_holding_the_lock(settings: Settings, *, embedder, full: bool, checks: Sequence, check_source: str,
                            progress: Progress, started: float, map_tasks) -> BuildReport:
    """build_index's work; the caller holds the build lock."""
    report = BuildReport(cleaned_up=store.remove_leftovers(settings.index_dir))
    if embedder is None:
        from assistant.index.export import ensure_export

        # Once per model weights and precision.
        ensure_export(settings.resolved_model_path, settings.resolved_encoder_dir, settings.encoder_precision)
    manifest, report.full_reason = _served_manifest(settings, full, _encoder_now(settings, embedder))
    indexed = manifest.get("documents", {}) if manifest else {}
    previous = None if report.full_reason else _Previous.read(settings)
    if previous is None and not report.full_reason:
        report.full_reason = "the index being served could not be read"

    sources = read_sources(settings.corpus_dir)
    plan: list[tuple[str, list[Chunk] | None, Document | None]] = []  # None: reuse from `previous`
    seen = set()
    files = corpus_files(settings.corpus_dir)
    to_read: list[tuple[int, str, Path, str | None, str]] = []  # (plan slot, id, path, hash before, hash now)
    with progress.stage("reading documents", len(files), "document") as advance:
        for path in files:
            doc_id = path.relative_to(settings.corpus_dir).as_posix()
            seen.add(doc_id)
            try:
                digest = content_hash(path.read_bytes(), sources.get(doc_id))
            except OSError as error:
                report.skipped.append(Skipped(doc_id, f"cannot read the file ({error.strerror})"))
                advance(1)
                continue
            before = indexed.get(doc_id, {}).get("content_hash")
            if before == digest and previous is not None:
                plan.append((doc_id, None, None))
                report.unchanged.append(doc_id)
                advance(1)
                continue
            to_read.append((len(plan), doc_id, path, before, digest))
            plan.append((doc_id, [], None))  # filled in below, or dropped if the file is unusable
        # Loading, cleaning and chunking is the part worth spreading: on a cluster, one task each.
        read = map_tasks(read_and_chunk, [path for _, _, path, _, _ in to_read],
                         [settings.corpus_dir] * len(to_read), [sources.get(doc_id) for _, doc_id, *_ in to_read],
                         [str(settings.resolved_model_path)] * len(to_read), [settings.chunk_max_tokens] * len(to_read))
        unusable = set()
        for (slot, doc_id, _path, before, digest), result in zip(to_read, read):
            advance(1)
            if isinstance(result, str):  # why the file cannot be used
                reason = result + ("; its earlier version was taken out of the index" if before is not None else "")
                report.skipped.append(Skipped(doc_id, reason))
                unusable.add(slot)
                continue
            doc, chunks = result
            plan[slot] = (doc_id, chunks, doc)
            (report.added if before is None else report.changed if before != digest else report.unchanged).append(doc_id)
    plan = [entry for slot, entry in enumerate(plan) if slot not in unusable]
    order = {path.relative_to(settings.corpus_dir).as_posix(): n for n, path in enumerate(files)}
    for listed in (report.skipped, report.added, report.changed, report.unchanged):
        listed.sort(key=lambda item: order[getattr(item, "path", item)])  # in corpus order, as read
    report.removed = sorted(set(indexed) - seen)

    skipped_before = {s["path"]: s["reason"] for s in manifest.get("skipped", [])} if manifest else None
    if (previous is not None and not report.added and not report.changed and not report.removed
            and skipped_before == {s.path: s.reason for s in report.skipped}):
        report.index_path = previous.index.path
        report.documents = [IndexedDocument(i, indexed[i]["title"], indexed[i]["chunks"]) for i, *_ in plan]
        report.chunks = len(previous.index.chunks)
        report.published = False
        report.seconds = time.perf_counter() - started
        return report
    return _build(settings, plan, report, previous=previous, embedder=embedder, checks=checks,
                  check_source=check_source, progress=progress, started=started)


def read_and_chunk(path: Path, corpus_dir: Path, source, model_path: str, max_tokens: int
                   ) -> tuple[Document, list[Chunk]] | str:
    """One file loaded, cleaned and chunked, or the sentence saying why it cannot be used.
    A plain function of plain values, so a cluster's worker can run it (assistant/lifecycle/cluster.py)."""
    try:
        doc = load_document(path, corpus_dir, source)
    except UnusableFile as why:
        return str(why)
    except OSError as why:
        return f"cannot read the file ({why.strerror})"
    return doc, chunk_document(doc, tokenizer_counter(model_path), max_tokens=max_tokens)


def _map_locally(function, *columns) -> list:
    return list(map(function, *columns))


def build_documents(documents: list[Document], settings: Settings, *, skipped: Sequence[Skipped] = (),
                    embedder=None) -> BuildReport:
    """Chunk, embed and store `documents` into `settings.index_dir` (all of them), and publish.

    `clinic-assistant eval` calls this directly with a dataset's documents, so what it measures
    is this very pipeline from the chunker on.
    """
    started = time.perf_counter()
    count_tokens = tokenizer_counter(str(settings.resolved_model_path))
    plan = [(d.id, chunk_document(d, count_tokens, max_tokens=settings.chunk_max_tokens), d) for d in documents]
    with build_lock(settings.index_dir):
        report = BuildReport(added=[d.id for d in documents], skipped=list(skipped), full_reason="documents given",
                             cleaned_up=store.remove_leftovers(settings.index_dir))
        return _build(settings, plan, report, previous=None, embedder=embedder, checks=(), check_source="",
                      progress=Progress(), started=started)


def _encoder_now(settings: Settings, embedder) -> str | None:
    """The identity of the encoder a build would use now (embed.encoder_identity); None when its
    ONNX file is not made yet (the next build makes it)."""
    if embedder is not None:
        return embedder.identity
    path = export_path(settings.resolved_model_path, settings.resolved_encoder_dir, settings.encoder_precision)
    return encoder_identity(path) if path.exists() else None


def _served_manifest(settings: Settings, full: bool, encoder: str | None) -> tuple[dict | None, str | None]:
    """The served build's manifest (None if there is none), and why it cannot be built upon
    (None: it can)."""
    try:
        manifest = store.read_manifest(settings.index_dir)
    except store.IndexNotReady:
        return None, "no index yet"
    model = manifest.get("model", {})
    chunking = {"max_tokens": settings.chunk_max_tokens, "repeated_share": REPEATED_SHARE}
    if full:
        reason = "--full was asked for"
    elif manifest.get("schema_version") != store.SCHEMA_VERSION:
        reason = f"the index format changed (version {manifest.get('schema_version')} -> {store.SCHEMA_VERSION})"
    elif model.get("name") != settings.model_name:
        reason = f"the model changed ({model.get('name')} -> {settings.model_name})"
    elif model.get("path") != str(settings.resolved_model_path):
        reason = f"the model folder changed ({model.get('path')} -> {settings.resolved_model_path})"
    elif "weights" not in model:
        reason = "the index does not record the model's weights (built before they were recorded)"
    elif model["weights"] != model_fingerprint(settings.resolved_model_path):
        reason = f"the model's weights changed ({model['weights']} -> {model_fingerprint(settings.resolved_model_path)})"
    elif encoder is None:
        reason = "the model's ONNX encoder is not made yet"
    elif model.get("encoder") != encoder:
        reason = f"the encoder changed ({model.get('encoder')} -> {encoder})"
    elif manifest.get("chunking") != chunking:
        reason = f"the chunk settings changed ({manifest.get('chunking')} -> {chunking})"
    else:
        reason = None
    return manifest, reason


@dataclass(frozen=True)
class _Previous:
    """The served build, read back so that unchanged documents keep what was computed for them."""

    index: store.StoredIndex
    rows_of: dict[str, list[int]]  # document id -> its chunk rows in the served build
    vectors: np.ndarray  # chunk row -> passage vector
    sentence_row: dict[tuple[int, int, int], int]  # (chunk row, start, end) -> sentence vector row
    title_vectors: dict[str, np.ndarray]

    @classmethod
    def read(cls, settings: Settings) -> "_Previous | None":
        try:
            index = store.load_index(settings.index_dir, model_name=settings.model_name)
        except store.IndexNotReady as error:
            log.warning("cannot build on the served index, building everything: %s", error)
            return None
        index.lexical.close()  # rebuilt from all passages, never reused
        rows_of: dict[str, list[int]] = {}
        for row, chunk in enumerate(index.chunks):
            rows_of.setdefault(chunk.doc_id, []).append(row)
        titles = {chunk.title: index.title_vectors[row] for chunk, row in zip(index.chunks, index.chunk_titles) if row >= 0}
        return cls(index=index, rows_of=rows_of, vectors=store.all_vectors(index.vectors),
                   sentence_row={tuple(map(int, span)): j for j, span in enumerate(index.sentences)},
                   title_vectors=titles)


def _build(settings: Settings, plan, report: BuildReport, *, previous: _Previous | None, embedder, checks,
           check_source: str, progress: Progress, started: float) -> BuildReport:
    """Assemble the new build from reused and fresh pieces, write it beside the served one,
    run the checks on it, and publish it. Holds the build lock (the caller took it)."""
    staging = store.new_staging_folder(settings.index_dir)  # first: a killed build leaves a trace to clear
    try:
        chunks: list[Chunk] = []
        origin: list[int] = []  # per new chunk row: its row in the served build, -1 if fresh
        for doc_id, fresh, _doc in plan:
            if fresh is None:
                rows = previous.rows_of.get(doc_id, [])
                chunks.extend(previous.index.chunks[r] for r in rows)
                origin.extend(rows)
            else:
                chunks.extend(fresh)
                origin.extend([-1] * len(fresh))
        needs_model = any(r < 0 for r in origin) or bool(checks) or previous is None
        if embedder is None and needs_model:
            from assistant.index.embed import load_embedder

            embedder = load_embedder(settings)
        dimension = embedder.dimension if embedder is not None else previous.vectors.shape[1]
        encoded: dict[str, int] = {}

        def vectors_for(texts: list[str], reused: list[np.ndarray | None], what: str) -> np.ndarray:
            """Each text's vector: the reused one where there is one, else encoded now.

            A text that occurs more than once is encoded once: pages copy each other, and a
            sentence repeated on twenty pages needs one vector (on the 100k benchmark corpus,
            where sites republish the same leaflets, most sentences recur)."""
            out = np.zeros((len(texts), dimension), dtype=np.float32)
            rows_of_text: dict[str, list[int]] = {}
            for i, vector in enumerate(reused):
                if vector is not None:
                    out[i] = vector
                else:
                    rows_of_text.setdefault(texts[i], []).append(i)
            todo = list(rows_of_text)  # each encoded alone (embed.Embedder.encode): no padding to sort for
            with progress.stage(f"embedding {what}", len(todo), what.rstrip("s")) as advance:
                for start in range(0, len(todo), ENCODE_SLICE):
                    batch = todo[start : start + ENCODE_SLICE]
                    for text, vector in zip(batch, embedder.encode(batch, threads=settings.build_threads)):
                        out[rows_of_text[text]] = vector
                    advance(len(batch))
            encoded[what] = len(todo)
            return out

        vectors = vectors_for([embedding_text(c) for c in chunks],
                              [previous.vectors[r] if r >= 0 else None for r in origin], "passages")
        sentences = highlight_sentences(chunks)
        sentence_vectors = vectors_for(
            [chunks[row].text[start:end] for row, start, end in sentences],
            [_reused_sentence(previous, origin[row], start, end) for row, start, end in sentences], "sentences")
        titles = list(dict.fromkeys(chunk.title for chunk in chunks if chunk.title.strip()))
        title_vectors = vectors_for(titles, [previous.title_vectors.get(t) if previous else None for t in titles],
                                    "titles")
        title_row = {title: row for row, title in enumerate(titles)}
        chunk_titles = np.array([title_row.get(chunk.title, -1) for chunk in chunks], dtype=np.int32)

        per_doc = {doc_id: 0 for doc_id, *_ in plan}
        for chunk in chunks:
            per_doc[chunk.doc_id] += 1
        indexed = previous.index.manifest["documents"] if previous else {}
        entries = {
            doc_id: dict(indexed[doc_id]) if doc is None else
            {"title": doc.title, "url": doc.url, "content_hash": doc.content_hash, "chunks": per_doc[doc_id]}
            for doc_id, _fresh, doc in plan
        }
        report.documents = [IndexedDocument(doc_id, entry["title"], entry["chunks"]) for doc_id, entry in entries.items()]
        report.chunks = len(chunks)
        report.embedded = sum(encoded.values())
        manifest = {
            "model": {"name": settings.model_name, "dimension": dimension, "path": str(settings.resolved_model_path),
                      "weights": model_fingerprint(settings.resolved_model_path),
                      "encoder": embedder.identity if embedder is not None else previous.index.manifest["model"]["encoder"]},
            "chunking": {"max_tokens": settings.chunk_max_tokens, "repeated_share": REPEATED_SHARE},
            "documents": entries,
            "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
            "counts": {"documents": len(entries), "chunks": len(chunks), "sentences": len(sentences),
                       "titles": len(titles), "skipped": len(report.skipped)},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build": {"full_reason": report.full_reason, "embedded": report.embedded, "embedded_texts": encoded,
                      "added": len(report.added),
                      "changed": len(report.changed), "removed": len(report.removed),
                      "unchanged": len(report.unchanged)},
        }
        store.write_chunks(staging, chunks)
        manifest["vector_index"] = store.write_vectors(staging, vectors, threads=settings.build_threads)
        store.write_sentences(staging, np.asarray(sentences, dtype=np.int32), sentence_vectors)
        store.write_lexical(staging, chunks)
        store.write_titles(staging, title_vectors, chunk_titles)
        manifest["build_seconds"] = round(time.perf_counter() - started, 2)
        store.write_manifest(staging, manifest)
        if checks:
            _gate(settings, staging, embedder, checks, check_source, progress)
        report.index_path = store.publish(settings.index_dir, staging)
    except BaseException:
        store.discard(staging)
        raise
    report.seconds = time.perf_counter() - started
    log.info("built index: %d documents, %d chunks, %d skipped, %d texts embedded, %.1f s",
             len(report.documents), len(chunks), len(report.skipped), report.embedded, report.seconds)
    return report


def _reused_sentence(previous: _Previous | None, old_row: int, start: int, end: int) -> np.ndarray | None:
    # The spans of a reused passage are computed by the same function as before, so they match.
    if previous is None or old_row < 0:
        return None
    j = previous.sentence_row.get((old_row, start, end))
    return None if j is None else previous.index.sentence_vectors.rows(j)


def _gate(settings: Settings, staging: Path, embedder, checks, check_source: str, progress: Progress) -> None:
    """Ask the staged build the check questions with the real Assistant; raise if one misses."""
    from assistant.answer import Assistant
    from assistant.safety.learnt import UrgencyModel
    from assistant.search.retrieve import Retriever
    from assistant.search.scope import TopicCheck

    from .gate import ChecksFailed, failed_checks

    staged = store.load_index(settings.index_dir, model_name=settings.model_name, dimension=embedder.dimension,
                              folder=staging)
    try:
        assistant = Assistant(settings, Retriever(staged, embedder), TopicCheck.load(embedder, settings.model_name),
                              UrgencyModel.load(embedder, settings.model_name))
        with progress.stage("checking questions", len(checks), "question") as advance:
            failures = []
            for check in checks:
                failures += failed_checks(assistant, [check])
                advance(1)
    finally:
        staged.lexical.close()
    if failures:
        raise ChecksFailed(failures, len(checks), check_source or "the check file")


def rollback_index(index_dir: Path) -> tuple[Path | None, Path]:
    """Serve the build before the current one again, holding the build lock (BuildLocked while a
    build runs); return the builds served before and now."""
    with build_lock(index_dir):
        before = store.current_build(index_dir)
        return before, store.rollback(index_dir)


def index_is_stale(settings: Settings) -> bool:
    """True when there is no index, or the corpus or the model differs from what it was built from."""
    manifest, full_rebuild_reason = _served_manifest(settings, full=False, encoder=_encoder_now(settings, None))
    if full_rebuild_reason:  # no index, or another format, model, model folder or chunking
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
