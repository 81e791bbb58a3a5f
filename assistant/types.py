"""The pipeline's core records: Document -> Chunk -> Hit -> Answer.

Frozen dataclasses with spelled-out fields, so every stage says exactly what it hands on.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One cleaned source document."""

    id: str  # path relative to corpus/, e.g. "metastases.pdf"
    title: str
    text: str  # cleaned text; chunk offsets point into this
    url: str | None = None
    # For PDFs: (start offset in `text`, page number from 1) for each page, in order.
    page_starts: tuple[tuple[int, int], ...] = ()
    # (start offset in `text`, heading) for each section heading found while cleaning.
    section_starts: tuple[tuple[int, str], ...] = ()
    content_hash: str = ""  # sha256 of the file (and its sources.csv row): what decides a re-index

    def page_at(self, offset: int) -> int | None:
        return _last_started(self.page_starts, offset)

    def section_at(self, offset: int) -> str | None:
        return _last_started(self.section_starts, offset)


def _last_started(starts, offset: int):
    """The value of the last (start, value) pair that starts at or before `offset`."""
    found = None
    for start, value in starts:
        if start > offset:
            break
        found = value
    return found


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: the unit that is embedded, searched and shown."""

    id: str  # "<doc id>#<n>"
    doc_id: str
    text: str  # verbatim slice of the cleaned document: document.text[start:end]
    start: int
    end: int
    title: str
    url: str | None = None
    page: int | None = None
    section: str | None = None


@dataclass(frozen=True)
class Hit:
    """A chunk found for a query, with how it was found."""

    chunk: Chunk
    score: float  # relevance to the query; higher is better (see search/retrieve.py for the formula)
    cosine: float = 0.0  # cosine of query and passage vectors, the meaning part of the score
    lexical_share: float = 0.0  # BM25 / its ceiling for the query (0..1), the keyword part
    dense_rank: int | None = None  # 1-based rank in the vector search, None if not found there
    lexical_rank: int | None = None  # 1-based rank in the keyword search, None if not found there
    # (start, end) in chunk.text of the sentence nearest in meaning to the query, if any.
    best_sentence: tuple[int, int] | None = None


@dataclass(frozen=True)
class Passage:
    """A hit as shown to the patient: the quoted text, its citation and the key sentence."""

    number: int  # 1-based citation number
    text: str
    highlight: str | None
    title: str
    doc_id: str
    url: str | None
    page: int | None
    section: str | None
    score: float


@dataclass(frozen=True)
class Answer:
    """Everything shown for one question, before it is rendered for a chat, API or terminal."""

    question: str
    query: str  # what was actually searched (a follow-up is expanded with the conversation)
    passages: tuple[Passage, ...]
    abstained: bool  # True when the documents do not answer: no passages are shown
    urgent: bool  # True when the message describes a possible emergency happening now: the card
    notices: tuple[str, ...] = field(default=())  # fixed texts shown before the passages
    disclaimer: str = ""
    # The safety tier: "urgent" (the card), "possible" (one line at the top) or "none".
    urgency: str = "none"
    # What decided it: "rule:<rule id>" or "example:<example id>", never message text.
    urgent_reason: str | None = None
