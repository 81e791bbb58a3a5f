"""question (+ history) -> Answer: search, choose the passages, find their key sentences.

Entry points: `Assistant.load(settings)` once, then `assistant.ask(question, history)` per message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from . import texts
from .config import Settings
from .retrieve import Retriever
from .store import IndexNotReady, load_index
from .types import Answer, Hit, Passage

log = logging.getLogger(__name__)

__all__ = ["Assistant", "IndexNotReady"]

# Below this cosine the best passage does not answer the question: say so instead of showing
# unrelated text. On the seed corpus off-topic questions top out near 0.31 and in-scope ones
# start near 0.6 (see shared/eval/dev/BASELINES.md); 0.35 sits just above the off-topic range.
MIN_ANSWER_SCORE = 0.35

# How many hits to look at for the top_k passages shown.
SEARCH_DEPTH = 20


class Assistant:
    """The loaded model and index, answering one message at a time."""

    def __init__(self, settings: Settings, retriever: Retriever) -> None:
        self.settings = settings
        self.retriever = retriever

    @classmethod
    def load(cls, settings: Settings, *, embedder=None) -> "Assistant":
        """Load the index and the model (or reuse `embedder`). Raises IndexNotReady with the fix."""
        from .embed import Embedder

        # Read the manifest first: a missing index is reported before the slow model load.
        load_index(settings.index_dir, model_name=settings.model_name)
        if embedder is None:
            embedder = Embedder(settings.resolved_model_path, threads=settings.query_threads)
        index = load_index(settings.index_dir, model_name=settings.model_name, dimension=embedder.dimension)
        return cls(settings, Retriever(index, embedder))

    def health(self) -> dict:
        manifest = self.retriever.index.manifest
        return {
            "documents": int(manifest["counts"]["documents"]),
            "chunks": int(manifest["counts"]["chunks"]),
            "model": manifest["model"]["name"],
            "built_at": manifest.get("built_at"),
        }

    def ask(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        started = time.perf_counter()
        question = question.strip()
        if not question:
            return self._refusal(question, texts.EMPTY_QUESTION)
        if len(question) > self.settings.max_question_chars:
            return self._refusal(question[: self.settings.max_question_chars],
                                 texts.TOO_LONG.format(limit=self.settings.max_question_chars))
        query = question
        hits = self.retriever.search(query, SEARCH_DEPTH)
        chosen = [hit for hit in hits if hit.score >= MIN_ANSWER_SCORE][: self.settings.top_k]
        passages = tuple(self._passage(number, hit) for number, hit in enumerate(chosen, start=1))
        answer = Answer(
            question=question,
            query=query,
            passages=passages,
            abstained=not passages,
            urgent=False,
            notices=(texts.NO_ANSWER,) if not passages else (),
            disclaimer=texts.DISCLAIMER,
        )
        # Never the question text: only what happened (no patient data in logs).
        log.info("answered: passages=%d abstained=%s top_score=%.3f ms=%.1f",
                 len(passages), answer.abstained, hits[0].score if hits else 0.0,
                 (time.perf_counter() - started) * 1000)
        return answer

    def _refusal(self, question: str, notice: str) -> Answer:
        return Answer(question=question, query="", passages=(), abstained=True, urgent=False,
                      notices=(notice,), disclaimer=texts.DISCLAIMER)

    def _passage(self, number: int, hit: Hit) -> Passage:
        chunk = hit.chunk
        return Passage(
            number=number,
            text=chunk.text,
            highlight=chunk.text[hit.best_sentence[0] : hit.best_sentence[1]] if hit.best_sentence else None,
            title=chunk.title,
            doc_id=chunk.doc_id,
            url=chunk.url,
            page=chunk.page,
            section=chunk.section,
            score=round(hit.score, 4),
        )
