"""An urgency tier -> the fixed texts shown before any passage: the urgent card, the crisis
card, the "possibly urgent" line, the personal-decision line.

Entry point: `escalation_notices(urgency, settings) -> tuple[str, ...]`. The wording lives in
texts.py; this module only chooses which texts and which numbers go into them.
"""

from __future__ import annotations

from assistant import texts

from .urgency import Urgency


def escalation_notices(urgency: Urgency, settings) -> tuple[str, ...]:
    """The fixed texts to show before any passage, first to last.

    `urgency` is the tier (urgency.combine; urgency.from_rules for the rule file alone). `settings`
    needs `emergency_number`, `urgent_phone` and `crisis_line` (each may be None or absent); the
    emergency wording is always there, with or without a number.
    """
    emergency_number = getattr(settings, "emergency_number", None)
    urgent_phone = getattr(settings, "urgent_phone", None)
    crisis_line = getattr(settings, "crisis_line", None)
    emergency = (
        texts.EMERGENCY_WITH_NUMBER.format(number=emergency_number) if emergency_number else texts.EMERGENCY_DEFAULT
    )
    if urgency.self_harm:
        if crisis_line:
            crisis = texts.CRISIS_OR_EMERGENCY.format(crisis_line=crisis_line, emergency=emergency)
        elif urgent_phone:
            crisis = texts.EMERGENCY_OR_CLINIC.format(emergency=emergency, phone=urgent_phone)
        else:
            crisis = texts.EMERGENCY_OR_TEAM.format(emergency=emergency)
    bodily = (
        texts.CLINIC_OR_EMERGENCY.format(phone=urgent_phone, emergency=emergency)
        if urgent_phone
        else texts.EMERGENCY_NOW.format(emergency=emergency)
    )
    notices: list[str] = []
    if urgency.level == "urgent":
        if urgency.self_harm:
            notices.append(texts.SELF_HARM_CARD.format(action=crisis))
        if urgency.bodily:
            notices.append(texts.URGENT_CARD.format(action=bodily))
    elif urgency.level == "possible":
        # One line, not the card: a borderline case the learnt signal could not rule out.
        if urgency.self_harm:
            notices.append(texts.POSSIBLE_SELF_HARM_LINE.format(action=crisis))
        if urgency.bodily:
            notices.append(texts.POSSIBLE_LINE.format(action=bodily))
    if urgency.personal_decision:
        notices.append(texts.PERSONAL_DECISION)
    return tuple(notices)
