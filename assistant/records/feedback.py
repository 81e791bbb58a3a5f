"""Thumbs up/down on answers, kept in SQLite or PostgreSQL: which documents were shown, never text.

A vote stores its time, up or down, and the shown passages as (number, document id). Not the
question and not the answer: those are patient data. What staff learn is which documents help.

    store = FeedbackStore(settings.feedback_location)   # a SQLite file, or DATABASE_URL
    store.record("up", ["liver.txt", "bones.md"])
    store.summary()  ->  [DocumentVotes("liver.txt", up=1, down=0), ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .database import Database, Migration

VOTES = ("up", "down")
# An answer shows top_k passages (3 by default); more ids than this is not a vote on an answer.
MAX_DOC_IDS = 20
MAX_DOC_ID_CHARS = 500

MIGRATIONS = [
    # The tables as the SQLite files of earlier versions already have them (IF NOT EXISTS).
    Migration(1, sqlite="""
        CREATE TABLE IF NOT EXISTS votes (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,                                   -- UTC, ISO 8601, to the second
            vote TEXT NOT NULL CHECK (vote IN ('up', 'down'))
        );
        CREATE TABLE IF NOT EXISTS shown (
            vote_id INTEGER NOT NULL REFERENCES votes(id),
            number INTEGER NOT NULL,                            -- the passage's citation number, from 1
            doc_id TEXT NOT NULL
        )""", postgres="""
        CREATE TABLE IF NOT EXISTS votes (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at TEXT NOT NULL,                                   -- as in SQLite: ISO 8601 UTC compares as text
            vote TEXT NOT NULL CHECK (vote IN ('up', 'down'))
        );
        CREATE TABLE IF NOT EXISTS shown (
            vote_id BIGINT NOT NULL REFERENCES votes(id),
            number INTEGER NOT NULL,
            doc_id TEXT COLLATE "C" NOT NULL                    -- sorted byte by byte, as SQLite does
        )"""),
]


class FeedbackError(ValueError):
    """A vote we will not store; the message is one sentence for the caller."""


@dataclass(frozen=True)
class DocumentVotes:
    doc_id: str
    up: int
    down: int


class FeedbackStore:
    """Votes in one database; a connection per call, so the chat's worker threads and the API can share it."""

    def __init__(self, location: Path | str) -> None:
        """`location`: a SQLite file's path, or a postgresql:// URL shared by replicas."""
        self.database = Database(location, component="feedback", migrations=MIGRATIONS)

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
        with self.database.transaction() as run:
            [(vote_id,)] = run("INSERT INTO votes (at, vote) VALUES (?, ?) RETURNING id", (at, vote))
            for number, doc_id in enumerate(doc_ids, start=1):
                run("INSERT INTO shown (vote_id, number, doc_id) VALUES (?, ?, ?)", (vote_id, number, doc_id))

    def summary(self) -> list[DocumentVotes]:
        """Votes per document, the most voted first. An answer with no passages counts as ""."""
        if self.database.is_empty():
            return []
        with self.database.transaction() as run:
            rows = run(
                """SELECT COALESCE(shown.doc_id, ''),
                          SUM(CASE WHEN votes.vote = 'up' THEN 1 ELSE 0 END),
                          SUM(CASE WHEN votes.vote = 'down' THEN 1 ELSE 0 END)
                   FROM votes LEFT JOIN (SELECT DISTINCT vote_id, doc_id FROM shown) AS shown
                        ON shown.vote_id = votes.id
                   GROUP BY 1 ORDER BY COUNT(*) DESC, 1"""
            )
        return [DocumentVotes(doc_id, int(up), int(down)) for doc_id, up, down in rows]
