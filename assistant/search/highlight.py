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
share of the question's content words it contains: the line that answers "Will a normal X-ray
show ...?" names the X-ray, and "Is there a blood test ...?" the blood test, while the general
sentences around them are as near in meaning. When every sentence of a passage is of a kind
that cannot answer, the best of them is kept, so a shown passage always has a bold line.

Measured on the 60 answerable seed questions with the base model (highlight holds the answer,
of the questions whose top 3 holds the evidence; `clinic-assistant eval ../shared/eval/dev/seeds_qa`):

    nearest sentence (before)                                   0.643
    + never a question, label, lead-in or echo                  0.651
    + 0.1 word overlap                                          0.698
    + 0.2 word overlap (this module; 0.3 gives the same)        0.721

The sentence vectors were computed at build time (index/store.py), so this costs one small
matrix product per shown passage and a few regular expressions: well under a millisecond.

Entry point: `answering_sentence(query, vector, hit, retriever) -> (start, end) | None`.
"""

from __future__ import annotations

import re

import numpy as np

from assistant.index.lexical import query_terms
from assistant.types import Hit

from .retrieve import Retriever

# Weight of the share of the question's content words a sentence holds (see above).
WORD_OVERLAP_WEIGHT = 0.2

_QUESTION = re.compile(r"\?[\s\"'”’)]*$")
_LEAD_IN = re.compile(r":[\s\"'”’)]*$")


def _stem(word: str) -> str:
    """Crude, but enough to see that "metastases" and "metastasis", "bones" and "bone" repeat."""
    for suffix in ("es", "is", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 3:
            return word[: -len(suffix)]
    return word


def _content(text: str) -> set[str]:
    return {_stem(word) for word in query_terms(text)}


def cannot_answer(sentence: str, question_words: set[str]) -> bool:
    """A question, a label or lead-in, or an echo of the question (see the module docstring)."""
    text = sentence.strip().lstrip("•-–*· ").strip()
    if _QUESTION.search(text) or _LEAD_IN.search(text):
        return True
    words = _content(text)
    return bool(words) and words <= question_words


def answering_sentence(query: str, vector: np.ndarray, hit: Hit, retriever: Retriever) -> tuple[int, int] | None:
    """(start, end) in hit.chunk.text of the sentence that answers `query` best."""
    vectors, spans = retriever.sentences_with_spans(hit)
    if not spans:
        return hit.best_sentence
    question_words = _content(query)
    sentences = [hit.chunk.text[start:end] for start, end in spans]
    overlap = np.array([len(_content(s) & question_words) for s in sentences]) / max(len(question_words), 1)
    scores = vectors @ vector + WORD_OVERLAP_WEIGHT * overlap
    allowed = np.array([not cannot_answer(s, question_words) for s in sentences])
    if allowed.any():
        scores = np.where(allowed, scores, -np.inf)
    return spans[int(np.argmax(scores))]
