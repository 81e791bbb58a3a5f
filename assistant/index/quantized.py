"""Vectors kept in one byte per dimension: the sentence vectors of a large index.

A passage has five or six sentences, so at 100,000 passages there are over half a million
sentence vectors: 0.8 GB as float32, 0.4 GB as float16, 0.2 GB as int8 with one scale per
vector. The limit for serving 100,000 passages is 1.5 GB, with the model and the web stack
taking about 0.65 GB of it. Sentence vectors are only gathered by row and multiplied with one
query, never searched, so nothing needs them as floats for long.

Each vector is stored as round(x / s) with s = max|x| / 127: the error per dimension is at
most s / 2 (about 0.001 for these unit vectors), and a cosine with a unit query moves by about
that much (tests/test_store.py measures it on the seed corpus).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Int8Vectors:
    codes: np.ndarray  # int8 (n, dimension)
    scales: np.ndarray  # float32 (n,): vector i = codes[i] * scales[i]

    @classmethod
    def quantize(cls, vectors: np.ndarray) -> "Int8Vectors":
        vectors = np.asarray(vectors, dtype=np.float32)
        largest = np.abs(vectors).max(axis=1) if len(vectors) else np.zeros(0, dtype=np.float32)
        scales = np.where(largest > 0, largest / 127.0, 1.0).astype(np.float32)
        codes = np.rint(vectors / scales[:, None]).astype(np.int8)
        return cls(codes=codes, scales=scales)

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self, which) -> np.ndarray:
        """The float32 vectors of rows `which` (an index, a slice or an array of row numbers)."""
        return self.codes[which].astype(np.float32) * self.scales[which, None]

    def dot(self, which: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Inner products of rows `which` with `vector`: scale after the product, one pass."""
        return (self.codes[which] @ np.asarray(vector, dtype=np.float32)) * self.scales[which]
