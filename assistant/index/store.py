"""The index on disk: a folder that describes itself, published atomically.

    index/
      .gitignore            keeps built files out of git
      current -> builds/20261121T070000Z-1a2b   the index being served (a relative symlink)
      builds/<build id>/
        manifest.json       schema, model, chunk settings, per-document hashes, counts, times
        chunks.jsonl        one chunk record per line, in vector order
        vectors.faiss       FAISS inner-product index of the normalised chunk vectors: exact (flat)
                            below APPROXIMATE_FROM passages, HNSW from there on (see below)
        sentences.npy       (chunk row, start, end) of every sentence, offsets into the chunk text
        sentence_vectors.npz  the normalised sentence vectors, int8 with a scale each (quantized.py),
                            row j = sentences.npy row j
        lexical.npz         keyword postings (Porter-stemmed, FTS5's BM25 statistics), row i = chunk i
        titles.npz          the normalised vector of each distinct document title, and per chunk the
                            row of its title's vector (-1: the document has no title)

A build writes into `builds/.tmp-<id>/`, renames it to `builds/<id>/` and then replaces the
`current` link with one `os.replace`: a reader sees the old index or the new one, never half of
one (rewriting files in place failed 99.8% of concurrent reads in a trial; os.replace none).
Sentence vectors are only ever gathered by row (the sentences of a few hundred candidate
passages), never searched, so they are plain arrays, one byte per dimension (quantized.py):
at 100,000 passages float32 sentence vectors alone would take 0.85 GB (the limit for serving is
1.5 GB).

Passage vectors are searched. Exact search costs a pass over all of them per query (about 10 ms
at 100,000 passages on one core of this machine), approximate search (HNSW) about 1 ms, for a
slower build (about a minute at 100,000) and recall@10 slightly under 1 (reported by
benchmarks/run.py; at least 0.98 is the bar). Below APPROXIMATE_FROM passages exact search costs
under 5 ms and is kept.

The previous build is kept for rollback; older ones are removed. Leftovers of killed builds
are removed by the next build, which knows they are dead because it holds the build lock (lifecycle/lock.py).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.types import Chunk

from .lexical import LexicalIndex, write_lexical_index
from .mapped import map_npy, map_npz
from .quantized import Int8Vectors

# 2: the lexical index and the title vectors joined the folder; a version-1 index is rebuilt
# (build --if-stale sees the old version and rebuilds). 3: sentence vectors int8 in a .npz,
# passage vectors in an HNSW index for large corpora, keyword postings instead of an FTS5 table.
SCHEMA_VERSION = 3
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
VECTORS = "vectors.faiss"
SENTENCES = "sentences.npy"
SENTENCE_VECTORS = "sentence_vectors.npz"
LEXICAL = "lexical.npz"
TITLES = "titles.npz"
CURRENT = "current"
BUILDS = "builds"
_TEMPORARY_PREFIX = ".tmp-"
_KEEP_BUILDS = 2  # the current one and the one before it, for rollback

# From this many passages on, the passage vectors get an approximate (HNSW) index; below it an
# exact one (see the module docstring).
APPROXIMATE_FROM = 50_000
# HNSW graph degree and search breadths. M=32 is FAISS's usual choice for 384 dimensions;
# efConstruction 80 and efSearch 128 gave recall@10 >= 0.98 against exact search on the 100k
# benchmark corpus (benchmarks/run.py prints it).
HNSW_NEIGHBOURS = 32
HNSW_BUILD_BREADTH = 80
HNSW_SEARCH_BREADTH = 128


class IndexNotReady(RuntimeError):
    """There is no usable index; the message is one sentence that names the fix."""


class IndexMismatch(IndexNotReady):
    """The index was built with another model or settings than the configured ones."""


@dataclass(frozen=True)
class StoredIndex:
    path: Path  # the build folder that was read
    manifest: dict[str, Any]
    chunks: list[Chunk]
    vectors: Any  # faiss.Index over chunks, row i = chunks[i]
    sentences: np.ndarray  # int32 (n, 3): chunk row, start, end (offsets into that chunk's text)
    sentence_vectors: Int8Vectors  # row j = sentences[j]
    lexical: LexicalIndex  # BM25 over the passages, row i = chunks[i]
    title_vectors: np.ndarray  # float32 (titles, dimension): one row per distinct document title
    chunk_titles: np.ndarray  # int32 (chunks,): row of chunks[i]'s title in title_vectors, -1 for none


def _build_hint(index_dir: Path) -> str:
    return f"Run: clinic-assistant build --index {index_dir}" if str(index_dir) != "index" else "Run: clinic-assistant build"


def current_build(index_dir: Path) -> Path | None:
    link = index_dir / CURRENT
    if not link.exists():
        return None
    return link.resolve()


# --- writing ----------------------------------------------------------------------------------


def new_staging_folder(index_dir: Path) -> Path:
    """An empty folder beside the live builds, to write a new index into."""
    builds = index_dir / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    _ensure_gitignore(index_dir)
    staging = builds / f"{_TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    return staging


def write_chunks(folder: Path, chunks: list[Chunk]) -> None:
    with (folder / CHUNKS).open("w", encoding="utf-8") as handle:
        for chunk in chunks:
            handle.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")


def write_vectors(folder: Path, vectors: np.ndarray, *, threads: int = 1) -> str:
    """Write the passage vectors' search index; return its kind ("exact" or "hnsw")."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) >= APPROXIMATE_FROM:
        kind = "hnsw"
        index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_BUILD_BREADTH
        faiss.omp_set_num_threads(threads)  # the graph is built on every core the build may use
    else:
        kind = "exact"
        index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(vectors)
    # Written by Python, not faiss.write_index: a full disk then raises OSError (ENOSPC) with its
    # errno, which the build reports in one sentence, instead of faiss's RuntimeError.
    (folder / VECTORS).write_bytes(faiss.serialize_index(index).tobytes())
    return kind


def write_sentences(folder: Path, sentences: np.ndarray, vectors: np.ndarray) -> None:
    np.save(folder / SENTENCES, np.asarray(sentences, dtype=np.int32).reshape(-1, 3))
    quantized = Int8Vectors.quantize(vectors)
    with (folder / SENTENCE_VECTORS).open("wb") as handle:  # np.savez on a path would add ".npz" to a name without it
        np.savez(handle, codes=quantized.codes, scales=quantized.scales)


def write_titles(folder: Path, vectors: np.ndarray, chunk_titles: np.ndarray) -> None:
    np.savez(folder / TITLES, vectors=np.asarray(vectors, dtype=np.float32),
             chunk_titles=np.asarray(chunk_titles, dtype=np.int32))


def write_lexical(folder: Path, chunks: list[Chunk]) -> None:
    write_lexical_index(folder / LEXICAL, chunks)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    manifest = {"schema_version": SCHEMA_VERSION, **manifest}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def publish(index_dir: Path, staging: Path) -> Path:
    """Make the staged build the one that is served, atomically; return its final folder."""
    for name in (MANIFEST, CHUNKS, VECTORS, SENTENCES, SENTENCE_VECTORS, LEXICAL, TITLES):
        if not (staging / name).exists():
            raise RuntimeError(f"refusing to publish an incomplete build: {name} is missing")
    _fsync_folder(staging)
    # Milliseconds in the id: name order must be age order (rollback, pruning) even for two
    # builds in the same second.
    now = time.time()
    build_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}{int(now * 1000) % 1000:03d}Z-{uuid.uuid4().hex[:6]}"
    final = staging.parent / build_id
    os.rename(staging, final)
    _point_current_at(index_dir, build_id)
    remove_old_builds(index_dir)
    return final


def _point_current_at(index_dir: Path, build_id: str) -> None:
    temporary_link = index_dir / f"{_TEMPORARY_PREFIX}{CURRENT}-{uuid.uuid4().hex[:6]}"
    os.symlink(Path(BUILDS) / build_id, temporary_link)
    os.replace(temporary_link, index_dir / CURRENT)
    _fsync_folder(index_dir)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def remove_old_builds(index_dir: Path) -> None:
    """Keep the served build and its predecessor; remove older builds."""
    builds = index_dir / BUILDS
    if not builds.is_dir():
        return
    served = current_build(index_dir)
    finished = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(_TEMPORARY_PREFIX)),
                      key=lambda p: p.name)
    keep = set(finished[-_KEEP_BUILDS:]) | ({served} if served else set())
    for folder in finished:
        if folder.resolve() not in {k.resolve() for k in keep}:
            shutil.rmtree(folder, ignore_errors=True)


def remove_leftovers(index_dir: Path) -> list[str]:
    """Remove what dead builds left (staging folders, half-made links); return their names.

    Only call it holding the build lock: then no other build is alive to own them.
    """
    builds = index_dir / BUILDS
    leftovers = [p for p in builds.iterdir() if p.name.startswith(_TEMPORARY_PREFIX)] if builds.is_dir() else []
    for folder in leftovers:
        shutil.rmtree(folder, ignore_errors=True)
    links = list(index_dir.glob(f"{_TEMPORARY_PREFIX}{CURRENT}-*"))
    for link in links:
        link.unlink(missing_ok=True)
    return [p.name for p in leftovers + links]


def rollback(index_dir: Path) -> Path:
    """Serve the build before the current one again; return its folder. Hold the build lock."""
    served = current_build(index_dir)
    builds = index_dir / BUILDS
    finished = sorted(p for p in builds.iterdir() if not p.name.startswith(_TEMPORARY_PREFIX)
                      and (p / MANIFEST).exists()) if builds.is_dir() else []
    # Build ids start with their UTC time, so name order is age order.
    earlier = [p for p in finished if served is None or p.name < served.name]
    if not earlier:
        raise IndexNotReady(f"There is no earlier build in {builds}/ to go back to.")
    _point_current_at(index_dir, earlier[-1].name)
    return earlier[-1]


def _ensure_gitignore(index_dir: Path) -> None:
    ignore = index_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Built by `clinic-assistant build`; never committed.\n*\n!.gitignore\n")


def _fsync_folder(folder: Path) -> None:
    for path in [*folder.iterdir(), folder] if folder.is_dir() else [folder]:
        if path.is_symlink():
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- reading ----------------------------------------------------------------------------------


def read_manifest(index_dir: Path) -> dict[str, Any]:
    folder = current_build(index_dir)
    if folder is None or not (folder / MANIFEST).exists():
        raise IndexNotReady(f"No index in {index_dir}/. {_build_hint(index_dir)}")
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise IndexNotReady(f"The index in {index_dir}/ is damaged (unreadable manifest). {_build_hint(index_dir)}") from None


def check_dimension(manifest: dict[str, Any], dimension: int, index_dir: Path) -> None:
    """Raise IndexMismatch unless the index's vectors have the model's `dimension`."""
    if manifest["model"].get("dimension") != dimension:
        raise IndexMismatch(
            f"The index in {index_dir}/ holds {manifest['model'].get('dimension')}-dimensional vectors but the "
            f"model makes {dimension}-dimensional ones. {_build_hint(index_dir)}"
        )


def check_encoder(manifest: dict[str, Any], encoder: str, index_dir: Path) -> None:
    """Raise IndexMismatch unless the index was built with this encoder (embed.encoder_identity:
    the ONNX export's recipe and hash, made from the model's weights): a model trained again
    under the same name, or exported another way, makes other vectors."""
    built_with = manifest["model"].get("encoder")
    if built_with != encoder:
        raise IndexMismatch(
            f"The index in {index_dir}/ was built with another encoder of the model {manifest['model'].get('name')!r} "
            f"({built_with}, the configured one is {encoder}). {_build_hint(index_dir)}"
        )


def all_vectors(index) -> np.ndarray:
    """The vectors of a flat or HNSW FAISS index as a float32 array, a row per vector.

    A view of the index's own storage, not a copy (at 100,000 passages a copy is 150 MB more):
    keep `index` alive while the array is used, and never write to it.
    """
    import faiss

    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    flat = faiss.downcast_index(index.storage) if hasattr(index, "storage") else index
    view = faiss.rev_swig_ptr(flat.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    view.flags.writeable = False
    return view


def load_index(index_dir: Path, *, model_name: str, dimension: int | None = None,
               folder: Path | None = None) -> StoredIndex:
    """The served index (or the build in `folder`, e.g. a staged one), checked against the
    configured model. Raises IndexNotReady with the fix."""
    import faiss

    if folder is None:
        manifest = read_manifest(index_dir)
        folder = current_build(index_dir)
        assert folder is not None
    else:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    hint = _build_hint(index_dir)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexMismatch(
            f"The index in {index_dir}/ has format version {manifest.get('schema_version')}, this program reads "
            f"{SCHEMA_VERSION}. {hint}"
        )
    built_with = manifest.get("model", {}).get("name")
    if built_with != model_name:
        raise IndexMismatch(
            f"The index in {index_dir}/ was built with the model {built_with!r}, but the configured model is "
            f"{model_name!r}. Rebuild it with the configured model: {hint.removeprefix('Run: ')}"
        )
    if dimension is not None:
        check_dimension(manifest, dimension, index_dir)
    try:
        with (folder / CHUNKS).open(encoding="utf-8") as handle:
            chunks = [Chunk(**json.loads(line)) for line in handle if line.strip()]
        # Memory-mapped (the vectors of a flat index, the storage of an HNSW one): see mapped.py.
        vectors = faiss.read_index(str(folder / VECTORS), faiss.IO_FLAG_MMAP_IFC)
        # One search is one query: answer workers each search on their own core, and FAISS's
        # default OpenMP threads (every core) would have them fight over both.
        faiss.omp_set_num_threads(1)
        if hasattr(vectors, "hnsw"):
            vectors.hnsw.efSearch = HNSW_SEARCH_BREADTH
        sentences = map_npy(folder / SENTENCES)
        stored = map_npz(folder / SENTENCE_VECTORS)
        sentence_vectors = Int8Vectors(codes=stored["codes"], scales=stored["scales"])
        lexical = LexicalIndex(folder / LEXICAL)
        titles = map_npz(folder / TITLES)
        title_vectors, chunk_titles = titles["vectors"], titles["chunk_titles"]
    except (OSError, ValueError, TypeError, RuntimeError, KeyError, sqlite3.Error, zipfile.BadZipFile):
        raise IndexNotReady(f"The index in {index_dir}/ is damaged (unreadable chunks or vectors). {hint}") from None
    if (
        vectors.ntotal != len(chunks)
        or len(chunks) != manifest.get("counts", {}).get("chunks")
        or len(sentence_vectors) != len(sentences)
        or lexical.size != len(chunks)
        or len(chunk_titles) != len(chunks)
        or (len(chunk_titles) and int(chunk_titles.max()) >= len(title_vectors))
        or (len(sentences) and int(sentences[:, 0].max()) >= len(chunks))
    ):
        raise IndexNotReady(f"The index in {index_dir}/ is damaged (counts do not match). {hint}")
    return StoredIndex(path=folder, manifest=manifest, chunks=chunks, vectors=vectors,
                       sentences=sentences, sentence_vectors=sentence_vectors, lexical=lexical,
                       title_vectors=title_vectors, chunk_titles=chunk_titles)
