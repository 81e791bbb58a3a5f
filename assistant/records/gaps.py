"""The gaps log: questions the documents did not answer, for staff to see what is missing.

Off unless GAPS_LOG=1, because it keeps what patients typed. Only questions that were searched
and found nothing are kept (never an urgent message, never a refusal for length), in a local
SQLite file, for GAPS_RETENTION_DAYS days: older entries are deleted on every write and every
listing, so nothing outlives the retention even if nobody looks.

    log = GapsLog(settings.resolved_gaps_db, retention_days=30)
    log.record("Can I fly with bone metastases?")
    group_questions(log.entries(), embedder)  ->  [GapGroup(...), ...] largest first
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

# MiniLM cosines measured: "Can I travel by plane with bone metastases?" / "Is flying safe with
# bone metastases?" 0.78, "... park my car at the clinic?" / "Where do I park when I visit the
# clinic?" 0.88, flying / parking ~0.1-0.2. A lay rewording ("cancer has spread to my bones")
# scored 0.59 and stays apart: a smaller group next to the other, rather than unrelated mixes.
SIMILAR = 0.7

_SCHEMA = "CREATE TABLE IF NOT EXISTS gaps (at TEXT NOT NULL, question TEXT NOT NULL)"


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
    """One SQLite file; a connection per call, so the chat's worker thread may write to it."""

    def __init__(self, path: Path, *, retention_days: int,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.path = path
        self.retention = timedelta(days=retention_days)
        self._clock = clock

    def record(self, question: str) -> None:
        now = self._clock()
        with closing(self._connect(now)) as db, db:
            db.execute("INSERT INTO gaps (at, question) VALUES (?, ?)", (now.isoformat(timespec="seconds"), question))

    def entries(self) -> list[Gap]:
        """The questions kept, oldest first (expired ones are deleted first)."""
        if not self.path.exists():
            return []
        with closing(self._connect(self._clock())) as db:
            rows = db.execute("SELECT at, question FROM gaps ORDER BY at").fetchall()
        return [Gap(datetime.fromisoformat(at), question) for at, question in rows]

    def _connect(self, now: datetime) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        # Deleted rows are overwritten, not left readable in the file's free pages.
        db.execute("PRAGMA secure_delete = ON")
        with db:
            db.execute(_SCHEMA)
            # ISO 8601 times in UTC compare correctly as text.
            db.execute("DELETE FROM gaps WHERE at < ?", ((now - self.retention).isoformat(timespec="seconds"),))
        return db


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
