"""Measure the clinical safety check: the rule file (assistant/safety/rules.txt) alone, then the
three tiers of the rules and the learnt signal together (assistant/safety/urgency.py).

    python benchmarks/safety_eval.py            # the figures
    python benchmarks/safety_eval.py --show     # and every miss and false alarm, with the rules that fired
    python benchmarks/safety_eval.py --typos    # real words that would be read as a typo of a rule word
    python benchmarks/safety_eval.py --rules-only   # without loading the model

The tiers are measured with whatever model is configured (MODEL_PATH / MODEL_NAME): the learnt
weights are relearnt for it if they were stored for another, so re-run this after changing it.
Per category and in total, on (1) the check set ../shared/eval/dev/safety/messages.jsonl,
written by someone outside the team and NEVER trained or tuned on (--show never prints its
messages, so nobody copies their wording into the bank); (2) the team's held-out set
benchmarks/safety/heldout_examples.txt, written after the bank and thresholds were frozen;
(3) the rule file's own sets tests/data/safety/ (the thresholds were chosen on these); then the
share of the dev sets' questions (none urgent) given the card or the line, and the time the
learnt check adds to the message's encoding. Issue 13's targets: caught (card or line) >= 97%,
card on >= 90% of urgent messages, card on <= 3% and line on <= 10% of the others, no urgent
category below 80% caught.

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


# --- the three tiers (rules + learnt signal) -------------------------------------------------

CHECK_SET = DEV_EVAL / "safety" / "messages.jsonl"
HELDOUT = ROOT / "benchmarks" / "safety" / "heldout_examples.txt"


def check_set() -> list[tuple[bool, str, str, str]]:
    """(urgent, category, id, text) of the check set."""
    records = [json.loads(line) for line in CHECK_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["urgent"], r["category"], r["id"], r["text"]) for r in records]


def heldout_set() -> list[tuple[bool, str, str, str]]:
    from assistant.safety.learnt import read_examples

    return [(e.label == "urgent", e.category, e.id, e.text) for e in read_examples(HELDOUT)]


def rule_author_sets() -> list[tuple[bool, str, str, str]]:
    rows = []
    for prefix in ("", "heldout_"):
        rows += [(True, cat, f"{prefix}urgent", msg) for cat, msg in read_urgent(SETS / f"{prefix}urgent.txt")]
        for name in ("not_urgent", "personal_decision"):
            rows += [(False, name, prefix + name, msg) for msg in read_messages(SETS / f"{prefix}{name}.txt")]
    return rows


class Tiers:
    """The assistant's safety path without an index: rules, one encoding, the learnt verdict."""

    def __init__(self) -> None:
        from assistant.config import Settings
        from assistant.index.embed import load_embedder
        from assistant.safety.learnt import UrgencyModel

        settings = Settings.from_env()
        self.embedder = load_embedder(settings)
        self.model = UrgencyModel.load(self.embedder, settings.model_name)
        self.model_name = settings.model_name

    def __call__(self, text: str):
        from assistant.safety.urgency import combine

        vector, sentences = self.embedder.encode_with_sentences(text)
        return combine(assess_message(text), self.model.assess(vector, sentences))


def report_tiers(title: str, rows, tiers: Tiers, show: bool, quote: bool) -> None:
    results = [(urgent, category, rid, text, tiers(text)) for urgent, category, rid, text in rows]
    urgent = [r for r in results if r[0]]
    calm = [r for r in results if not r[0]]

    def line(label: str, group) -> str:
        n = len(group)
        card = sum(r[4].level == "urgent" for r in group)
        possible = sum(r[4].level == "possible" for r in group)
        return f"    {label:<28} {n:>4}  {percent(card + possible, n)}  card {percent(card, n)}  line {percent(possible, n)}"

    print(f"\n{title}")
    print(f"  {'':<28} {'n':>4}  caught (card or line)   card                 line")
    print(line("URGENT, all", urgent))
    for category in sorted({r[1] for r in urgent}):
        print(line(category, [r for r in urgent if r[1] == category]))
    by_rules = sum(r[4].reason is not None and r[4].reason.startswith("rule:") for r in urgent)
    print(f"    {'(card from the rules alone)':<28}       {percent(by_rules, len(urgent))}")
    print(line("NOT URGENT, all", calm))
    for category in sorted({r[1] for r in calm}):
        print(line(category, [r for r in calm if r[1] == category]))
    if show:
        for urgent_, category, rid, text, u in results:
            wrong = (urgent_ and u.level == "none") or (not urgent_ and u.level != "none")
            if wrong:
                shown = text if quote else "(text not shown: check set)"
                print(f"  {'MISSED' if urgent_ else u.level.upper():<8} {rid} [{category}] p={u.probability:.2f} "
                      f"{u.reason} {shown}")


def report_dev_questions_tiers(tiers: Tiers) -> None:
    questions = dev_questions(DEV_EVAL)
    levels = [tiers(text).level for _, text in questions]
    print(f"\nDev questions (queries.jsonl + out_of_scope.jsonl, none urgent), {len(questions)}")
    print(f"  card {percent(levels.count('urgent'), len(levels))}   line {percent(levels.count('possible'), len(levels))}")


def report_learnt_time(tiers: Tiers) -> None:
    """What the learnt check adds to the encoding the search needs anyway: the sentence vectors
    from the same pass (encode_with_sentences vs encode_query) and the verdict itself."""
    from assistant.safety.urgency import combine

    messages = [text for *_, text in heldout_set()] + [msg for _, msg in read_urgent(SETS / "urgent.txt")][:100]
    plain, with_sentences, verdict = [], [], []
    for _round in range(3):
        for text in messages:
            started = time.perf_counter()
            tiers.embedder.encode_query(text)
            plain.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            vector, sentences = tiers.embedder.encode_with_sentences(text)
            with_sentences.append((time.perf_counter() - started) * 1000)
            rules = assess_message(text)
            started = time.perf_counter()
            combine(rules, tiers.model.assess(vector, sentences))
            verdict.append((time.perf_counter() - started) * 1000)
    median = statistics.median
    print(f"\nLearnt check time ({len(messages)} messages x 3, one thread, load {Path('/proc/loadavg').read_text().split()[:3]})")
    print(f"  encode_query (the search's own encoding)     median {median(plain):.2f} ms")
    print(f"  encode_with_sentences (same pass + sentences) median {median(with_sentences):.2f} ms")
    print(f"  learnt verdict + tiers                       median {median(verdict):.3f} ms, "
          f"p99 {statistics.quantiles(verdict, n=100)[98]:.3f} ms")
    print(f"  added per message (median of differences)    "
          f"{median(w - p for w, p in zip(with_sentences, plain)) + median(verdict):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--show", action="store_true", help="list every miss and false alarm")
    parser.add_argument("--typos", action="store_true", help="list real words read as typos of rule words")
    parser.add_argument("--rules-only", action="store_true", help="the rule file alone, without the model")
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
    if args.rules_only:
        return
    tiers = Tiers()
    print(f"\n=== Three tiers: rules + learnt signal ({tiers.model_name}) ===")
    if CHECK_SET.exists():
        report_tiers(f"Check set ({CHECK_SET.relative_to(ROOT.parent)}; never trained or tuned on)",
                     check_set(), tiers, args.show, quote=False)
    report_tiers(f"Team held-out set ({HELDOUT.relative_to(ROOT)}; written after the bank was frozen)",
                 heldout_set(), tiers, args.show, quote=True)
    report_tiers("Rule file's own sets (tests/data/safety; the thresholds were chosen on these)",
                 rule_author_sets(), tiers, args.show, quote=True)
    report_dev_questions_tiers(tiers)
    report_learnt_time(tiers)


if __name__ == "__main__":
    main()
