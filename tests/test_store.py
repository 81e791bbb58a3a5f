"""The index on disk: same answers after reloading, clear errors when it is missing or wrong."""

from __future__ import annotations

import json
import shutil

import pytest

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.store import IndexMismatch, IndexNotReady, current_build, load_index


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
