"""question (+ history) -> Answer: rebuild a follow-up, search, choose what to show, or decline.

    message + history --followup--> query --retrieve--> hits --selection--> passages | "I don't know"
                                          \--scope: about everyday life, not health?--> "I don't know"
                                          \--coverage: a topic the documents never name?--> "I don't know"

Entry points: `Assistant.load(settings)` once, then `assistant.ask(question, history)` per message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from assistant.index.store import IndexNotReady, check_dimension, check_encoder, load_index
from assistant.records.gaps import GapsLog
from assistant.safety.escalation import escalation_notices
from assistant.safety.learnt import UrgencyModel
from assistant.safety.rules import assess_message, load_rules
from assistant.safety.urgency import Urgency, combine
from assistant.search.coverage import declines_uncovered_topic
from assistant.search.followup import standalone_query
from assistant.search.highlight import answering_sentence
from assistant.search.retrieve import Retriever
from assistant.search.scope import TopicCheck
from assistant.search.selection import choose_passages

from . import texts
from .config import Settings
from .timing import StageClock
from .types import Answer, Hit, Passage

log = logging.getLogger(__name__)

__all__ = ["Assistant", "IndexNotReady"]

# How many hits to look at for the top_k passages shown: enough that after setting aside
# repeats there are still top_k distinct passages to show.
SEARCH_DEPTH = 20


class Assistant:
    """The loaded model and index, answering one message at a time."""

    def __init__(self, settings: Settings, retriever: Retriever, topic_check: TopicCheck,
                 urgency_model: UrgencyModel, *, gaps: GapsLog | None = None) -> None:
        self.settings = settings
        self.retriever = retriever
        self.topic_check = topic_check
        self.urgency_model = urgency_model
        # Here rather than in the ui: only respond() knows a message was searched and nothing
        # found, as opposed to refused for length or urgent; and the chat, the widget and the
        # API all pass through it.
        self.gaps = gaps

    @classmethod
    def load(cls, settings: Settings, *, embedder=None) -> "Assistant":
        """Load the index and the model (or reuse `embedder`). Raises IndexNotReady with the fix."""
        from assistant.index.embed import load_embedder

        # The index first: a missing or mismatched one is reported before the slow model load.
        index = load_index(settings.index_dir, model_name=settings.model_name)
        load_rules()  # a broken rule file stops start-up, instead of failing a patient's message
        if embedder is None:
            embedder = load_embedder(settings, lone_question_threads=settings.lone_question_threads)
        check_dimension(index.manifest, embedder.dimension, settings.index_dir)
        check_encoder(index.manifest, embedder.identity, settings.index_dir)
        gaps = GapsLog(settings.gaps_location, retention_days=settings.gaps_retention_days) if settings.gaps_log else None
        return cls(settings, Retriever(index, embedder), TopicCheck.load(embedder, settings.model_name),
                   UrgencyModel.load(embedder, settings.model_name), gaps=gaps)

    def health(self) -> dict:
        manifest = self.retriever.index.manifest
        return {
            "documents": int(manifest["counts"]["documents"]),
            "chunks": int(manifest["counts"]["chunks"]),
            "model": manifest["model"]["name"],
            "built_at": manifest.get("built_at"),
        }

    def ask(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        """The answer to one message; `history` is the conversation before it ({"role", "content"})."""
        return self.respond(question, history)[0]

    def respond(self, question: str, history: Sequence[dict] | None = None, *, depth: int = SEARCH_DEPTH,
                timings: dict[str, float] | None = None) -> tuple[Answer, list[Hit]]:
        """The answer, and the `depth` best hits it was chosen from (for `clinic-assistant eval`).
        `timings`: if given, receives the milliseconds of each stage (benchmarks/run.py)."""
        with self.retriever.embedder.answering():  # its question may use both cores if no other is asked
            return self._respond(question, history, depth=depth, timings=timings)

    def _respond(self, question: str, history: Sequence[dict] | None, *, depth: int,
                 timings: dict[str, float] | None) -> tuple[Answer, list[Hit]]:
        started = time.perf_counter()
        clock = StageClock(timings)
        question = question.strip()
        if not question:
            return self._refusal(question, texts.EMPTY_QUESTION), []
        # Before any search, on the patient's own words (even when too long to search): the rule
        # file, then the learnt signal on the message's vector and its sentences' (one encoding).
        # The slice bounds the rules' work on a huge message; the model reads its window only.
        checked = question[: 4 * self.settings.max_question_chars]
        safety = assess_message(checked)
        clock.lap("safety")
        message_vector, sentences = self.retriever.embedder.encode_with_sentences(checked)
        clock.lap("encode")
        urgency = combine(safety, self.urgency_model.assess(message_vector, sentences))
        cards = escalation_notices(urgency, self.settings)
        clock.lap("safety")
        if len(question) > self.settings.max_question_chars:
            refusal = texts.TOO_LONG.format(limit=self.settings.max_question_chars)
            self._log_urgency(urgency)
            return self._refusal(question[: self.settings.max_question_chars], refusal, urgency=urgency,
                                 cards=cards), []
        query = standalone_query(question, history)
        clock.lap("follow-up")
        # The common case, no follow-up rewrite: the message's vector is the query's.
        vector = message_vector if query == question else self.retriever.encode(query, clock=clock)
        hits = self.retriever.search_vector(query, vector, depth, clock=clock)
        # Searched even when off topic: `clinic-assistant eval` ranks the hits of every question.
        off_topic = self.topic_check.is_everyday(vector)
        top_score = hits[0].score if hits else 0.0
        # A health question about a subject the documents never name (coverage.py).
        uncovered = declines_uncovered_topic(query, top_score, self.retriever.index.lexical)
        shown = [] if off_topic or uncovered else choose_passages(hits, self.retriever, self.settings.top_k)
        # The bold line: the sentence that answers, not the one nearest the question (highlight.py).
        shown = [replace(hit, best_sentence=answering_sentence(query, vector, hit, self.retriever, message=question)) for hit in shown]
        clock.lap("selection")
        passages = tuple(self._passage(number, hit) for number, hit in enumerate(shown, start=1))
        answer = Answer(
            question=question,
            query=query,
            passages=passages,
            abstained=not passages,
            urgent=urgency.urgent,
            notices=cards + ((texts.NO_ANSWER,) if not passages else ()),
            disclaimer=texts.DISCLAIMER,
            urgency=urgency.level,
            urgent_reason=urgency.reason,
        )
        # Neither urgent nor possibly urgent messages are kept.
        if answer.abstained and answer.urgency == "none" and self.gaps is not None:
            self._record_gap(question)
        # Never the question text: only what happened (no patient data in logs).
        log.info("answered: passages=%d abstained=%s off_topic=%s uncovered=%s follow_up=%s top_score=%.3f urgency=%s "
                 "reason=%s learnt=%.2f situation=%s rules=%s decision=%s ms=%.1f",
                 len(passages), answer.abstained, off_topic, uncovered, query != question, top_score,
                 urgency.level, urgency.reason, urgency.probability, safety.category, ",".join(safety.rules),
                 safety.personal_decision, (time.perf_counter() - started) * 1000)
        return answer, hits

    @staticmethod
    def _log_urgency(urgency: Urgency) -> None:
        # Ids and flags only, never the message (no patient data in logs).
        log.info("refused (too long): urgency=%s reason=%s learnt=%.2f", urgency.level, urgency.reason,
                 urgency.probability)

    def _record_gap(self, question: str) -> None:
        try:
            self.gaps.record(question)
        except Exception as error:  # a full disk must not cost the patient the answer
            log.warning("gaps log not written: %s", type(error).__name__)

    def _refusal(self, question: str, notice: str, *, urgency: Urgency | None = None,
                 cards: tuple[str, ...] = ()) -> Answer:
        return Answer(question=question, query="", passages=(), abstained=True,
                      urgent=bool(urgency and urgency.urgent), notices=cards + (notice,), disclaimer=texts.DISCLAIMER,
                      urgency=urgency.level if urgency else "none", urgent_reason=urgency.reason if urgency else None)

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

