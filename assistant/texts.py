"""Fixed texts shown to patients. Each exists once, here, so every path shows the same words."""

DISCLAIMER = (
    "This assistant shows passages from the clinic's information documents. It is not medical "
    "advice and does not replace a conversation with your doctor or care team. If you think you "
    "have a medical emergency, call your local emergency number now."
)

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

EXAMPLE_QUESTIONS = (
    "Where does breast cancer usually spread?",
    "What are the symptoms of bone metastases?",
    "How are metastases found?",
    "Can metastases be treated?",
)
