"""Measure the topic check (assistant/search/scope.py): which questions it places on the everyday side.

    python benchmarks/scope_eval.py           # the figures
    python benchmarks/scope_eval.py --show    # and every question on the wrong side, with its margin

For each set of questions, the share the check calls everyday, by three rules: the logistic
regression the assistant uses, and two nearest-example rules it was chosen over (nearest
everyday example minus nearest health example; the same with the mean of the 3 nearest). Sets:
every question of ../shared/eval/dev (in scope: all are health questions) and its
out_of_scope.jsonl; the seed questions (benchmarks/seed_questions.txt); the team's sets in
benchmarks/scope/, tuning_* written while the rule was chosen, heldout_* after the examples were
fixed. Targets (issue 3): off-topic abstained >= 95%, in-scope wrongly abstained <= 5%;
`clinic-assistant eval` measures the same end to end, with the passage score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from safety_eval import read_messages  # noqa: E402  (this script's folder is on sys.path)

from assistant.config import Settings  # noqa: E402
from assistant.index.embed import load_embedder  # noqa: E402
from assistant.search.scope import TopicCheck, read_examples  # noqa: E402

DEV_EVAL = ROOT.parent / "shared" / "eval" / "dev"
TEAM_SETS = ROOT / "benchmarks" / "scope"


def read_jsonl_texts(paths: list[Path]) -> list[str]:
    texts = [json.loads(line)["text"] for path in paths for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return list(dict.fromkeys(texts))  # the cancer.gov sets share their questions


def question_sets() -> list[tuple[str, list[str], bool]]:
    """(name, questions, off topic?)"""
    sets = []
    if DEV_EVAL.is_dir():
        sets.append(("dev sets' questions", read_jsonl_texts(sorted(DEV_EVAL.glob("*/queries.jsonl"))), False))
        sets.append(("dev out_of_scope.jsonl", read_jsonl_texts([DEV_EVAL / "out_of_scope.jsonl"]), True))
    else:
        print(f"({DEV_EVAL} not found: the dev sets are skipped)")
    sets.append(("seed questions", read_messages(ROOT / "benchmarks" / "seed_questions.txt"), False))
    for stage in ("tuning", "heldout"):
        sets.append((f"{stage}_in_scope", read_messages(TEAM_SETS / f"{stage}_in_scope.txt"), False))
        sets.append((f"{stage}_off_topic", read_messages(TEAM_SETS / f"{stage}_off_topic.txt"), True))
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="list every question on the wrong side")
    args = parser.parse_args()

    settings = Settings.from_env()
    embedder = load_embedder(settings, threads=settings.build_threads)
    check = TopicCheck.load(embedder, settings.model_name)
    examples = read_examples()
    health, everyday = embedder.encode(examples["health"]), embedder.encode(examples["everyday"])

    def nearest(vectors: np.ndarray, n: int) -> np.ndarray:
        top = lambda sims: np.sort(sims, axis=1)[:, -n:].mean(axis=1)  # noqa: E731
        return top(vectors @ everyday.T) - top(vectors @ health.T)

    rules = {"regression": check.everyday_margin,
             "nearest": lambda v: nearest(v, 1), "3 nearest": lambda v: nearest(v, 3)}
    print(f"{len(examples['health'])} health and {len(examples['everyday'])} everyday examples; "
          "share of each set called everyday:\n")
    print(f"{'set':26s} {'questions':>9s}  " + "  ".join(f"{name:>14s}" for name in rules))
    for name, questions, off_topic in question_sets():
        vectors = embedder.encode(questions)
        margins = {rule: fn(vectors) for rule, fn in rules.items()}
        shares = "  ".join(f"{(m > 0).mean():>8.3f} ({(m > 0).sum():>3d})" for m in margins.values())
        print(f"{name:26s} {len(questions):>9d}  {shares}   want {'1' if off_topic else '0'}")
        if args.show:
            wrong = [(m, q) for m, q in zip(margins["regression"], questions) if (m > 0) != off_topic]
            for margin, question in sorted(wrong):
                print(f"      {margin:+.2f}  {question[:100]}")


if __name__ == "__main__":
    main()
