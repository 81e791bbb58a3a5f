"""Find the passages that answer a query, and the sentence in each that answers it best.

One query encoding, then exact scores for the candidates of two searches (the top CANDIDATES of
the passage vectors and of the keyword index), fused by adding them:

    score = cosine(query, passage)                                   meaning
          + SENTENCE_WEIGHT * max(0, cosine(query, best sentence) - cosine(query, passage))
          + TITLE_WEIGHT * cosine(query, document title)              which page
          + LEXICAL_WEIGHT * bm25_share(query, passage)               exact words

- The passage vector (title and section prepended, build.embedding_text) carries meaning:
  "getting out of breath" finds "breathlessness".
- The best-sentence gain credits a long passage with one line that answers: the seed page's
  list "• Breast cancer - lungs, liver, bones" sits among ten other cancers, so the passage as
  a whole is about many cancers, its line about one.
- The title cosine lifts every passage of the page whose subject the question names
  ("polycystic kidneys" -> the page "Polycystic kidney disease"), which the passage vector,
  200 word pieces of text behind the title, blurs.
- The BM25 share (index/lexical.py, 0..1) carries exact terms, the title and section heading weighed
  ten times: "Adult Non-Hodgkin Lymphoma" must not give "Adult Hodgkin Lymphoma", whose
  vectors are close.

A weighted sum and not reciprocal rank fusion: RRF takes rank 1 of BM25 and rank 1 of the
vectors as equal evidence, while BM25 alone cannot tell the sections of one page apart; RRF
(k=60) lowered nDCG@10 on medquad_cancergov and liveqa_medquad (shared/eval/dev/BASELINES.md,
and below). A sum keeps the cosine in charge: the top cosines of a query lie within about 0.05
of each other, which the other terms can reorder, while a passage 0.3 behind cannot win on
words alone (a full BM25 match adds 0.3).

The weights were set on the four dev sets with their passage and sentence vectors encoded once
(nDCG@10, document-level, graded; each row adds to the one above unless it says otherwise):

                                        cancergov  cancergov_pages  mediqa_qa  liveqa_medquad
    passage cosine alone                  0.754        0.951          0.748       0.584
    (passage + best sentence) / 2, before 0.702        0.967          0.756       0.600
    RRF k=60 of cosine and BM25           0.715        0.993          0.754       0.532
    cosine, heading-only passages out     0.782        0.962          0.748       0.578
    + 0.3 BM25 share, title weight 1      0.771        0.991          0.769       0.596
    + 0.3 BM25 share, title weight 10     0.820        0.994          0.769       0.602
    + 0.25 best-sentence gain             0.834        0.996          0.775       0.600
    + 0.3 title cosine (this module)      0.833        0.996          0.775       0.645
    this module without BM25              0.807        0.974          0.752       0.652
    this module without sentence gain     0.830        0.996          0.769       0.646

The chosen point sits on a plateau, not a spike: over LEXICAL_WEIGHT 0.2..0.4, SENTENCE_WEIGHT
0.15..0.35 and TITLE_WEIGHT 0.2..0.4 (27 combinations) nDCG@10 stays within 0.820..0.833 on
medquad_cancergov, 0.990..0.996 on its pages and 0.624..0.656 on liveqa_medquad. (mediqa_qa
has no titles, so the title terms do nothing there.)

Issue 14 tried the levers it named, measured the same way (harness: the pipeline of
`clinic-assistant eval`, indexes encoded once per model; seed = the 60 answerable seed-corpus
questions of shared/eval/dev/seeds_qa, top-1 / top-3 with no decline threshold):

                                        cancergov   seed top-1  seed top-3
    this module, base model               0.835       0.617       0.783
    SENTENCE_WEIGHT 0.35 / 0.4 / 0.5      0.825 / 0.830 / 0.830   0.617-0.667  0.800-0.833
    SENTENCE_WEIGHT 0.75                  0.812       0.650       0.833
    MiniLM fine-tuned on MedQuAD          0.904       0.533       0.683
      (training/finetune.py --limit 3200: 3,200 questions, same-topic hard negatives, 21 min)

The fine-tuned encoder wins the template questions of cancer.gov pages by 0.07 nDCG@10 and
loses a tenth of the patients' questions about the clinic's own pages (lay wording, "mets",
one answering line inside a long passage) and 0.04 nDCG@10 on liveqa_medquad's real consumer
questions (0.645 -> 0.606), so the base model stays (training/README.md). A
heavier sentence weight helps the seed pages by two or three questions and costs cancer.gov
about as much: within the noise of either set, so the weights stay where they were. A
cross-encoder reranker was not trained: scoring 10 passages of ~250 word pieces costs about
ten passage encodings (~150-300 ms on these cores), far past the 80 ms p95 it would have to earn.

Issue 14, second pass: cheap levers only, the encoder unchanged (seed = all 70 seed questions
through `clinic-assistant eval`, with the decline rules; top-1 / top-3 / wrongly declined of 60).
None of these can move a dev-set ranking: no query of the four dev sets has a British spelling
or a shorthand word, the follow-up rule needs a conversation, and the dev nDCG@10 stays 0.835 /
0.996 / 0.775 / 0.645:

                                                      seed top-1  top-3   wrongly declined
    this module (start of the pass)                     0.600     0.767        1
    + "tumour", "anaemia" meet "tumor", "anemia"        0.617     0.767        1   kept (lexical.py)
    + shorthand "mets", "chemo" read as the words       0.633     0.783        0   kept (lexical.py)
    + a two-word name opening the earlier question
      is a follow-up's whole subject                    0.667     0.800        0   kept (followup.py)
    then LEXICAL_WEIGHT 0.2 / 0.4 / 0.5                 0.600 / 0.617 / 0.633   0.750 / 0.783 / 0.767
                                                        (0.4 and 0.5 answer a question to decline)
    then SENTENCE_WEIGHT 0 / 0.5                        0.567 / 0.667   0.700 / 0.833
                                                        (0.5 answers a question to decline; it cost
                                                        cancer.gov 0.005 nDCG@10 above)
    then TITLE_WEIGHT 0 / 0.5                           0.583 / 0.633   0.750 / 0.750
                                                        (0 declines 3 answerable; 0.5 answers 2 to decline)

(the weight rows were measured before the follow-up rule, against 0.633 / 0.783.) The weights
stay: each move off them loses on one side what it wins on the other, or answers a question the
pages do not cover. What the seed misses have in common is wording the passage does not share
("Has anyone with cancer in the bones actually beaten it?" / "among patients with metastases
there are those who have overcome the disease"): the encoder's part, left to issue 17's model.

A passage with no sentence of its own (a lone heading such as "Key Points", left by the chunker
when the list under it did not fit) is never a hit: its vector is little more than the title's,
which resembles every question about the subject. 13 such passages of medquad_cancergov took
rank 1 for 7% of its questions; leaving them out raised nDCG@10 from 0.754 to 0.782.

The best sentence of a passage here is its sentence nearest the query, from sentence vectors
computed at build time: one matrix product per query, no second model call. The bold line
shown is chosen again among the sentences that can answer (highlight.py).

Entry point: `Retriever.search(query, k) -> list[Hit]`, best first.
"""

from __future__ import annotations

import numpy as np

from assistant.index.store import StoredIndex, all_vectors
from assistant.timing import StageClock
from assistant.types import Hit

# How many passages each search hands to the fusion. The fused top 10 comes from the top 100
# of one list or the other: a passage outside both would need a cosine within 0.4 of the best
# and a BM25 share beyond the 100th, which did not happen on the dev sets.
CANDIDATES = 100

# The weights of the fused score; measured in the module docstring.
LEXICAL_WEIGHT = 0.3
SENTENCE_WEIGHT = 0.25
TITLE_WEIGHT = 0.3


class Retriever:
    def __init__(self, index: StoredIndex, embedder) -> None:
        self.index = index
        self.embedder = embedder
        self._chunk_vectors = all_vectors(index.vectors)  # for exact rescoring of the candidates
        self._sentence_vectors = index.sentence_vectors  # int8, index/quantized.py
        sentences = index.sentences
        owner = sentences[:, 0] if len(sentences) else np.zeros(0, dtype=np.int32)
        # Sentences are stored grouped by passage: passage i owns rows first[i]:first[i + 1].
        self._first_sentence = np.searchsorted(owner, np.arange(len(index.chunks) + 1))
        self._answerable = self._first_sentence[1:] > self._first_sentence[:-1]
        self._row_of = {chunk.id: row for row, chunk in enumerate(index.chunks)}

    @property
    def chunk_count(self) -> int:
        return len(self.index.chunks)

    def search(self, query: str, k: int = 10, *, clock: StageClock | None = None) -> list[Hit]:
        """The `k` best passages for `query`, best first, each with its key sentence.
        `clock`: charged with the time of each stage (assistant/timing.py)."""
        clock = clock or StageClock(None)
        return self.search_vector(query, self.encode(query, clock=clock), k, clock=clock)

    def encode(self, query: str, *, clock: StageClock) -> np.ndarray:
        vector = self.embedder.encode_query(query)
        clock.lap("encode")
        return vector

    def search_vector(self, query: str, vector: np.ndarray, k: int, *, clock: StageClock) -> list[Hit]:
        """As `search`, for a query already encoded (`encode`)."""
        if not self.index.chunks or not query.strip():
            return []
        depth = min(CANDIDATES, self.chunk_count)
        _, rows = self.index.vectors.search(np.asarray([vector], dtype=np.float32), depth)
        dense_rank = {int(row): rank for rank, row in enumerate(rows[0], start=1) if row >= 0}
        clock.lap("vector search")
        lexical = self.index.lexical.search(query, depth)
        lexical_rank = {row: rank for rank, (row, _) in enumerate(lexical, start=1)}
        share = dict(lexical)
        clock.lap("lexical search")

        candidates = np.fromiter((set(dense_rank) | set(share)), dtype=np.int64)
        candidates = candidates[self._answerable[candidates]]
        best_rows, best_cosines = self._best_sentences(candidates, vector)
        clock.lap("highlight")
        cosines = self._chunk_vectors[candidates] @ vector
        # Only the candidates' titles: a large corpus has tens of thousands. A passage whose
        # document has no title (row -1) gets 0; a corpus may have no titles at all (mediqa_qa).
        title_rows = self.index.chunk_titles[candidates]
        titled = title_rows >= 0
        title_cosines = np.zeros(len(candidates), dtype=np.float32)
        title_cosines[titled] = self.index.title_vectors[title_rows[titled]] @ vector
        scores = (cosines + SENTENCE_WEIGHT * np.maximum(best_cosines - cosines, 0.0)
                  + TITLE_WEIGHT * title_cosines
                  + LEXICAL_WEIGHT * np.array([share.get(int(row), 0.0) for row in candidates]))
        order = np.argsort(-scores, kind="stable")[:k]
        hits = []
        for i in order:
            row = int(candidates[i])
            _, start, end = self.index.sentences[best_rows[i]]
            hits.append(Hit(chunk=self.index.chunks[row], score=float(scores[i]), cosine=float(cosines[i]),
                            lexical_share=share.get(row, 0.0), dense_rank=dense_rank.get(row),
                            lexical_rank=lexical_rank.get(row), best_sentence=(int(start), int(end))))
        clock.lap("fusion")
        return hits

    def sentences_of(self, hit: Hit) -> tuple[np.ndarray, int | None]:
        """The stored vectors of a hit's sentences (one row each), and the row of its key sentence."""
        vectors, spans = self.sentences_with_spans(hit)
        best = spans.index(hit.best_sentence) if hit.best_sentence in spans else None
        return vectors, best

    def sentences_with_spans(self, hit: Hit) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The stored vectors of a hit's sentences (one row each), and each one's (start, end)."""
        row = self._row_of[hit.chunk.id]
        first, last = self._first_sentence[row], self._first_sentence[row + 1]
        spans = [(int(start), int(end)) for _, start, end in self.index.sentences[first:last]]
        return self._sentence_vectors.rows(slice(first, last)), spans

    def _best_sentences(self, rows: np.ndarray, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each passage row: the row of its sentence nearest the query, and that cosine."""
        starts = self._first_sentence[rows]
        lengths = self._first_sentence[rows + 1] - starts  # >= 1: only answerable passages get here
        offsets = np.cumsum(lengths) - lengths
        sentence_rows = np.repeat(starts - offsets, lengths) + np.arange(lengths.sum())
        cosines = self._sentence_vectors.dot(sentence_rows, vector)
        # Sorted by passage, then best first: each passage's best sentence lands at its offset.
        order = np.lexsort((-cosines, np.repeat(np.arange(len(rows)), lengths)))
        best = order[offsets]
        return sentence_rows[best], cosines[best]

