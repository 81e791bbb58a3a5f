"""Which sentence of a shown passage answers the question: the one the chat puts in bold.

The sentence nearest the question in meaning is often not the one that answers: it is the one
that *repeats* the question. Measured on the seed questions (shared/eval/dev/seeds_qa), the
nearest sentence held the answer in 64% of the passages that held it; the misses were

- question-shaped lines: "Can metastases be cured?" bolded the page's own heading "Is it
  possible to cure metastases?";
- labels and lead-ins ending in a colon: "Are bisphosphonates with nitrogen better ...?"
  bolded "Bisphosphonates containing nitrogen:"; "Will a normal X-ray show bone metastases
  early on?" bolded "To check for metastases, there are a number of diagnostic procedures
  available ...:" instead of the list line about X-rays below it;
- echoes: a sentence whose every content word is already in the question tells the patient
  nothing they did not say.

None of those can answer, whatever their cosine, so they are never the highlight. Among the
sentences left, each scores its cosine with the question plus WORD_OVERLAP_WEIGHT times the
share of the question's word weight it contains, each word weighed by its IDF in the corpus
(index/lexical.py, Porter stems): the line that answers "Will a normal X-ray show ...?" names
the X-ray, "Is there a blood test ...?" the blood test, "r there any home remedies for the
pain" the remedies, while the general sentences around them are as near in meaning and share
only "metastases" or "bone", words most passages of a cancer page contain (IDF near 0). The
words weighed are the patient's own: a follow-up rebuilt with the earlier question's subject
("if someone is already paralysed from it" + "metastases spine press spinal cord") picked its
passage with that subject, and every sentence of the passage shares it; what tells the answer
apart is "already paralysed". Who asks and when (followup.NOISE_WORDS: "dad", "yesterday") and
one-letter shorthand ("r", "n", the "t" of "can't") weigh nothing.

Two adjacent sentences are bolded together when the neighbour scores within PAIR_MARGIN of the
best, or when the next one opens with a demonstrative standing for the best one ("This is",
"That means"): the answer then spans both ("This is usually the cause of the anemia ..." +
"This is particularly the case when there are metastases in the area of the spine ...").

When every sentence of a passage is of a kind that cannot answer, the best of them is kept, so
a shown passage always has a bold line.

Measured on the 60 answerable seed questions with the base model (highlight holds the answer,
of the questions whose top 3 holds the evidence; `clinic-assistant eval ../shared/eval/dev/seeds_qa`):

    nearest sentence (before)                                   0.643
    + never a question, label, lead-in or echo                  0.651
    + 0.1 word overlap                                          0.698
    + 0.2 word overlap                                          0.721
    the same on today's ranking (46 questions found in the top 3) 0.739
    0.2 overlap weighed by IDF, the patient's own words         0.739
      + a neighbour within 0.05 bolded too / within 0.1         0.783 / 0.804
    0.5 IDF overlap + a neighbour within 0.05                   0.848
      (0.4 / 0.5 / 0.6 / 0.8 with a neighbour within 0.05: 0.826 / 0.848 / 0.848 / 0.848;
       within 0.1: 0.826 / 0.848 / 0.826 / 0.826; 1.0: 0.826 / 0.848)
    + "tumour", "anaemia" meet "tumor", "anemia" (index/lexical.py) 0.826: "anaemia" now
      weighs in "This is usually the cause of the anemia ...", beside the line that answers
    + the next sentence bolded too when it opens "This is ..." (this module)  0.848
    + framing words weigh nothing ("whether", "make", "like")   0.826, not kept: with fewer
      words weighed, one common word ("bone") gets the whole share and outweighs the cosine

Still missed: an answer in other words than the question's ("gone off his food" / "Lack of
appetite"), a verbless list label that names the topic ("• Forms of growth of a malignant
tumor." for "Does it make a difference whether a tumour grows on the surface ...?"), and a
condition answered by a condition ("What happens if there are too many tumours to remove?" /
"If the number of tumors gets out of hand, chemotherapy ..."), where the sentence beside it
shares the rarer word ("removal").

The sentence vectors were computed at build time (index/store.py), so this costs one small
matrix product per shown passage, a few regular expressions and the stems of its words (held
in memory by the lexical index after their first use). The selection stage (repeats and the
bold line of the shown passages, benchmarks/run.py's "selection") took 0.6 ms median on the seed
questions, 1.4 ms the first time their words were stemmed (a loaded machine, load average 9).

Entry point: `answering_sentence(query, vector, hit, retriever, message=...) -> (start, end) | None`.
"""

from __future__ import annotations

import re

import numpy as np

from assistant.index.lexical import LexicalIndex
from assistant.types import Hit

from .followup import NOISE_WORDS
from .retrieve import Retriever

# Weight of the share of the question's word weight a sentence holds (see above).
WORD_OVERLAP_WEIGHT = 0.5
# A neighbouring sentence scoring within this of the best is bolded with it (see above).
PAIR_MARGIN = 0.05

_QUESTION = re.compile(r"\?[\s\"'”’)]*$")
_LEAD_IN = re.compile(r":[\s\"'”’)]*$")
# A sentence opening with a demonstrative that stands for the sentence before it ("This is
# particularly the case when ...", "That is why ...") carries that sentence on.
_CONTINUES = re.compile(r"\s*(?:This|That|These|Such)\s+(?:is|are|was|were|means|explains|happens|applies)\b")


def cannot_answer(sentence: str, question_stems: set[str], lexical: LexicalIndex) -> bool:
    """A question, a label or lead-in, or an echo of the question (see the module docstring)."""
    text = sentence.strip().lstrip("•-–*· ").strip()
    if _QUESTION.search(text) or _LEAD_IN.search(text):
        return True
    words = lexical.stems(text)
    return bool(words) and words <= question_stems


def answering_sentence(query: str, vector: np.ndarray, hit: Hit, retriever: Retriever, *,
                       message: str | None = None) -> tuple[int, int] | None:
    """(start, end) in hit.chunk.text of the sentence (or two adjacent ones) that answers `query`
    best. `message`: the patient's own words when `query` is a follow-up rebuilt from them."""
    vectors, spans = retriever.sentences_with_spans(hit)
    if not spans:
        return hit.best_sentence
    lexical = retriever.index.lexical
    # The words that pick the sentence are the patient's own: a follow-up's carried subject
    # picked the passage, and every sentence of it shares that subject.
    weights = {stem: weight for word, (stem, weight) in lexical.term_weights(message or query).items()
               if len(word) > 1 and word not in NOISE_WORDS}
    question_stems = lexical.stems(query)
    sentences = [hit.chunk.text[start:end] for start, end in spans]
    total = sum(weights.values()) or 1.0
    overlap = np.array([sum(weights.get(stem, 0.0) for stem in lexical.stems(s)) for s in sentences]) / total
    scores = vectors @ vector + WORD_OVERLAP_WEIGHT * overlap
    allowed = np.array([not cannot_answer(s, question_stems, lexical) for s in sentences])
    if allowed.any():
        scores = np.where(allowed, scores, -np.inf)
    best = int(np.argmax(scores))
    neighbours = [i for i in (best - 1, best + 1)
                  if 0 <= i < len(spans) and allowed[i] and scores[i] >= scores[best] - PAIR_MARGIN]
    if not neighbours and best + 1 < len(spans) and allowed[best + 1] and _CONTINUES.match(sentences[best + 1]):
        neighbours = [best + 1]  # "This is particularly the case when ...": it goes on with the best one
    if neighbours:
        other = max(neighbours, key=lambda i: scores[i])
        return spans[min(best, other)][0], spans[max(best, other)][1]
    return spans[best]
