"""Thumbs up/down on answers, kept in a local SQLite file: which documents were shown, never text.

A vote stores its time, up or down, and the shown passages as (number, document id). Not the
question and not the answer: those are patient data. What staff learn is which documents help.

    store = FeedbackStore(settings.resolved_feedback_db)
    store.record("up", ["liver.txt", "bones.md"])
    store.summary()  ->  [DocumentVotes("liver.txt", up=1, down=0), ...]
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

VOTES = ("up", "down")
# An answer shows top_k passages (3 by default); more ids than this is not a vote on an answer.
MAX_DOC_IDS = 20
MAX_DOC_ID_CHARS = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,                                   -- UTC, ISO 8601, to the second
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down'))
);
CREATE TABLE IF NOT EXISTS shown (
    vote_id INTEGER NOT NULL REFERENCES votes(id),
    number INTEGER NOT NULL,                            -- the passage's citation number, from 1
    doc_id TEXT NOT NULL
);
"""


class FeedbackError(ValueError):
    """A vote we will not store; the message is one sentence for the caller."""


@dataclass(frozen=True)
class DocumentVotes:
    doc_id: str
    up: int
    down: int


class FeedbackStore:
    """One SQLite file; a connection per call, so the chat's worker threads and the API can share it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, vote: str, doc_ids: Sequence[str]) -> None:
        """Store one vote on an answer that showed `doc_ids` (in their citation order)."""
        if vote not in VOTES:
            raise FeedbackError('"vote" must be "up" or "down".')
        if (
            isinstance(doc_ids, (str, bytes))
            or len(doc_ids) > MAX_DOC_IDS
            or not all(isinstance(d, str) and 0 < len(d) <= MAX_DOC_ID_CHARS for d in doc_ids)
        ):
            raise FeedbackError(f'"doc_ids" must be a list of at most {MAX_DOC_IDS} document ids.')
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with closing(self._connect()) as db, db:
            vote_id = db.execute("INSERT INTO votes (at, vote) VALUES (?, ?)", (at, vote)).lastrowid
            db.executemany("INSERT INTO shown (vote_id, number, doc_id) VALUES (?, ?, ?)",
                           [(vote_id, number, doc_id) for number, doc_id in enumerate(doc_ids, start=1)])

    def summary(self) -> list[DocumentVotes]:
        """Votes per document, the most voted first. An answer with no passages counts as ""."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as db:
            rows = db.execute(
                """SELECT COALESCE(shown.doc_id, ''),
                          SUM(votes.vote = 'up'), SUM(votes.vote = 'down')
                   FROM votes LEFT JOIN (SELECT DISTINCT vote_id, doc_id FROM shown) AS shown
                        ON shown.vote_id = votes.id
                   GROUP BY 1 ORDER BY COUNT(*) DESC, 1"""
            ).fetchall()
        return [DocumentVotes(doc_id, int(up), int(down)) for doc_id, up, down in rows]

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        db.executescript(_SCHEMA)
        return db
