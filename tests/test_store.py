"""The index on disk: same answers after reloading, clear errors when it is missing or wrong."""

from __future__ import annotations

import json
import shutil

import faiss
import numpy as np
import pytest

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.index import store
from assistant.index.store import (
    IndexMismatch,
    IndexNotReady,
    current_build,
    load_index,
)


def test_a_reloaded_index_gives_identical_results(seed_settings, seed_assistant, embedder):
    reloaded = Assistant.load(seed_settings, embedder=embedder)
    for question in ["Where does breast cancer usually spread?", "How are bone metastases treated?"]:
        first, second = seed_assistant.ask(question), reloaded.ask(question)
        assert [(p.doc_id, p.text, p.score) for p in first.passages] == [
            (p.doc_id, p.text, p.score) for p in second.passages
        ]


def test_an_index_built_with_another_model_is_refused_with_the_fix(seed_settings, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(seed_settings.index_dir, copy, symlinks=True)
    manifest_path = current_build(copy) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model"]["name"] = "some-org/other-model"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatch) as error:
        load_index(copy, model_name=seed_settings.model_name)
    message = str(error.value)
    assert "some-org/other-model" in message and "clinic-assistant build" in message
    assert "\n" not in message


@pytest.mark.parametrize("field, value", [
    # A model trained again (training/finetune.py) keeps its name: the weights' hash tells them apart.
    ("weights", "0123456789abcdef"),
    # The same weights exported another way (another recipe or precision, another ONNX Runtime)
    # give other vectors: the manifest's encoder identity tells them apart, and the server
    # refuses to compare its questions' vectors with them.
    ("encoder", "int8-matmul-per-channel-v0:0123456789abcdef"),
])
def test_an_index_built_with_other_weights_or_another_encoder_is_stale(seed_settings, embedder, tmp_path, field, value):
    from assistant.lifecycle.build import index_is_stale

    copy = tmp_path / "index"
    shutil.copytree(seed_settings.index_dir, copy, symlinks=True)
    settings = seed_settings.with_(index_dir=copy)
    assert not index_is_stale(settings)
    manifest_path = current_build(copy) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model"][field] = value
    manifest_path.write_text(json.dumps(manifest))
    assert index_is_stale(settings)  # `make run` (build --if-stale) rebuilds it
    if field == "encoder":
        with pytest.raises(IndexMismatch, match="another encoder.*clinic-assistant build"):
            Assistant.load(settings, embedder=embedder)


def test_a_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexNotReady, match=r"^No index in .*Run: clinic-assistant build"):
        Assistant.load(Settings(index_dir=tmp_path / "nothing"))


def test_a_damaged_index_says_how_to_rebuild(seed_settings, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(seed_settings.index_dir, copy, symlinks=True)
    (current_build(copy) / "vectors.faiss").write_bytes(b"not faiss at all")
    with pytest.raises(IndexNotReady, match="damaged.*clinic-assistant build"):
        load_index(copy, model_name=seed_settings.model_name)


def test_the_index_is_published_by_swapping_a_link(seed_settings):
    link = seed_settings.index_dir / "current"
    assert link.is_symlink()
    assert not any(p.name.startswith(".tmp-") for p in (seed_settings.index_dir / "builds").iterdir())


def test_one_byte_sentence_vectors_move_a_cosine_by_about_a_thousandth(seed_settings, embedder):
    index = load_index(seed_settings.index_dir, model_name=seed_settings.model_name)
    sentences = [index.chunks[row].text[start:end] for row, start, end in index.sentences]
    exact = embedder.encode(sentences)
    assert index.sentence_vectors.codes.dtype == np.int8
    for question in ["Which organs does breast cancer spread to?", "Can bone metastases be treated?"]:
        query = embedder.encode_query(question)
        error = np.abs(index.sentence_vectors.dot(np.arange(len(sentences)), query) - exact @ query)
        assert np.median(error) < 0.001 and error.max() < 0.005
        # The key sentence of a passage is the same one as with the exact vectors, or within 0.005.
        best = np.argmax(index.sentence_vectors.dot(np.arange(len(sentences)), query))
        assert (exact @ query).max() - (exact @ query)[best] < 0.005


def test_large_corpora_get_an_approximate_index_that_finds_what_exact_search_finds(tmp_path, monkeypatch):
    # Real sentence vectors would take minutes to make by the thousand; the index only sees
    # unit vectors, so clustered random ones (like topics) exercise the same code.
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(50, 384))
    vectors = (centres[rng.integers(0, 50, 3000)] + 0.6 * rng.normal(size=(3000, 384))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    monkeypatch.setattr(store, "APPROXIMATE_FROM", 1000)
    assert store.write_vectors(tmp_path, vectors) == "hnsw"
    index = faiss.read_index(str(tmp_path / store.VECTORS))
    index.hnsw.efSearch = store.HNSW_SEARCH_BREADTH
    view = store.all_vectors(index)
    assert np.array_equal(view, vectors) and not view.flags.owndata  # the index's own storage, no copy
    queries = vectors[:100] + 0.1 * rng.normal(size=(100, 384)).astype(np.float32)
    _, approximate = index.search(queries, 10)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approximate, exact)])
    assert recall >= 0.98
    monkeypatch.setattr(store, "APPROXIMATE_FROM", 10_000)
    assert store.write_vectors(tmp_path, vectors) == "exact"


def test_the_served_arrays_are_mapped_from_disk_not_copied(seed_assistant):
    # Two servers on one box, and the old and new index during a reload, share these pages
    # (index/mapped.py); the values are the ones written, whatever the storage.
    index = seed_assistant.retriever.index
    assert isinstance(index.sentence_vectors.codes, np.memmap)
    assert isinstance(index.sentences, np.memmap)
    assert isinstance(index.lexical._rows, np.memmap)
    folder = index.path
    with np.load(folder / "sentence_vectors.npz") as stored:
        assert np.array_equal(stored["codes"], index.sentence_vectors.codes)
        assert np.array_equal(stored["scales"], index.sentence_vectors.scales)
    assert np.array_equal(np.load(folder / "sentences.npy"), index.sentences)
