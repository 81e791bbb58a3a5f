"""The clinical safety check: urgent messages found, questions left alone, decisions flagged.

No model and no index: the check is the rule file and assistant/safety/ alone. The message
sets are in tests/data/safety/: *.txt were used to write the rules, heldout_*.txt were written
after the rules were frozen (benchmarks/safety_eval.py prints the same figures).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant.safety.escalation import escalation_notices
from assistant.safety.rules import RulesError, SafetyRules, assess_message, load_rules
from assistant.safety.urgency import from_rules
from assistant.texts import EMERGENCY_DEFAULT, PERSONAL_DECISION
from tests.conftest import read_lines

SETS = Path(__file__).resolve().parent / "data" / "safety"
DEV_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev"

# The targets of issue 6.
MIN_RECALL = 0.95
MAX_FALSE_ALARMS = 0.02
MAX_FALSE_ALARMS_DEV_QUESTIONS = 0.01


def messages(name: str) -> list[str]:
    return read_lines(SETS / name)


def urgent_messages(name: str) -> list[tuple[str, str]]:
    """Lines of "<category> | <message>" -> (category, message)."""
    return [tuple(part.strip() for part in line.split(" | ", 1)) for line in messages(name)]


# The development sets ("") and the held-out ones ("heldout_").
SET_PREFIXES = pytest.mark.parametrize("prefix", ["", "heldout_"], ids=["development", "held-out"])


@SET_PREFIXES
def test_urgent_messages_are_found(prefix):
    urgent = urgent_messages(f"{prefix}urgent.txt")
    missed = [message for _, message in urgent if not assess_message(message).urgent]
    assert 1 - len(missed) / len(urgent) >= MIN_RECALL, missed


@SET_PREFIXES
def test_few_false_alarms_on_questions_and_decisions(prefix):
    calm = messages(f"{prefix}not_urgent.txt") + messages(f"{prefix}personal_decision.txt")
    alarms = [message for message in calm if assess_message(message).urgent]
    assert len(alarms) / len(calm) <= MAX_FALSE_ALARMS, alarms


def test_urgent_messages_name_their_situation():
    urgent = urgent_messages("urgent.txt")
    wrong = [(category, text) for category, text in urgent if assess_message(text).category != category]
    # The category only names the situation in the logs (the card depends on urgent and
    # self_harm): most, not all, must be right.
    assert len(wrong) / len(urgent) <= 0.05, wrong


@pytest.mark.skipif(not DEV_EVAL.is_dir(), reason="the shared dev sets are not next to this checkout")
def test_few_false_alarms_on_the_dev_sets_questions():
    paths = sorted(DEV_EVAL.glob("*/queries.jsonl")) + [DEV_EVAL / "out_of_scope.jsonl"]
    lines = [line for path in paths for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [json.loads(line)["text"] for line in lines]
    alarms = [question for question in questions if assess_message(question).urgent]
    assert len(questions) > 500
    assert len(alarms) / len(questions) <= MAX_FALSE_ALARMS_DEV_QUESTIONS, alarms


def test_feeling_it_now_is_urgent_asking_about_it_is_not():
    now = assess_message("I suddenly can't feel my legs")
    asked = assess_message("What are the symptoms of spinal cord compression?")
    assert now.urgent and now.category == "spinal_cord_compression"
    assert not asked.urgent and asked.category is None


@pytest.mark.parametrize(
    "message",
    [
        "Last year I had a fever during chemo, is that common?",  # past
        "What should I do if I get a fever during chemo?",  # hypothetical
        "I don't have a fever but I'm on chemo",  # negated
        "Can lung metastases cause coughing up blood?",  # asked about in general
        "The nurse told us to call if he gets back pain with numb legs",  # advice reported
        "I'm very confused about my treatment options",  # "confused" meaning puzzled
        "Mum wants to die at home, not in hospital",  # a wish about the place of death
        "I'm cooking dinner for my husband who is on chemo",  # "cooking" is not "choking"
        "I have fewer side effects with this chemo",  # "fewer" is not "fever"
    ],
)
def test_not_urgent(message):
    assert not assess_message(message).urgent


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("siezure just now, she has a brain tumour", "neurological"),
        ("breathlesness has got much worse suddenly", "breathing_bleeding"),
        ("fevr and chils after chemo yesterday", "neutropenic_fever"),
        ("MY HUSBNAD IS COUGHING UP BLOOD", "breathing_bleeding"),
        ("im on chemo n my temprature is 38.6", "neutropenic_fever"),
        ("i cant feel my legs properly and i wet myself", "spinal_cord_compression"),
    ],
)
def test_typos_and_text_speak_are_read(message, category):
    assessment = assess_message(message)
    assert assessment.urgent and assessment.category == category


def test_every_self_harm_message_sets_self_harm():
    sets = urgent_messages("urgent.txt") + urgent_messages("heldout_urgent.txt")
    self_harm = [message for category, message in sets if category == "self_harm"]
    assert len(self_harm) >= 20
    assert [message for message in self_harm if not assess_message(message).self_harm] == []


def test_self_harm_alongside_a_bodily_emergency_keeps_both():
    message = "I'm thinking of killing myself, the pain is unbearable, morphine isn't working"
    assessment = assess_message(message)
    assert assessment.self_harm and assessment.category == "self_harm"
    assert "uncontrolled_pain" in assessment.situations


def test_asking_for_a_way_to_die_is_urgent_however_worded():
    assert assess_message("How many paracetamol would kill you?").self_harm


def test_no_calm_message_sets_self_harm():
    calm = messages("not_urgent.txt") + messages("heldout_not_urgent.txt")
    assert [message for message in calm if assess_message(message).self_harm] == []


@pytest.mark.parametrize("prefix", ["", "heldout_"], ids=["development", "held-out"])
def test_personal_decisions_are_flagged_and_not_urgent(prefix):
    decisions = messages(f"{prefix}personal_decision.txt")
    assessments = [assess_message(message) for message in decisions]
    found = sum(a.personal_decision for a in assessments)
    assert found / len(decisions) >= 0.9
    assert not any(a.urgent for a in assessments)


def test_few_questions_are_taken_for_personal_decisions():
    calm = messages("not_urgent.txt") + messages("heldout_not_urgent.txt")
    flagged = [message for message in calm if assess_message(message).personal_decision]
    assert len(flagged) / len(calm) <= MAX_FALSE_ALARMS, flagged


def test_the_assessment_holds_no_message_text():
    # Logged as it is: only flags and the names of rules and situations, never the message.
    assessment = assess_message("My husband Gerald is coughing up blood right now")
    rules = load_rules()
    assert assessment.urgent
    assert set(assessment.rules) <= {rule.id for rule in rules.rules}
    assert set(assessment.situations) <= set(rules.situations)
    assert "gerald" not in repr(assessment).lower()


def test_escalation_notices_say_to_call_the_emergency_number_by_default():
    notices = escalation_notices(from_rules(assess_message("my dad is having a seizure")), SimpleNamespace())
    assert len(notices) == 1
    assert EMERGENCY_DEFAULT in notices[0]  # "call your local emergency number"


def test_escalation_notices_use_the_configured_numbers():
    settings = SimpleNamespace(urgent_phone="0123 456 789", emergency_number="999", crisis_line="116 123")
    urgent = escalation_notices(from_rules(assess_message("I'm on chemo and my temperature is 38.9")), settings)
    assert "0123 456 789" in urgent[0] and "999" in urgent[0]
    assert "116 123" not in urgent[0]  # the crisis line is for thoughts of self-harm
    crisis = escalation_notices(from_rules(assess_message("I don't want to live anymore")), settings)
    assert len(crisis) == 1 and "116 123" in crisis[0] and "999" in crisis[0]


def test_self_harm_without_a_crisis_line_still_gives_the_emergency_number():
    notices = escalation_notices(from_rules(assess_message("I want to end it all")), SimpleNamespace(crisis_line=None))
    assert EMERGENCY_DEFAULT in notices[0]


def test_personal_decision_notice_never_gives_a_dose():
    notices = escalation_notices(from_rules(assess_message("how many morphine tablets can I take")), SimpleNamespace())
    assert notices == (PERSONAL_DECISION,)
    assert not any(character.isdigit() for character in PERSONAL_DECISION)


def test_no_notices_for_an_ordinary_question():
    ordinary = assess_message("Where does breast cancer usually spread?")
    assert escalation_notices(from_rules(ordinary), SimpleNamespace()) == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[cues]\n    no\n", "must follow a list name"),
        ("[situation self_harm]\nrule self_harm.x: nowhere\n", "which no list defines"),
        ("[situation pain]\nwords:\n    agony\nrule pain.words: words\n", "[cues] must define"),
        ("[cues]\nsomething odd\n", "cannot read"),
        ("[situation self_harm]\nwords:\n    agony\n", "no rule uses the list words"),
    ],
)
def test_a_broken_rule_file_is_reported_with_what_to_fix(tmp_path, text, problem):
    path = tmp_path / "rules.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match=problem.replace("[", r"\[")):
        SafetyRules(path)


def test_a_clinician_can_add_a_situation(tmp_path):
    # The shipped file plus one new situation: the new words are found, with the same reading
    # of "happening now" as every other rule.
    shipped = load_rules().path.read_text(encoding="utf-8")
    extra = (
        "\n[situation allergic_reaction]\n"
        "reaction:\n"
        "    tongue .. swelling, throat .. closing\n"
        "rule allergy.reaction: reaction\n"
    )
    path = tmp_path / "rules.txt"
    path.write_text(shipped + extra, encoding="utf-8")
    rules = SafetyRules(path)
    reaction = assess_message("my tongue is swelling up after the infusion", rules)
    assert reaction.category == "allergic_reaction"
    assert not assess_message("can chemo cause tongue swelling?", rules).urgent
