"""Measure the clinical safety check (assistant/safety/rules.py + assistant/safety/rules.txt).

    python benchmarks/safety_eval.py            # the figures
    python benchmarks/safety_eval.py --show     # and every miss and false alarm, with the rules that fired
    python benchmarks/safety_eval.py --typos    # real words that would be read as a typo of a rule word

Prints, for the development messages (tests/data/safety/*.txt, written while the rules were
tuned) and the held-out messages (heldout_*.txt, written after the rules were frozen) apart:
urgent recall, false alarms on non-urgent messages, personal-decision detection; then false
alarms over every question of ../shared/eval/dev (none is urgent), and the time per message.
Targets (issue 6): recall >= 95%, false alarms <= 2% on our sets and <= 1% on the dev questions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.safety.rules import SafetyRules, assess_message, load_rules  # noqa: E402

SETS = ROOT / "tests" / "data" / "safety"
DEV_EVAL = ROOT.parent / "shared" / "eval" / "dev"


def read_messages(path: Path) -> list[str]:
    """One message per line; blank lines and lines starting with # are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def read_urgent(path: Path) -> list[tuple[str, str]]:
    """Lines "<category> | <message>" -> (category, message)."""
    return [tuple(part.strip() for part in line.split(" | ", 1)) for line in read_messages(path)]


def dev_questions(folder: Path) -> list[tuple[str, str]]:
    """(id, text) of every question in the dev sets' queries.jsonl and out_of_scope.jsonl."""
    questions = []
    for path in sorted(folder.glob("*/queries.jsonl")) + [folder / "out_of_scope.jsonl"]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                questions.append((f"{path.parent.name}/{record['id']}", record["text"]))
    return questions


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}% ({part}/{whole})" if whole else "  n/a"


def report_set(title: str, prefix: str, show: bool) -> None:
    urgent = [(cat, msg, assess_message(msg)) for cat, msg in read_urgent(SETS / f"{prefix}urgent.txt")]
    calm = [(msg, assess_message(msg)) for msg in read_messages(SETS / f"{prefix}not_urgent.txt")]
    decisions = [(msg, assess_message(msg)) for msg in read_messages(SETS / f"{prefix}personal_decision.txt")]
    missed = [(cat, msg) for cat, msg, a in urgent if not a.urgent]
    wrong_category = [(cat, msg, a.category) for cat, msg, a in urgent if a.urgent and a.category != cat]
    alarms = [(msg, a) for msg, a in calm + decisions if a.urgent]
    no_decision = [msg for msg, a in decisions if not a.personal_decision]
    false_decision = [(msg, a) for msg, a in calm if a.personal_decision]

    caught = len(urgent) - len(missed)
    print(f"\n{title}")
    print(f"  urgent recall                  {percent(caught, len(urgent))}")
    for category in sorted({cat for cat, _, _ in urgent}):
        total = sum(cat == category for cat, _, _ in urgent)
        print(f"    {category:<28} {percent(total - sum(cat == category for cat, _ in missed), total)}")
    print(f"  category right when urgent     {percent(caught - len(wrong_category), caught)}")
    print(f"  false alarms (non-urgent)      {percent(len(alarms), len(calm) + len(decisions))}")
    print(f"  personal decision found        {percent(len(decisions) - len(no_decision), len(decisions))}")
    print(f"  personal decision, wrongly     {percent(len(false_decision), len(calm))}")
    if show:
        for category, message in missed:
            print(f"  MISSED   [{category}] {message}")
        for category, message, got in wrong_category:
            print(f"  CATEGORY [{category} -> {got}] {message}")
        for message, assessment in alarms:
            print(f"  ALARM    {assessment.rules} {message}")
        for message in no_decision:
            print(f"  NO-DECISION {message}")
        for message, assessment in false_decision:
            print(f"  DECISION {assessment.rules} {message}")


def report_dev(show: bool) -> None:
    questions = dev_questions(DEV_EVAL)
    alarms = [(qid, text, a) for qid, text in questions if (a := assess_message(text)).urgent]
    where = DEV_EVAL.relative_to(ROOT.parent)
    print(f"\nDev questions ({where}: queries.jsonl + out_of_scope.jsonl, none urgent)")
    print(f"  false alarms                   {percent(len(alarms), len(questions))}")
    if show:
        for qid, text, assessment in alarms:
            print(f"  ALARM    {qid} {assessment.rules} {text[:300]}")


def report_time() -> None:
    started = time.perf_counter()
    rules = SafetyRules(load_rules().path)
    load_ms = (time.perf_counter() - started) * 1000
    messages = (
        [msg for _, msg in read_urgent(SETS / "urgent.txt")]
        + read_messages(SETS / "not_urgent.txt")
        + [text for _, text in dev_questions(DEV_EVAL)]
    )
    first = []
    for message in messages:  # first sight of every word: nothing cached yet
        started = time.perf_counter()
        rules.assess(message)
        first.append((time.perf_counter() - started) * 1000)
    again = []
    for message in messages:  # a running server has seen most words before
        started = time.perf_counter()
        rules.assess(message)
        again.append((time.perf_counter() - started) * 1000)
    print(f"\nTime ({len(messages)} messages, one thread, no model)")
    print(f"  reading the rule file          {load_ms:.1f} ms, once per process")
    for label, times in (("words unseen", first), ("words seen", again)):
        p99 = statistics.quantiles(times, n=100)[98]
        mean = statistics.mean(times)
        print(f"  per message, {label:<17} mean {mean:.3f} ms, p99 {p99:.2f} ms, max {max(times):.2f} ms")


def report_typos() -> None:
    """Real English words one letter from a rule word, so read as its typo: for a reviewer to
    scan after adding words, and to copy the dangerous ones into "not typos" ("cooking" must
    not read as "choking"). The word list is the vocabulary of the installed MiniLM model."""
    from assistant.config import Settings

    matcher = load_rules().matcher
    vocabulary = (Settings().resolved_model_path / "vocab.txt").read_text(encoding="utf-8").split()
    # Only words that are a whole phrase by themselves: inside a longer phrase the other words
    # keep a look-alike from matching ("coughing up blond" is not written).
    alone = {word for phrase in matcher.phrases if len(phrase.elements) == 1 for word in phrase.elements[0]}
    rule_words = {word_id: word for word, word_id in matcher.exact.items() if word_id in alone}
    print("\nReal words read as a typo of a one-word phrase (word -> rule word):")
    for word in vocabulary:
        if not (word.isalpha() and word.islower() and len(word) >= 4):
            continue
        if word in matcher.exact or word in matcher.not_typos:
            continue
        typo_ids = matcher.word_ids(word) & matcher.typo_words.keys()
        typo_of = [rule_words[i] for i in typo_ids if i in rule_words]
        if typo_of:
            print(f"  {word} -> {', '.join(typo_of)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--show", action="store_true", help="list every miss and false alarm")
    parser.add_argument("--typos", action="store_true", help="list real words read as typos of rule words")
    args = parser.parse_args()
    if args.typos:
        report_typos()
        return
    report_set("Development set (tests/data/safety/*.txt; the rules were tuned on it)", "", args.show)
    if (SETS / "heldout_urgent.txt").exists():
        title = "Held-out set (tests/data/safety/heldout_*.txt; written after the rules were frozen)"
        report_set(title, "heldout_", args.show)
    report_dev(args.show)
    report_time()


if __name__ == "__main__":
    main()
