"""Fixed texts shown to patients. Each exists once, here, so every path shows the same words."""

DISCLAIMER = (
    "This assistant shows passages from the clinic's information documents. It is not medical "
    "advice and does not replace a conversation with your doctor or care team. If you think you "
    "have a medical emergency, call your local emergency number now."
)

# Above the chat in the widget, where a phone has no room for the whole text: one line, the
# whole DISCLAIMER one tap away (and at the end of every answer).
DISCLAIMER_SHORT = "Not medical advice. Emergency? Get help now."

NO_ANSWER = (
    "I could not find this in the clinic's documents, so I will not guess. I can show passages "
    "about cancer that has spread (metastases): what it is, where it spreads, symptoms, tests and "
    "treatments. For anything else, please ask your care team."
)

TOO_LONG = (
    "Your message is longer than I can search ({limit} characters at most). Please ask one "
    "question in a sentence or two."
)

EMPTY_QUESTION = "Please type a question, for example: Where does breast cancer usually spread?"

SERVICE_ERROR = (
    "Sorry, something went wrong on our side and I could not search the documents just now. "
    "Please try again in a moment, or ask your care team."
)

BUSY = (
    "Many people are asking questions right now, so I could not search the documents for yours. "
    "Please ask again in a few seconds."
)

EXAMPLE_QUESTIONS = (
    "Where does breast cancer usually spread?",
    "What are the symptoms of bone metastases?",
    "How are metastases found?",
    "Can metastases be treated?",
)

# The escalation card (assistant/safety/escalation.py decides when). The emergency wording never depends on the rule that
# fired: one card, so no message can get a weaker version of it.

URGENT_CARD = (
    "What you describe may need urgent medical help. Please do not wait for an answer here: "
    "{action}."
)
SELF_HARM_CARD = (
    "It sounds like you, or someone you care for, may be thinking about suicide or harming "
    "themselves. You do not have to face this alone. Please talk to someone now: {action}."
)
# The "possibly urgent" line: a message the learnt signal could not rule out as an emergency.
# One line at the top, then the passages, so a borderline case costs a line, not a miss.
POSSIBLE_LINE = "If this is happening now, {action}."
POSSIBLE_SELF_HARM_LINE = (
    "If you, or someone you care for, are thinking of suicide or self-harm now, {action}."
)
PERSONAL_DECISION = (
    "Decisions about your own treatment and doses belong with your care team. Please ask them "
    "before you start, stop or change anything; this assistant cannot advise on your treatment "
    "or doses."
)
EMERGENCY_DEFAULT = "call your local emergency number"
EMERGENCY_WITH_NUMBER = "call the emergency number {number}"
CLINIC_OR_EMERGENCY = "call the clinic's urgent line on {phone} now, or {emergency} if it is life-threatening"
EMERGENCY_NOW = "{emergency} now"
CRISIS_OR_EMERGENCY = "call {crisis_line}, or {emergency} if someone is in immediate danger"
EMERGENCY_OR_CLINIC = "{emergency} if someone is in immediate danger, or the clinic's urgent line on {phone}"
EMERGENCY_OR_TEAM = "{emergency} if someone is in immediate danger, or tell your care team today"

TOO_MANY_QUESTIONS = (
    "You have asked many questions in a short time. Please wait {seconds} seconds, then ask again."
)
