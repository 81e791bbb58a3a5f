"""Find the passages that answer a query, and the sentence in each that answers it best.

A passage is scored by its own vector and by its best sentence's vector:
    score = (cosine(query, passage) + cosine(query, best sentence)) / 2
The passage vector carries the topic (title, section, all of its sentences); the sentence
vector finds the one line that answers, which a long passage's average dilutes. On the seed
corpus "Where does breast cancer usually spread?" ranks the list "Breast cancer - lungs, liver,
bones ..." 9th by passage vector alone and 2nd with the sentence term.

Entry point: `Retriever.search(query, k) -> list[Hit]`, best first.
"""

from __future__ import annotations

import numpy as np

from .store import StoredIndex
from .types import Hit

# Candidates taken from each vector index before exact rescoring: enough that a passage found
# only through one sentence still competes, small enough to rescore in well under a millisecond.
CANDIDATES = 50


class Retriever:
    def __init__(self, index: StoredIndex, embedder) -> None:
        self.index = index
        self.embedder = embedder
        self._chunk_vectors = _matrix(index.vectors)
        self._sentence_vectors = _matrix(index.sentence_vectors)
        sentences = index.sentences
        self._sentence_owner = sentences[:, 0] if len(sentences) else np.zeros(0, dtype=np.int32)
        # Sentences are stored grouped by passage: passage i owns rows first[i]:first[i + 1].
        self._first_sentence = np.searchsorted(self._sentence_owner, np.arange(len(index.chunks) + 1))

    @property
    def chunk_count(self) -> int:
        return len(self.index.chunks)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        if not self.index.chunks or not query.strip():
            return []
        vector = self.embedder.encode_query(query)
        return self.search_vector(vector, k)

    def search_vector(self, vector: np.ndarray, k: int) -> list[Hit]:
        query = np.asarray([vector], dtype=np.float32)
        depth = min(CANDIDATES, self.chunk_count)
        _, chunk_rows = self.index.vectors.search(query, depth)
        candidates = {int(r) for r in chunk_rows[0] if r >= 0}
        dense_rank = {int(r): rank for rank, r in enumerate(chunk_rows[0], start=1)}
        if len(self._sentence_owner):
            _, sentence_rows = self.index.sentence_vectors.search(query, min(2 * CANDIDATES, len(self._sentence_owner)))
            candidates |= {int(self._sentence_owner[r]) for r in sentence_rows[0] if r >= 0}

        scored = []
        for row in candidates:
            passage_score = float(self._chunk_vectors[row] @ vector)
            first, last = self._first_sentence[row], self._first_sentence[row + 1]
            best_sentence = None
            sentence_score = passage_score
            if last > first:
                scores = self._sentence_vectors[first:last] @ vector
                best = int(np.argmax(scores))
                sentence_score = float(scores[best])
                _, start, end = self.index.sentences[first + best]
                best_sentence = (int(start), int(end))
            scored.append(((passage_score + sentence_score) / 2, row, best_sentence))
        scored.sort(key=lambda item: -item[0])
        return [
            Hit(chunk=self.index.chunks[row], score=score, dense_rank=dense_rank.get(row), best_sentence=best)
            for score, row, best in scored[:k]
        ]


def _matrix(index) -> np.ndarray:
    """The vectors of a flat FAISS index as a numpy array, for exact rescoring."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
