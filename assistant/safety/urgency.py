"""The rule file and the learnt signal -> one of three tiers: urgent, possibly urgent, or none.

    rules fire (rules.txt)                      -> "urgent", reason "rule:<id>"
    learnt probability >= URGENT_AT              -> "urgent", reason "example:<id>"
    learnt probability >= POSSIBLE_AT            -> "possible", reason "example:<id>"
    otherwise                                    -> "none"

The rule file stays the first line: what a clinician wrote always fires, and its reading of
"asked about, past, hypothetical, negated" is not overruled by the learnt signal. The learnt
signal adds what the rules never saw: confidently (the card) or as a borderline case, which
costs one line at the top of the answer ("If this is happening now, call ...") instead of a
missed emergency.

The two thresholds were chosen on the rule file's own sets (tests/data/safety/, written by the
rules' author, not by the bank's): there the learnt signal alone found 97% of the urgent
messages at 0.3 (9% of the calm ones), and 77% at 0.9 (0.6% of the calm ones). They were not
tuned on the check set (shared/eval/dev/safety), which only measures them.

Entry point: `combine(rules_assessment, learnt_verdict) -> Urgency`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .learnt import LearntVerdict
from .rules import SELF_HARM, SafetyAssessment

URGENT_AT = 0.9
POSSIBLE_AT = 0.3
# Learnt categories whose card (or line) is the crisis one, with the crisis line.
SELF_HARM_CATEGORIES = frozenset({"suicidal_self_harm", "overdose_deliberate"})
LEVELS = ("urgent", "possible", "none")


@dataclass(frozen=True)
class Urgency:
    """The tier of one message and what decided it. Holds no message text, so it can be logged."""

    level: str  # "urgent" | "possible" | "none"
    reason: str | None  # "rule:scc.legs_loss" or "example:scc-014"; None when "none"
    self_harm: bool  # thoughts of suicide or self-harm: the crisis card (or line)
    bodily: bool  # a bodily emergency: the urgent card (or line)
    personal_decision: bool  # a question about one's own treatment or doses
    probability: float = 0.0  # the learnt signal's, for the logs

    @property
    def urgent(self) -> bool:
        return self.level == "urgent"


def from_rules(assessment: SafetyAssessment) -> Urgency:
    """The tier from the rule file alone (when no model is loaded)."""
    return combine(assessment, None)


def combine(assessment: SafetyAssessment, verdict: LearntVerdict | None) -> Urgency:
    decision = assessment.personal_decision
    if assessment.urgent:
        return Urgency("urgent", f"rule:{assessment.rules[0]}" if assessment.rules else None,
                       self_harm=assessment.self_harm,
                       bodily=any(s != SELF_HARM for s in assessment.situations),
                       personal_decision=decision, probability=verdict.probability if verdict else 0.0)
    if verdict is None or verdict.probability < POSSIBLE_AT:
        return Urgency("none", None, False, False, decision, verdict.probability if verdict else 0.0)
    self_harm = verdict.category in SELF_HARM_CATEGORIES
    level = "urgent" if verdict.probability >= URGENT_AT else "possible"
    reason = f"example:{verdict.nearest}" if verdict.nearest else None
    # An overdose taken on purpose needs the crisis line and medical help both.
    bodily = verdict.category != "suicidal_self_harm"
    return Urgency(level, reason, self_harm=self_harm, bodily=bodily, personal_decision=decision,
                   probability=verdict.probability)
