"""The ONNX encoder (index/embed.py) against the model it was exported from (index/export.py).

Real parts throughout: the int8 export the session made from the packaged MiniLM weights, and
sentence-transformers in torch float32 as the yardstick. Ranking figures on the dev sets are in
the README ("Performance"): these tests hold the properties the server relies on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from assistant.index.embed import EXPORT_RECIPES, export_path
from assistant.index.export import MIN_COSINE, ensure_export, reference_vectors

ROOT = Path(__file__).resolve().parent.parent

QUESTIONS = [
    "Can metastases be cured?",
    "my dad has bone mets, what does a bisphosphonate do",
    "Will a normal X-ray show bone metastases early on?",
    "What is the treatment for liver metastases?",
]


def seed_passages(seed_assistant, count: int = 24) -> list[str]:
    chunks = seed_assistant.retriever.index.chunks
    return [chunks[i].text for i in np.linspace(0, len(chunks) - 1, count).astype(int)]


def test_the_onnx_encoder_gives_the_float32_model_s_vectors(embedder, seed_assistant):
    texts = QUESTIONS + seed_passages(seed_assistant)
    expected = reference_vectors(seed_assistant.settings.resolved_model_path, texts)
    cosines = (embedder.encode(texts) * expected).sum(axis=1)
    assert cosines.min() >= MIN_COSINE["fp32"], cosines.min()


def test_the_int8_encoder_stays_close_to_the_float32_model(seed_assistant, tmp_path):
    # ENCODER_PRECISION=int8: made and checked like the default (index/export.py).
    from assistant.index.embed import Embedder

    model_path = seed_assistant.settings.resolved_model_path
    int8 = Embedder(model_path, ensure_export(model_path, tmp_path, "int8"))
    assert int8.identity.startswith(EXPORT_RECIPES["int8"] + ":")
    texts = QUESTIONS + seed_passages(seed_assistant)
    cosines = (int8.encode(texts) * reference_vectors(model_path, texts)).sum(axis=1)
    # Per-channel int8 gives 0.990 at worst on the seed corpus; the export is refused below 0.98.
    assert cosines.min() >= MIN_COSINE["int8"], cosines.min()
    assert cosines.mean() >= 0.99, cosines.mean()
    # Alone or among others, a text gets one vector: activations are quantised per run.
    assert np.array_equal(int8.encode(texts, threads=2)[:3], np.stack([int8.encode_query(t) for t in texts[:3]]))


def test_texts_encoded_together_get_the_vectors_they_get_alone(embedder, seed_assistant):
    # float32: passages run alone, the short texts (questions, sentences) share padded runs of
    # similar length; either way on several threads each gets the vector it gets alone.
    sentences = [s for passage in seed_passages(seed_assistant, 6) for s in passage.split(". ") if s]
    texts = QUESTIONS + seed_passages(seed_assistant, 4) + sentences
    assert embedder.short_texts_share_runs
    lengths = [len(e.ids) for e in embedder._single.encode_batch(texts)]
    runs = embedder._runs(lengths)
    assert sorted(row for run in runs for row in run) == list(range(len(texts)))
    assert any(len(run) > 1 for run in runs) and all(len(run) == 1 for run in runs if lengths[run[0]] > 64)
    batch = embedder.encode(texts, threads=2)
    alone = np.stack([embedder.encode_query(text) for text in texts])
    assert np.allclose(batch, alone, atol=1e-4)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_the_message_vector_comes_with_one_vector_per_sentence_from_the_same_pass(embedder):
    message = "My mum has liver metastases. Since last night she is confused and very sleepy. What should we do?"
    vector, sentences = embedder.encode_with_sentences(message)
    assert np.allclose(vector, embedder.encode_query(message), atol=1e-6)
    assert sentences.shape == (3, embedder.dimension)
    assert np.allclose(np.linalg.norm(sentences, axis=1), 1.0, atol=1e-5)
    # The confusion sentence is nearer its own text than the others are.
    alone = embedder.encode(["Since last night she is confused and very sleepy."])[0]
    assert int(np.argmax(sentences @ alone)) == 1
    _, none = embedder.encode_with_sentences("Can metastases be cured?")
    assert none.shape == (0, embedder.dimension)


def test_two_threads_encoding_at_once_get_what_one_gets_alone(embedder, seed_assistant):
    # The two answer workers share one Embedder (ui/answer_queue.py).
    texts = QUESTIONS + seed_passages(seed_assistant, 16)
    expected = [embedder.encode_with_sentences(text) for text in texts]
    results: dict[int, list] = {}

    def work(worker: int) -> None:
        results[worker] = [embedder.encode_with_sentences(text) for text in texts * 5]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got in results.values():
        for (vector, sentences), (want_vector, want_sentences) in zip(got, expected * 5):
            assert np.array_equal(vector, want_vector) and np.array_equal(sentences, want_sentences)


def test_the_export_is_made_once_per_weights_and_then_reused(embedder, seed_settings):
    precision = seed_settings.encoder_precision
    path = export_path(seed_settings.resolved_model_path, seed_settings.resolved_encoder_dir, precision)
    assert path == embedder.onnx_path and path.name.endswith(f"-{EXPORT_RECIPES[precision]}.onnx")
    made = path.stat().st_mtime_ns
    assert ensure_export(seed_settings.resolved_model_path, seed_settings.resolved_encoder_dir, precision) == path
    assert path.stat().st_mtime_ns == made  # not made again
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".export-")]  # no scratch left


def test_the_server_answers_without_importing_torch(seed_settings):
    # What `clinic-assistant serve` loads (the app, the index, the encoder), then one answer;
    # in a fresh interpreter, since this test process has torch loaded already.
    script = """
import json, sys
from assistant.config import Settings
from assistant.answer import Assistant
from ui.app import create_app
settings = Settings.from_env()
assistant = Assistant.load(settings)
create_app(settings, assistant)
answer = assistant.ask("Where does breast cancer usually spread?", [])
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
print(json.dumps({"passages": len(answer.passages), "heavy": heavy}))
"""
    env = {**os.environ, **seed_settings.to_env(), "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"passages": seed_settings.top_k, "heavy": []}


def test_the_only_answer_s_question_runs_on_two_threads_and_gets_the_vector_of_one(embedder, seed_assistant):
    # The server's encoder (LONE_QUESTION_THREADS=2): the question of the only answer under way
    # is split over both cores; while other answers are under way each runs on one thread.
    # Either way it gets the one-thread vector.
    from assistant.index.embed import Embedder

    server = Embedder(seed_assistant.settings.resolved_model_path, embedder.onnx_path, lone_question_threads=2)
    runs = {"lone": 0}
    lone_session = server._lone_session

    class Counted:
        def run(self, *args):
            runs["lone"] += 1
            return lone_session.run(*args)

    server._lone_session = Counted()
    texts = QUESTIONS + seed_passages(seed_assistant, 8)
    one_thread = np.stack([embedder.encode_query(text) for text in texts])
    with server.answering():
        alone = np.stack([server.encode_query(text) for text in texts])
    assert runs["lone"] == len(texts)
    assert float((alone * one_thread).sum(axis=1).min()) > 0.99999
    server.encode(texts)  # a build's texts, outside any answer: one thread each
    assert runs["lone"] == len(texts)
    results: dict[int, np.ndarray] = {}
    both_answering = threading.Barrier(2)

    def work(worker: int) -> None:
        with server.answering():
            both_answering.wait()
            results[worker] = np.stack([server.encode_query(text) for text in texts * 3])
            both_answering.wait()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert runs["lone"] == len(texts)  # two answers under way: neither took both cores
    for got in results.values():
        assert np.allclose(got, np.concatenate([one_thread] * 3), atol=1e-5)
    assert server._running == 0 and server._answering == 0
