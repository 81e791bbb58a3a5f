"""MedQuAD question-answer pairs -> clean training examples, split by topic.

The data: ../shared/train/medquad_health/pairs.jsonl, 14,763 pairs from MedQuAD (Ben Abacha &
Demner-Fushman, BMC Bioinformatics 2019, CC BY 4.0), every health topic but cancer.gov's pages
and the answers of the liveqa_medquad and mediqa_qa sets (kept apart so that the dev sets stay
honest).

Three shortcuts are taken out before anything learns from it, because a learner would take
them instead of learning what answers a question:

1. The echo: 3,983 GARD answers open by repeating the question ("What are the signs and
   symptoms of ABCD syndrome? ..."). A model trained on them learns "the passage that repeats
   my words", which is exactly the highlight fault we are fixing. An opening question is cut.
2. Templates: GARD's symptom answers share whole sentences ("The Human Phenotype Ontology
   provides the following list of signs and symptoms for X.", "You can use the MedlinePlus
   Medical Dictionary ..."), and 1,067 GHR "treatment" answers are a line "These resources
   address the diagnosis or management of X:" and a list of links. A sentence that occurs, with
   the topic's name replaced, in TEMPLATE_ANSWERS or more answers says nothing about the topic:
   it is cut; an answer left with fewer than MIN_WORDS words is dropped.
3. Duplicates: the same topic and question type from two sources (1,241 pairs) would sit in one
   batch as each other's negatives. Only the first answer per (topic, question type) is kept.

The split is by topic (`focus`), as the dev sets are split by cancer type: HELD_OUT_SHARE of the
topics, chosen by a hash of the name (no randomness), never reach training and measure what it
learnt on topics it did not see.

Entry point: `read_pairs(path) -> list[Pair]`, each with `.held_out`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT.parent / "shared" / "train" / "medquad_health" / "pairs.jsonl"

# A sentence found in this many answers (topic name replaced) is boilerplate; 10 is far above
# any real sentence's repeats (medical sentences recur in 2-3 answers of related topics) and far
# below the templates' (the HPO sentence is in ~2,300).
TEMPLATE_ANSWERS = 10
MIN_WORDS = 12
HELD_OUT_SHARE = 0.10

# GARD's symptom tables keep their header run into the first row once flattened to text.
_TABLE_HEADER = re.compile(r"Signs and Symptoms Approximate number of patients \(when available\)\s*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])|\s+-\s+|\n+")
_OPENING_QUESTION = re.compile(r"^[^?.!]{3,250}\?\s*")


@dataclass(frozen=True)
class Pair:
    id: str
    source: str
    focus: str  # the topic, used as the passage's title (the product embeds title + passage)
    qtype: str
    question: str
    answer: str  # echo and template sentences removed
    held_out: bool


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def _template_key(sentence: str, focus: str) -> str:
    return re.sub(r"\s+", " ", sentence.lower().replace(focus.lower(), "X")).strip()


def held_out(focus: str) -> bool:
    digest = hashlib.sha1(f"clinic-training-v1:{focus.lower()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 1000 < HELD_OUT_SHARE * 1000


def clean_answer(answer: str) -> str:
    """The answer without an opening question that repeats the one asked."""
    return _TABLE_HEADER.sub("", _OPENING_QUESTION.sub("", answer.strip(), count=1))


def read_pairs(path: Path = PAIRS) -> list[Pair]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    split = [(r, _sentences(clean_answer(r["answer"]))) for r in records]
    counts = Counter()
    for record, sentences in split:
        counts.update({_template_key(s, record["focus"]) for s in sentences})
    pairs, seen = [], set()
    for record, sentences in split:
        key = (record["focus"].lower(), record["qtype"])
        kept = [s for s in sentences if counts[_template_key(s, record["focus"])] < TEMPLATE_ANSWERS]
        answer = " ".join(kept)
        if key in seen or len(answer.split()) < MIN_WORDS:
            continue
        seen.add(key)
        pairs.append(Pair(id=record["id"], source=record["source"], focus=record["focus"], qtype=record["qtype"],
                          question=record["question"].strip(), answer=answer, held_out=held_out(record["focus"])))
    return pairs
