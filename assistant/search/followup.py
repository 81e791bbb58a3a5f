"""A follow-up message + the conversation -> a question that stands on its own, without an LLM.

Patients continue a conversation the way people talk: "and prostate cancer?", "what symptoms
does it cause?", "which ones contain nitrogen?". Searched alone, those find nothing useful. We
rebuild the question from the previous user question with three rules, in this order:

1. A pronoun that points back ("it", "they", "these", "ones", ...) in a message that names
   at most two subjects of its own is replaced by the subject of the previous question:
   "Where does breast cancer usually spread?" + "Can it reach the brain?"
   -> "Can breast cancer reach the brain?"
2. A message that asks only about an aspect ("What are the symptoms?", "and treatment?") gets
   the previous subject: -> "What are the symptoms of breast cancer?"
3. "and X?" / "what about X?" with X a short phrase swaps X in for the part of the previous
   question that shares a word with it: "and prostate cancer?" -> "Where does prostate cancer
   usually spread?". When no word is shared, X is added: "Can cancer spread to the bones?" +
   "and the liver?" -> "Can cancer spread to the bones and the liver?"

Anything else is a new question and is searched as it is. Each user message is resolved against
the resolved one before it, so a chain of follow-ups keeps its subject. The query is shown to
the patient ("Searched for: ..."), who can correct it.

Entry point: `standalone_query(message, history) -> str`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.index.lexical import STOPWORDS

# Words that name what is asked about a subject, not the subject (MedQuAD's question types:
# information, causes, symptoms, tests, treatment, outlook, stages, risk, prevention, ...).
# "symptoms of breast cancer": "symptoms" is the aspect, "breast cancer" the subject.
ASPECT_WORDS = frozenset(
    """symptom symptoms sign signs cause causes caused causing treat treats treated treating treatment
    treatments therapy therapies cure cured cures help helps helpful work works option options spread
    spreads spreading go goes reach reaches usually often common commonly typically happen happens
    mean means meaning diagnose diagnosed diagnosis find found detect detected test tests testing
    prognosis outlook survival survive chance chances risk risks prevent prevention stage stages
    grade side effect effects long live life expectancy many much fast quickly first early late
    best good bad dangerous painful pain normal possible likely way ways kind kinds type types""".split()
)

# Words that point back to something named earlier in the conversation.
REFERRING_WORDS = frozenset("it its they them their this that these those ones".split())

# A message that starts like this continues the previous question.
_CONNECTIVE = re.compile(r"^\s*(?:and|or|but|also|so|what about|how about|what of|same for|then)\b[\s,]*", re.I)
_QUESTION_WORDS = frozenset("what how where when why which who whom whose can could does do did is are was "
                            "were will would should shall may might".split())
_DETERMINERS = re.compile(r"^(?:the|a|an|my|his|her|our|their)\s+", re.I)
_TOKEN = re.compile(r"\w+(?:['’]\w+)?")

# A phrase of at most this many words after "and ..." is a new subject, not a new question.
_MAX_PHRASE_WORDS = 5
# A message naming more subjects of its own than this stands alone even if it says "it"
# ("Is it true that chemo causes hair loss?" names chemo, hair, loss, true).
_MAX_OWN_SUBJECT_WORDS = 2
# Only the last few questions can carry a subject forward: "it" never means something asked
# ten questions ago, and a long conversation costs no more than a short one.
_TURNS_REMEMBERED = 5


def standalone_query(message: str, history: Sequence[dict] | None) -> str:
    """The query to search for `message`, given the earlier turns (`{"role", "content"}` dicts)."""
    questions = [str(turn["content"]).strip() for turn in history or ()
                 if isinstance(turn, dict) and turn.get("role") == "user" and str(turn.get("content") or "").strip()]
    previous = None
    for question in questions[-_TURNS_REMEMBERED:]:
        previous = question if previous is None else _resolve(question, previous)
    return message if previous is None else _resolve(message, previous)


def _resolve(message: str, previous: str) -> str:
    tokens = list(_TOKEN.finditer(message))
    words = [t.group().lower() for t in tokens]
    own_subject = [w for w in words if _is_subject_word(w)]
    subject = _subject_phrase(previous)
    if not subject:
        return message

    referring = [t for t in tokens if t.group().lower() in REFERRING_WORDS]
    if referring and len(own_subject) <= _MAX_OWN_SUBJECT_WORDS:
        # Rule 1: "Can it reach the brain?" -> "Can breast cancer reach the brain?"
        out, cursor = [], 0
        for token in referring:
            out.append(message[cursor : token.start()])
            out.append(subject)
            cursor = token.end()
        out.append(message[cursor:])
        return "".join(out)

    connective = _CONNECTIVE.match(message)
    rest = message[connective.end() :] if connective else message
    if not own_subject and any(w in ASPECT_WORDS for w in words):
        # Rule 2: "What are the symptoms?" -> "What are the symptoms of breast cancer?"
        return f"{rest.strip().rstrip('?.! ')} of {subject}?"

    phrase = _DETERMINERS.sub("", rest.strip().rstrip("?.! "))
    phrase_words = [w.lower() for w in _TOKEN.findall(phrase)]
    if connective and phrase_words and len(phrase_words) <= _MAX_PHRASE_WORDS and not (
        set(phrase_words) & _QUESTION_WORDS
    ):
        # Rule 3: "and prostate cancer?" -> "Where does prostate cancer usually spread?"
        return _swap_in(previous, phrase, rest.strip().rstrip("?.! "))
    return message


def _is_subject_word(word: str) -> bool:
    return (word not in STOPWORDS and word not in ASPECT_WORDS and word not in REFERRING_WORDS
            and word not in _QUESTION_WORDS and not word.isdigit())


def _subject_runs(question: str) -> list[tuple[int, int]]:
    """(start, end) of each run of consecutive subject words: 'breast cancer', 'bone metastases'."""
    runs: list[tuple[int, int]] = []
    for token in _TOKEN.finditer(question):
        if not _is_subject_word(token.group().lower()):
            continue
        joined = runs and not question[runs[-1][1] : token.start()].strip()
        if joined:
            runs[-1] = (runs[-1][0], token.end())
        else:
            runs.append((token.start(), token.end()))
    return runs


def _subject_phrase(question: str) -> str:
    return " ".join(question[s:e] for s, e in _subject_runs(question))


def _stem(word: str) -> str:
    """Singular and plural alike: 'bones' ~ 'bone', 'metastases' ~ 'metastasis'."""
    word = word.lower()
    for suffix, replacement in (("ses", "sis"), ("ies", "y"), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + replacement
    return word


def _swap_in(previous: str, phrase: str, addition: str) -> str:
    shared = {_stem(w) for w in _TOKEN.findall(phrase)}
    for start, end in _subject_runs(previous):
        if shared & {_stem(w) for w in _TOKEN.findall(previous[start:end])}:
            return previous[:start] + phrase + previous[end:]
    return f"{previous.rstrip().rstrip('?.! ')} and {addition}?"
