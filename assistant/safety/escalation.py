"""A safety assessment -> the fixed texts shown before any passage: the urgent card, the crisis
card, the personal-decision line.

Entry point: `escalation_notices(assessment, settings) -> tuple[str, ...]`. The wording lives in
texts.py; this module only chooses which texts and which numbers go into them.
"""

from __future__ import annotations

from assistant import texts

from .rules import SELF_HARM, SafetyAssessment


def escalation_notices(assessment: SafetyAssessment, settings) -> tuple[str, ...]:
    """The fixed texts to show before any passage, first to last.

    `settings` needs `emergency_number`, `urgent_phone` and `crisis_line` (each may be None or
    absent); the emergency wording is always there, with or without a number.
    """
    emergency_number = getattr(settings, "emergency_number", None)
    urgent_phone = getattr(settings, "urgent_phone", None)
    crisis_line = getattr(settings, "crisis_line", None)
    emergency = (
        texts.EMERGENCY_WITH_NUMBER.format(number=emergency_number) if emergency_number else texts.EMERGENCY_DEFAULT
    )
    notices: list[str] = []
    if assessment.self_harm:
        if crisis_line:
            action = texts.CRISIS_OR_EMERGENCY.format(crisis_line=crisis_line, emergency=emergency)
        elif urgent_phone:
            action = texts.EMERGENCY_OR_CLINIC.format(emergency=emergency, phone=urgent_phone)
        else:
            action = texts.EMERGENCY_OR_TEAM.format(emergency=emergency)
        notices.append(texts.SELF_HARM_CARD.format(action=action))
    if any(situation != SELF_HARM for situation in assessment.situations):  # a bodily emergency
        action = (
            texts.CLINIC_OR_EMERGENCY.format(phone=urgent_phone, emergency=emergency)
            if urgent_phone
            else texts.EMERGENCY_NOW.format(emergency=emergency)
        )
        notices.append(texts.URGENT_CARD.format(action=action))
    if assessment.personal_decision:
        notices.append(texts.PERSONAL_DECISION)
    return tuple(notices)
