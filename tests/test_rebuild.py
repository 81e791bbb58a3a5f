"""Incremental rebuilds: only new and changed documents are embedded, the result equals a full
build, the quality gate keeps a bad build from being served, one build at a time, rollback.

The real model counts what it embeds through a thin wrapper (CountingEmbedder): what is
asserted is which texts reached the model, never how long anything took.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from assistant.answer import Assistant
from assistant.cli import main
from assistant.config import Settings
from assistant.documents.load import CHECKS_FILE
from assistant.index.store import all_vectors, current_build, load_index
from assistant.lifecycle.build import build_index
from assistant.lifecycle.gate import Check, ChecksFailed, failed_checks, read_checks
from assistant.lifecycle.lock import build_lock

from .conftest import SEED_CORPUS, TINY_CORPUS

HAIR = """---
title: Hair loss during treatment
---
Scalp cooling caps reduce hair loss during chemotherapy. Hair usually grows back within three to
six months after the last treatment, sometimes curlier or a different colour at first.
"""
LIVER_ADDITION = "\n\nAfter ablation, most people go home the next day and return to normal activities within a week.\n"


class CountingEmbedder:
    """The session's real Embedder, remembering every text it is asked to encode."""

    def __init__(self, embedder) -> None:
        self._embedder = embedder
        self.texts: list[str] = []

    def encode(self, texts, *, threads=None):
        self.texts.extend(texts)
        return self._embedder.encode(texts, threads=threads)

    def __getattr__(self, name):  # dimension, threads, encode_query: the real ones
        return getattr(self._embedder, name)


@pytest.fixture
def corpus_and_index(tmp_path, embedder):
    """A copy of the tiny corpus, built once in full; returns (settings, counting embedder)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(TINY_CORPUS, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    counting = CountingEmbedder(embedder)
    first = build_index(settings, embedder=counting)
    assert first.full_reason == "no index yet" and len(first.added) == 5
    counting.texts.clear()
    return settings, counting


def test_add_change_delete_embeds_only_what_changed_and_equals_a_full_build(corpus_and_index, tmp_path, embedder):
    settings, counting = corpus_and_index
    corpus = settings.corpus_dir
    (corpus / "hair.txt").write_text(HAIR, encoding="utf-8")
    with (corpus / "liver.txt").open("a", encoding="utf-8") as handle:
        handle.write(LIVER_ADDITION)
    (corpus / "bones.md").unlink()

    report = build_index(settings, embedder=counting)

    assert report.full_reason is None and report.published
    assert report.added == ["hair.txt"] and report.changed == ["liver.txt"] and report.removed == ["bones.md"]
    assert sorted(report.unchanged) == ["brain.html", "lungs.pdf", "markup.txt"]
    assert {s.path for s in report.skipped} == {"empty.txt", "junk.txt", "corrupt.pdf"}
    lines = "\n".join(report.summary_lines())
    assert "added 1, changed 1, removed 1, unchanged 3, skipped 3" in lines
    assert "+ hair.txt" in lines and "~ liver.txt" in lines and "- bones.md: removed" in lines

    # Only the new and the changed document reached the model: their passages, their sentences
    # and their titles; not one text of the three unchanged documents.
    index = load_index(settings.index_dir, model_name=settings.model_name)
    fresh = [c for c in index.chunks if c.doc_id in {"hair.txt", "liver.txt"}]
    assert len(counting.texts) == report.embedded > 0
    for text in counting.texts:
        assert any(text.endswith(c.text) or text in c.text or text == c.title for c in fresh), text
    assert sum(any(text.endswith(c.text) and c.title in text for c in fresh) for text in counting.texts) >= len(fresh)
    assert {c.doc_id for c in index.chunks} == {"hair.txt", "liver.txt", "brain.html", "lungs.pdf", "markup.txt"}

    # The patched index is the index a full build makes of the same corpus.
    full = build_index(settings.with_(index_dir=tmp_path / "full"), embedder=embedder)
    rebuilt = load_index(full.index_path.parent.parent, model_name=settings.model_name)
    assert index.chunks == rebuilt.chunks
    assert np.array_equal(index.sentences, rebuilt.sentences)
    assert np.array_equal(index.chunk_titles, rebuilt.chunk_titles)
    assert np.allclose(all_vectors(index.vectors), all_vectors(rebuilt.vectors), atol=1e-4)
    assert np.array_equal(index.sentence_vectors.codes, rebuilt.sentence_vectors.codes)
    answer = Assistant.load(settings, embedder=embedder).ask("Will my hair grow back after chemo?")
    assert answer.passages[0].doc_id == "hair.txt"


def test_nothing_changed_publishes_nothing_and_embeds_nothing(corpus_and_index):
    settings, counting = corpus_and_index
    served = current_build(settings.index_dir)
    report = build_index(settings, embedder=counting)
    assert not report.published and counting.texts == [] and current_build(settings.index_dir) == served
    assert "Nothing changed" in report.summary_lines()[0]


def test_removing_a_document_needs_no_model(corpus_and_index):
    settings, _ = corpus_and_index
    (settings.corpus_dir / "markup.txt").unlink()
    report = build_index(settings)  # no embedder given: one would be loaded only if something needed embedding
    assert report.removed == ["markup.txt"] and report.embedded == 0
    assert load_index(settings.index_dir, model_name=settings.model_name).manifest["counts"]["documents"] == 4


def test_other_chunk_settings_or_full_rebuild_everything_and_say_why(corpus_and_index):
    settings, counting = corpus_and_index
    report = build_index(settings.with_(chunk_max_tokens=120), embedder=counting)
    assert "chunk settings changed" in report.full_reason
    assert sorted(report.unchanged) == ["bones.md", "brain.html", "liver.txt", "lungs.pdf", "markup.txt"]
    assert report.embedded == len(counting.texts) > report.chunks  # every passage, sentence and title again

    forced = build_index(settings.with_(chunk_max_tokens=120), embedder=counting, full=True)
    assert forced.full_reason == "--full was asked for"
    assert "full build: --full was asked for" in forced.summary_lines()[0]


def test_a_failing_check_keeps_the_served_index(corpus_and_index, tmp_path):
    settings, counting = corpus_and_index
    served = current_build(settings.index_dir)
    (settings.corpus_dir / "brain.html").unlink()  # the document the check needs is gone
    checks = [Check(1, "Which medicine reduces brain swelling?", "brain.html"),
              Check(2, "What causes jaundice?", "liver.txt")]

    with pytest.raises(ChecksFailed) as failed:
        build_index(settings, embedder=counting, checks=checks, check_source="checks.tsv")

    message = str(failed.value)
    assert "1 of 2 checks in checks.tsv failed" in message
    assert "'Which medicine reduces brain swelling?' should find brain.html" in message
    assert "was left as it was" in message
    assert current_build(settings.index_dir) == served
    assert [p.name for p in (settings.index_dir / "builds").iterdir() if p.name.startswith(".tmp-")] == []
    assert "brain.html" in load_index(settings.index_dir, model_name=settings.model_name).manifest["documents"]

    # The same through the command line, with a check file: exit 1, the failure named.
    check_file = tmp_path / "must-find.tsv"
    check_file.write_text("# question<TAB>document\nWhich medicine reduces brain swelling?\tbrain.html\n")
    result = CliRunner().invoke(main, ["build", "--corpus", str(settings.corpus_dir), "--index",
                                       str(settings.index_dir), "--check", str(check_file)])
    assert result.exit_code == 1 and "not published" in result.output and "line 2" in result.output
    assert current_build(settings.index_dir) == served


def test_the_seed_corpus_check_file_passes_and_is_not_a_document(seed_build, seed_assistant):
    checks = read_checks(SEED_CORPUS / CHECKS_FILE)
    assert len(checks) >= 5
    assert {c.doc_id for c in checks} == {d.id for d in seed_build[1].documents}  # one per document at least
    assert failed_checks(seed_assistant, checks) == []
    assert CHECKS_FILE not in {s.path for s in seed_build[1].skipped}


def test_a_second_build_refuses_clearly_while_one_runs(corpus_and_index):
    settings, _ = corpus_and_index
    with build_lock(settings.index_dir):
        result = CliRunner().invoke(main, ["build", "--corpus", str(settings.corpus_dir),
                                           "--index", str(settings.index_dir), "--full"])
    assert result.exit_code == 1
    assert "Another build" in result.output and "clinic-assistant build --wait" in result.output
    assert "Traceback" not in result.output


def test_rollback_serves_the_build_before(corpus_and_index):
    settings, counting = corpus_and_index
    first = current_build(settings.index_dir)
    (settings.corpus_dir / "hair.txt").write_text(HAIR, encoding="utf-8")
    second = build_index(settings, embedder=counting).index_path

    result = CliRunner().invoke(main, ["rollback", "--index", str(settings.index_dir)])

    assert result.exit_code == 0, result.output
    assert current_build(settings.index_dir) == first
    assert first.name in result.output and second.name in result.output
    assert "hair.txt" not in json.loads((first / "manifest.json").read_text())["documents"]
    # The next build starts from the build served now: the new file is "added" again.
    assert build_index(settings, embedder=counting).added == ["hair.txt"]
