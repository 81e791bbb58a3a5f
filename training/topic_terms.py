"""MedQuAD's topic names -> the words that name a health topic (assistant/search/topic_terms.txt).

    .venv/bin/python -m training.topic_terms        # about 10 s; no randomness, same file each run

A word of a topic name (`focus`, 4,922 topics) is listed when the topics it names are at least
TOPIC_SHARE of the topics whose question or answer uses the word at all: a disease's name is
mostly used on the pages about it ("leukemia": 20 of 96 topics, "mole" 3 of 7), an everyday
word that happens to be in a name is used everywhere ("matter", of "white matter disease": 2 of
108; "pick", of "Pick disease": 3 of 23; "adult": 15 of 635). Digits and words of one or two
letters are left out. Words are listed in `coverage.term_form` (lower case, American
spelling, no plural "s"), as the assistant looks them up.

TOPIC_SHARE = 0.15 is the round value between the highest everyday word met in the seed and dev
questions ("pick", 0.13) and the lowest topic the seed questions name ("leukemia", 0.21).
MedQuAD: Ben Abacha & Demner-Fushman, BMC Bioinformatics 2019, CC BY 4.0 (training/README.md).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from assistant.search.coverage import TOPIC_TERMS, term_form

from .medquad import PAIRS

TOPIC_SHARE = 0.15
_WORD = re.compile(r"[^\W_]+")


def topic_words(pairs_path: Path) -> list[str]:
    used_by: dict[str, set[str]] = defaultdict(set)  # word -> the topics whose text uses it
    with pairs_path.open(encoding="utf-8") as handle:
        for line in handle:
            pair = json.loads(line)
            for word in _WORD.findall(f"{pair['question']} {pair['answer']}"):
                used_by[term_form(word)].add(pair["focus"])
    named = Counter(form for focus in {topic for topics in used_by.values() for topic in topics}
                    for form in {term_form(w) for w in _WORD.findall(focus)})
    return sorted(form for form, topics in named.items()
                  if len(form) > 2 and not form.isdigit() and topics / max(len(used_by[form]), 1) >= TOPIC_SHARE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--out", type=Path, default=TOPIC_TERMS)
    args = parser.parse_args(argv)
    words = topic_words(args.pairs)
    header = ("# Words that name a health topic, from MedQuAD's topic names (CC BY 4.0, Ben Abacha &\n"
              "# Demner-Fushman 2019). Written by: python -m training.topic_terms (see its docstring).\n")
    args.out.write_text(header + "\n".join(words) + "\n", encoding="utf-8")
    print(f"{len(words)} topic words -> {args.out}")


if __name__ == "__main__":
    main()
