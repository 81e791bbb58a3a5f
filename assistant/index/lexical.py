"""Keyword search: a stemmed BM25 index of the passages, in one SQLite file (FTS5, stdlib).

Dense vectors find meaning ("getting out of breath" -> "breathlessness") but blur exact terms:
"bisphosphonates", "denosumab", a cancer's name. BM25 over Porter-stemmed words finds those, and
meets plurals and verb forms ("bisphosphonate" / "bisphosphonates", "treat" / "treated" / "treating").

SQLite's FTS5 analyses the passages at build time (Porter stemming, word counts). Queries are
scored from the postings read out of it (lexical.npz: per stemmed word, the passages that contain
it and how often, title words weighted; the FTS5 table itself is not kept), with FTS5's own
bm25() formula in numpy. FTS5 scores every passage that has any query word, one row at a time: "cancer"
is in most passages of a cancer corpus, and at 10,000 passages a query took 3 ms (p50) to 10 ms
(p95), growing with the corpus. The same sums as array operations take a fraction of that
(benchmarks/run.py, stage "lexical search"), and give FTS5's scores (tests/test_retrieval.py).
FTS5 stays the analyser: a query word is stemmed by the same tokenizer, in memory.

The file is written once at build time into the build folder and never changes, so it is
published and swapped with the rest of the index. Row i is chunk row i of the index.

Entry points: `write_lexical_index(path, chunks)` at build time, `LexicalIndex(path).search(query, k)`.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from pathlib import Path

import numpy as np

from assistant.types import Chunk

from .mapped import map_npz

# Porter stemming on top of unicode61 word splitting; accents folded ("métastase" = "metastase").
TOKENIZER = "porter unicode61 remove_diacritics 2"

# BM25 counts a word in the title column (the document title and the section heading) this many
# times over. A title names what the whole passage is about: on medquad_cancergov, where titles
# are cancer names, nDCG@10 of the fused search rose from 0.771 with weight 1 to 0.820 with 10
# (search/retrieve.py); 20 and 30 gave the same within 0.005.
TITLE_WEIGHT = 10.0

# FTS5's fixed BM25 parameters.
BM25_K1 = 1.2
BM25_B = 0.75


# Distinct query words whose stem is remembered; beyond that the memory starts afresh, so odd
# queries cannot grow it without bound (stemming one word in memory costs well under 1 ms).
_UNKNOWN = object()  # not looked up yet (None is a word without a stem)
_STEM_MEMORY = 50_000

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

# Letters and digits: FTS5's unicode61 tokenizer also splits at "_", so each word here is one
# token there.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# British spellings of medical words and their American forms: leukaemia, anaemia, oesophagus,
# haemorrhage, oedema, tumour. Only for words of 6 letters or more ("toe", "does" stay).
_BRITISH = ((re.compile(r"ae"), "e"), (re.compile(r"oe"), "e"), (re.compile(r"our(s?)$"), r"or\1"))


# Patients' shorthand for words the pages spell out: looked up only when the corpus lacks the
# shorthand itself. A word the corpus never has counts in the ceiling of the BM25 share at the
# highest IDF, so an unread "mets" lowers the share of every passage.
LAY_SHORTHAND = {"mets": "metastases", "met": "metastasis", "chemo": "chemotherapy", "radio": "radiotherapy",
                 "meds": "medicines", "onc": "oncologist", "rads": "radiotherapy", "immuno": "immunotherapy"}


def american_spelling(word: str) -> str:
    """`word` (lower case) spelt the American way: "tumour" -> "tumor", "anaemia" -> "anemia"."""
    if len(word) >= 6:
        for pattern, replacement in _BRITISH:
            word = pattern.sub(replacement, word)
    return word


def query_terms(text: str) -> list[str]:
    """The words of a question that can match a passage: lower-cased, stopwords out, in order."""
    # Single digits ("stage 4", "1.") are list numbering more often than content.
    words = (w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and not (w.isdigit() and len(w) == 1))
    return list(dict.fromkeys(words))


def write_lexical_index(path: Path, chunks: list[Chunk]) -> None:
    """The postings of `chunks` (title and passage text, row = chunk row) into `path`, by way
    of an FTS5 table in a scratch file beside it."""
    scratch = path.with_name(path.name + ".fts5.sqlite")
    scratch.unlink(missing_ok=True)
    connection = sqlite3.connect(scratch)
    try:
        connection.execute(
            f"CREATE VIRTUAL TABLE passages USING fts5(title, body, tokenize='{TOKENIZER}')"
        )
        connection.executemany(
            "INSERT INTO passages(rowid, title, body) VALUES (?, ?, ?)",
            ((row, _title_and_section(chunk), chunk.text) for row, chunk in enumerate(chunks)),
        )
        connection.commit()
        _write_postings(connection, len(chunks), path)
    finally:
        connection.close()
        scratch.unlink(missing_ok=True)


def _write_postings(connection: sqlite3.Connection, rows: int, path: Path) -> None:
    """Per stemmed word, the rows that contain it and its weighted count there (title words count
    TITLE_WEIGHT times, as bm25(passages, TITLE_WEIGHT, 1.0) counts them), and per row its length
    in words: all that FTS5's bm25() reads."""
    connection.execute("CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, passages, instance)")
    found = connection.execute(
        f"SELECT term, doc, sum(CASE col WHEN 'title' THEN {TITLE_WEIGHT} ELSE 1.0 END), count(*) "
        "FROM temp.words GROUP BY term, doc ORDER BY term, doc"
    ).fetchall()
    terms: list[str] = []
    starts: list[int] = []
    row_of = np.empty(len(found), dtype=np.int32)
    weighted = np.empty(len(found), dtype=np.float32)
    length = np.zeros(rows, dtype=np.int64)
    for i, (term, doc, weight, count) in enumerate(found):
        if not terms or terms[-1] != term:
            terms.append(term)
            starts.append(i)
        row_of[i] = doc
        weighted[i] = weight
        length[doc] += count
    starts.append(len(found))
    with path.open("wb") as handle:  # np.savez on a path would add ".npz" to a name without it
        np.savez(handle, terms=np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8),
                 starts=np.asarray(starts, dtype=np.int64), rows=row_of, weighted=weighted, length=length)


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
        postings = map_npz(path)  # the postings stay on disk (mapped.py); a query reads its words' rows
        terms = postings["terms"].tobytes().decode("utf-8")
        self._terms = terms.split("\n") if terms else []
        self._term_id = {term: i for i, term in enumerate(self._terms)}
        self._starts = postings["starts"]
        self._rows = postings["rows"]
        self._weighted = postings["weighted"]  # float32: whole counts times 1 or 10, exact
        length = postings["length"].astype(np.float64)
        self.size = len(length)
        average = length.mean() if self.size else 1.0
        # BM25's length normalisation of each row, as FTS5 computes it: k1 (1 - b + b D / avgdl).
        self._norm = BM25_K1 * (1 - BM25_B + BM25_B * length / (average or 1.0))
        # FTS5 with this tokenizer, in memory: it stems a query word exactly as the passages were.
        self._analyser = sqlite3.connect(":memory:", check_same_thread=False)
        self._analyser.execute(f"CREATE VIRTUAL TABLE words USING fts5(word, tokenize='{TOKENIZER}')")
        self._analyser.execute("CREATE VIRTUAL TABLE stems USING fts5vocab(words, row)")
        self._lock = threading.Lock()  # the analyser is shared by the server's worker threads
        self._stems: dict[str, str | None] = {}

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
        scores = np.zeros(self.size)
        ceiling = 0.0
        for term in terms:
            term_id = self._term_id_of(term)
            first, last = (self._starts[term_id], self._starts[term_id + 1]) if term_id is not None else (0, 0)
            idf = self._idf(last - first)
            ceiling += idf * (BM25_K1 + 1)
            if last > first:
                rows, weighted = self._rows[first:last], self._weighted[first:last].astype(np.float64)
                scores[rows] += idf * weighted * (BM25_K1 + 1) / (weighted + self._norm[rows])
        found = np.flatnonzero(scores)
        if len(found) > k:
            found = found[np.argpartition(-scores[found], k - 1)[:k]]
        # Best first; equal scores by row, as FTS5 returns them.
        found = found[np.lexsort((found, -scores[found]))]
        return [(int(row), float(scores[row] / ceiling)) for row in found]

    def term_weights(self, text: str) -> dict[str, tuple[str, float]]:
        """Each content word of `text` -> its stem as the passages were stemmed, and its IDF in
        this corpus: how much finding it says. Words the corpus never contains are left out. On
        the seed corpus "metastases" weighs 0.0 (in most passages), "blood" 1.4, "remedies" 3.9."""
        weights = {}
        for term in query_terms(text):
            term_id = self._term_id_of(term)
            if term_id is not None:
                weights[term] = (self._terms[term_id], self._idf(int(self._starts[term_id + 1] - self._starts[term_id])))
        return weights

    def stems(self, text: str) -> set[str]:
        """The stems of the content words of `text`, as `term_weights` names them."""
        return {stem for stem in map(self._stem, query_terms(text)) if stem}

    def contains(self, word: str) -> bool:
        """Whether any passage of the corpus has `word` (or another word of its stem, or its
        American spelling)."""
        return self._term_id_of(word.lower()) is not None

    def _term_id_of(self, word: str) -> int | None:
        """The postings row of a query word: its stem, or when the corpus never has it, the stem
        of its American spelling. Patients write "tumour" and "anaemia" to pages that say
        "tumor" and "anemia"; a page that says "tumour" still matches "tumour" first."""
        term_id = self._term_id.get(self._stem(word))
        for other in (american_spelling(word), LAY_SHORTHAND.get(word)):
            if term_id is None and other and other != word:
                term_id = self._term_id.get(self._stem(other))
        return term_id

    def _idf(self, containing: int) -> float:
        """FTS5's IDF of a word in `containing` of the rows: ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6."""
        return max(math.log((self.size - containing + 0.5) / (containing + 0.5)), 1e-6)

    def _stem(self, word: str) -> str | None:
        """The word as the tokenizer indexes it (Porter stem, accents folded); None if it has none."""
        known = self._stems.get(word, _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        with self._lock:
            self._analyser.execute("INSERT INTO words(word) VALUES (?)", (word,))
            stems = [term for (term,) in self._analyser.execute("SELECT term FROM stems")]
            self._analyser.execute("DELETE FROM words")
        stem = stems[0] if stems else None
        # Two answer workers share this memory: another may clear it between these lines, so
        # the stem is returned from here, not read back.
        if len(self._stems) >= _STEM_MEMORY:
            self._stems.clear()
        self._stems[word] = stem
        return stem

    def close(self) -> None:
        self._analyser.close()
