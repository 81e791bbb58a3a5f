"""Keyword search: a stemmed BM25 index of the passages, in one SQLite file (FTS5, stdlib).

Dense vectors find meaning ("getting out of breath" -> "breathlessness") but blur exact terms:
"bisphosphonates", "denosumab", a cancer's name. BM25 over Porter-stemmed words finds those, and
meets plurals and verb forms ("bisphosphonate" / "bisphosphonates", "treat" / "treated" / "treating").

The file is written once at build time into the build folder and only ever opened read-only
(`immutable=1`: no locks, no journal), so it is published and swapped with the rest of the index.
Row i of the table is chunk row i of the index.

Entry points: `write_lexical_index(path, chunks)` at build time, `LexicalIndex(path).search(query, k)`.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from pathlib import Path

from .types import Chunk

# Porter stemming on top of unicode61 word splitting; accents folded ("métastase" = "metastase").
TOKENIZER = "porter unicode61 remove_diacritics 2"

# BM25 counts a word in the title column (the document title and the section heading) this many
# times over. A title names what the whole passage is about: on medquad_cancergov, where titles
# are cancer names, nDCG@10 of the fused search rose from 0.771 with weight 1 to 0.820 with 10
# (retrieve.py); 20 and 30 gave the same within 0.005.
TITLE_WEIGHT = 10.0

# FTS5's fixed BM25 parameter k1 (with b = 0.75), for the ceiling of a query's score.
BM25_K1 = 1.2

# Distinct query words whose IDF is remembered; beyond that the memory starts afresh, so odd
# queries cannot grow it without bound (a lookup costs one indexed count, well under 1 ms).
_IDF_MEMORY = 50_000

# Words that carry no topic in a patient's question. BM25 would give them a near-zero weight
# anyway; dropping them keeps the OR-query short (fewer rows to score) and keeps a question like
# "what is it?" from matching every passage.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves also may might must shall get got tell
    know please thank thanks hi hello dear usually often always sometimes typically generally
    really actually""".split()
)

_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(text: str) -> list[str]:
    """The words of a question that can match a passage: lower-cased, stopwords out, in order."""
    # Single digits ("stage 4", "1.") are list numbering more often than content.
    words = (w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and not (w.isdigit() and len(w) == 1))
    return list(dict.fromkeys(words))


def write_lexical_index(path: Path, chunks: list[Chunk]) -> None:
    """The FTS5 table of `chunks`: title and passage text, rowid = chunk row."""
    connection = sqlite3.connect(path)
    try:
        connection.execute(
            f"CREATE VIRTUAL TABLE passages USING fts5(title, body, tokenize='{TOKENIZER}')"
        )
        connection.executemany(
            "INSERT INTO passages(rowid, title, body) VALUES (?, ?, ?)",
            ((row, _title_and_section(chunk), chunk.text) for row, chunk in enumerate(chunks)),
        )
        # One b-tree segment: the smallest file and the fastest reads for an index never written again.
        connection.execute("INSERT INTO passages(passages) VALUES ('optimize')")
        connection.commit()
    finally:
        connection.close()


def _title_and_section(chunk: Chunk) -> str:
    """The words that say what a passage is about: its document's title and its section heading.

    The heading counts here even when the passage text starts with it: for "Why are metastases
    dangerous?" the section of that name must outweigh the other passages of a page titled
    "Cancer with metastases - what is dangerous and how to treat".
    """
    if chunk.section and chunk.section != chunk.title:
        return f"{chunk.title}\n{chunk.section}"
    return chunk.title


class LexicalIndex:
    """Read-only BM25 search over the passages of one build."""

    def __init__(self, path: Path) -> None:
        # immutable=1: the file never changes after publishing, so SQLite skips locking entirely.
        self._connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1",
                                           uri=True, check_same_thread=False)
        self._lock = threading.Lock()  # one connection shared by the server's worker threads
        self.size = self._connection.execute("SELECT count(*) FROM passages").fetchone()[0]
        self._idf: dict[str, float] = {}

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk row, share of the query's attainable BM25) of the best `k` passages, best first.

        The share is BM25 divided by its ceiling for this query, sum(idf * (k1 + 1)) over the
        query's words (BM25's term frequency part tends to k1 + 1 as a word repeats). So 1.0
        means every word of the query is in the passage, many times, and a word the corpus
        never contains counts in the ceiling but is never matched. On the seed corpus:
        "pamidronate" 0.48 (one mention), "Where does breast cancer usually spread?" 0.61,
        "Why is my laptop battery draining so fast?" 0.08 ("fast" alone matches).
        """
        terms = query_terms(query)
        if not terms or k <= 0 or not self.size:
            return []
        with self._lock:
            ceiling = sum(self._term_idf(term) for term in terms) * (BM25_K1 + 1)
            rows = self._connection.execute(
                f"SELECT rowid, bm25(passages, {TITLE_WEIGHT}, 1.0) AS rank FROM passages "
                "WHERE passages MATCH ? ORDER BY rank LIMIT ?",
                (" OR ".join(_quoted(term) for term in terms), k),
            ).fetchall()
        # FTS5's bm25() is negative, best lowest.
        return [(int(row), -float(rank) / ceiling) for row, rank in rows]

    def _term_idf(self, term: str) -> float:
        """FTS5's own IDF for one word: ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6 as FTS5 does."""
        if term not in self._idf:
            if len(self._idf) >= _IDF_MEMORY:
                self._idf.clear()
            hits = self._connection.execute("SELECT count(*) FROM passages WHERE passages MATCH ?",
                                            (_quoted(term),)).fetchone()[0]
            self._idf[term] = max(math.log((self.size - hits + 0.5) / (hits + 0.5)), 1e-6)
        return self._idf[term]

    def close(self) -> None:
        self._connection.close()


def _quoted(term: str) -> str:
    # A quoted word is matched as a word (after stemming), never read as an FTS5 operator.
    return '"' + term.replace('"', '""') + '"'

