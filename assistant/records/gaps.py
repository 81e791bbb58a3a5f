"""The gaps log: questions the documents did not answer, for staff to see what is missing.

Off unless GAPS_LOG=1, because it keeps what patients typed. Only questions that were searched
and found nothing are kept (never an urgent message, never a refusal for length), in a local
SQLite file or in PostgreSQL (DATABASE_URL), for GAPS_RETENTION_DAYS days: older entries are deleted on every write and every
listing, so nothing outlives the retention even if nobody looks.

    log = GapsLog(settings.gaps_location, retention_days=30)   # a SQLite file, or DATABASE_URL
    log.record("Can I fly with bone metastases?")
    group_questions(log.entries(), embedder)  ->  [GapGroup(...), ...] largest first
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from .database import Database, Migration

# MiniLM cosines measured: "Can I travel by plane with bone metastases?" / "Is flying safe with
# bone metastases?" 0.78, "... park my car at the clinic?" / "Where do I park when I visit the
# clinic?" 0.88, flying / parking ~0.1-0.2. A lay rewording ("cancer has spread to my bones")
# scored 0.59 and stays apart: a smaller group next to the other, rather than unrelated mixes.
SIMILAR = 0.7

MIGRATIONS = [
    # As the SQLite files of earlier versions already have it. PostgreSQL gets a column named
    # like SQLite's implicit rowid, so one SELECT lists questions of the same second in order.
    Migration(1, sqlite="CREATE TABLE IF NOT EXISTS gaps (at TEXT NOT NULL, question TEXT NOT NULL)",
              postgres="CREATE TABLE IF NOT EXISTS gaps (rowid BIGINT GENERATED ALWAYS AS IDENTITY,"
                       " at TEXT NOT NULL, question TEXT NOT NULL)"),
]


@dataclass(frozen=True)
class Gap:
    at: datetime  # UTC
    question: str


@dataclass(frozen=True)
class GapGroup:
    gaps: tuple[Gap, ...]  # the first one is the question the others resemble

    @property
    def first(self) -> datetime:
        return min(g.at for g in self.gaps)

    @property
    def last(self) -> datetime:
        return max(g.at for g in self.gaps)


class GapsLog:
    """Questions in one database; a connection per call, so the chat's worker thread may write to it."""

    def __init__(self, location: Path | str, *, retention_days: int,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        """`location`: a SQLite file's path, or a postgresql:// URL shared by replicas."""
        self.database = Database(location, component="gaps", migrations=MIGRATIONS)
        self.retention = timedelta(days=retention_days)
        self._clock = clock

    def record(self, question: str) -> None:
        now = self._clock()
        with self.database.transaction() as run:
            self._forget_expired(run, now)
            run("INSERT INTO gaps (at, question) VALUES (?, ?)", (now.isoformat(timespec="seconds"), question))

    def entries(self) -> list[Gap]:
        """The questions kept, oldest first (expired ones are deleted first)."""
        if self.database.is_empty():
            return []
        with self.database.transaction() as run:
            self._forget_expired(run, self._clock())
            rows = run("SELECT at, question FROM gaps ORDER BY at, rowid")
        return [Gap(datetime.fromisoformat(at), question) for at, question in rows]

    def _forget_expired(self, run, now: datetime) -> None:
        # ISO 8601 times in UTC compare correctly as text. SQLite overwrites what it deletes
        # (secure_delete); PostgreSQL's autovacuum reclaims the space of deleted rows.
        run("DELETE FROM gaps WHERE at < ?", ((now - self.retention).isoformat(timespec="seconds"),))


def group_questions(gaps: list[Gap], embedder, threshold: float = SIMILAR) -> list[GapGroup]:
    """Greedy grouping by meaning: each question joins the first group whose first question has
    cosine >= threshold with it, else starts a group. Largest groups first, then the most recent."""
    if not gaps:
        return []
    vectors = np.asarray(embedder.encode([g.question for g in gaps]), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
    groups: list[list[int]] = []
    for i, vector in enumerate(vectors):
        for members in groups:
            if float(vectors[members[0]] @ vector) >= threshold:
                members.append(i)
                break
        else:
            groups.append([i])
    result = [GapGroup(tuple(gaps[i] for i in members)) for members in groups]
    return sorted(result, key=lambda group: (-len(group.gaps), -group.last.timestamp()))
