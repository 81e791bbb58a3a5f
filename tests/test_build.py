"""Loading every format, skipping bad files by name, chunking within the model's window."""

from __future__ import annotations

import json

from assistant.config import Settings
from assistant.documents.chunk import chunk_document, tokenizer_counter
from assistant.documents.load import load_corpus
from assistant.index.embed import model_fingerprint
from assistant.index.store import current_build

from .conftest import SEED_CORPUS, TINY_CORPUS


def test_bad_files_are_reported_by_name_and_the_build_goes_on(tiny_build):
    settings, report = tiny_build
    skipped = {s.path: s.reason for s in report.skipped}
    assert set(skipped) == {"empty.txt", "junk.txt", "corrupt.pdf"}
    assert "empty" in skipped["empty.txt"]
    assert "binary" in skipped["junk.txt"]
    assert "PDF" in skipped["corrupt.pdf"]
    assert {d.id for d in report.documents} == {"liver.txt", "bones.md", "brain.html", "lungs.pdf", "markup.txt"}
    assert all(d.chunks >= 1 for d in report.documents)
    lines = "\n".join(report.summary_lines())
    assert "skipped corrupt.pdf: not a readable PDF" in lines


def test_every_format_gives_title_url_and_clean_text():
    docs = {d.id: d for d in load_corpus(TINY_CORPUS).documents}
    assert docs["liver.txt"].title == "Liver metastases"  # front matter
    assert docs["liver.txt"].url == "https://clinic.example.org/liver-metastases"
    assert docs["bones.md"].title == "Bone metastases"  # first markdown heading
    assert "**" not in docs["bones.md"].text and "#" not in docs["bones.md"].text
    assert docs["brain.html"].title == "Brain metastases"  # <h1>, not the <title> with the site name
    assert docs["brain.html"].url == "https://clinic.example.org/brain-metastases"  # canonical link
    brain = docs["brain.html"].text
    assert "tracking" not in brain and "color: red" not in brain  # scripts and styles are not text
    assert "555 010" not in brain and "©" not in brain and "Contact" not in brain  # footer and menu
    assert "headaches that are worse in the morning" in brain
    assert docs["lungs.pdf"].title == "Lung metastases"  # PDF metadata


def test_pdf_passages_know_their_page():
    docs = {d.id: d for d in load_corpus(TINY_CORPUS).documents}
    lungs = docs["lungs.pdf"]
    count = tokenizer_counter(str(Settings().resolved_model_path))
    chunks = chunk_document(lungs, count, max_tokens=20)
    pages = {c.page for c in chunks}
    assert pages == {1, 2}
    on_page_two = [c for c in chunks if c.page == 2]
    assert "Talc pleurodesis" in " ".join(c.text for c in on_page_two)


def test_seed_chunks_fit_the_window_end_on_sentences_and_point_back_into_the_text():
    settings = Settings()
    count = tokenizer_counter(str(settings.resolved_model_path))
    for doc in load_corpus(SEED_CORPUS).documents:
        chunks = chunk_document(doc, count, max_tokens=settings.chunk_max_tokens)
        assert chunks
        for chunk in chunks:
            assert doc.text[chunk.start : chunk.end] == chunk.text
            # title + section + passage, with [CLS] and [SEP], within MiniLM's 256 word pieces
            assert count(f"{chunk.title}\n{chunk.section or ''}\n{chunk.text}") + 2 <= 256
            assert chunk.text.rstrip()[-1] in ".!?;:)”\"" or chunk.text.split("\n")[-1].startswith("•"), (
                f"{chunk.id} ends mid-sentence: {chunk.text[-60:]!r}"
            )


def test_a_page_that_repeats_its_content_is_indexed_once(embedder, tmp_path):
    page = (SEED_CORPUS / "001_167aab3c5f5502f8.txt").read_text(encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "twice.txt").write_text(page + "\n\n" + page, encoding="utf-8")
    (corpus / "once.txt").write_text(page, encoding="utf-8")
    from assistant.lifecycle.build import build_index

    report = build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=embedder)
    chunks = {d.id: d.chunks for d in report.documents}
    assert chunks["twice.txt"] == chunks["once.txt"]


def test_the_manifest_describes_the_index(seed_settings, seed_build, embedder):
    _, report = seed_build
    manifest = json.loads((current_build(seed_settings.index_dir) / "manifest.json").read_text())
    assert manifest["schema_version"] == 3  # 3: float16 sentence vectors, HNSW for large corpora
    assert manifest["vector_index"] == "exact"  # 76 passages: far below store.APPROXIMATE_FROM
    assert sum(manifest["build"]["embedded_texts"].values()) == manifest["build"]["embedded"]
    assert manifest["model"] == {
        "name": "sentence-transformers/all-MiniLM-L6-v2",
        "dimension": 384,
        "path": str(seed_settings.resolved_model_path),
        "weights": model_fingerprint(seed_settings.resolved_model_path),  # other weights, same name: rebuilt
        "encoder": embedder.identity,  # the ONNX export's recipe and hash: another export, rebuilt
    }
    assert manifest["chunking"]["max_tokens"] == 200
    assert manifest["counts"]["documents"] == 5 and manifest["counts"]["chunks"] == report.chunks
    assert len(manifest["documents"]) == 5
    assert all(len(d["content_hash"]) == 64 for d in manifest["documents"].values())
    assert manifest["built_at"].endswith("Z")
