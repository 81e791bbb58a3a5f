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

What is carried forward is the earlier question's subject without who asked and when (and,
when it opens with a name of two words or more, that name alone: `_subject_phrase`): "My
husband has been told he has metastases in his brain." carries "metastases brain", not
"husband told metastases brain" (NOISE_WORDS: people, times, reporting verbs). A pronoun is
taken to point back when it follows a preposition ("paralysed from it") however much else the
message names, and is left alone when the message names its antecedent itself ("if someone is
paralysed, can they ...": "they" is that someone) or when it is a determiner before a noun
("those immune boosters"). "the first one" points back like "it".

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

# Who asks and when, and the verbs that report it: never the subject of a question. "My mum's
# scan yesterday showed ..." is about the scan's finding, not about mum or yesterday.
_PEOPLE = frozenset(
    """i me my mine we us our you your he him his she her someone somebody anyone person people patient
    patients mum mom mother dad father parent parents husband wife partner son daughter child children kid
    kids brother sister grandma grandmother grandpa grandfather granddad nan aunt uncle friend family
    relative doctor doctors oncologist oncologists nurse nurses gp consultant surgeon team""".split()
)
_TIMES = frozenset("yesterday today tonight tomorrow now recently lately week weeks month months year years ago "
                   "morning evening night last".split())
_REPORTING = frozenset("told tell tells said says say read heard hear suggested suggests suggest listed mentioned "
                       "explained asked wants want think thought worried wondering wonder show shows showed been "
                       "every several".split())
NOISE_WORDS = _PEOPLE | _TIMES | _REPORTING
_PERSONAL_PRONOUNS = frozenset("they them their".split())
_NAMED_ASPECTS = frozenset("therapy therapies treatment treatments test tests testing diagnosis".split())
# "Can it be used ...", "does it matter ...": "it" opening a question points back, unless the
# word after it makes it the empty "it" of "is it true that ...".
_AUXILIARIES = frozenset("can could does do did will would is was should may might".split())
_EMPTY_IT_AFTER = frozenset("true possible normal ok okay safe common likely worth better best bad wise necessary "
                            "too a an the".split())
_DEMONSTRATIVES = frozenset("this that these those".split())
_PREPOSITIONS = frozenset("from with of about for to by on in after before without against into like".split())

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


def _referring(tokens: list[re.Match]) -> tuple[list[re.Match], bool]:
    """The tokens of a message that point back to the earlier question, and whether one of them
    surely does: after a preposition ("paralysed from it"), or "it" after an auxiliary ("can it
    be used")."""
    words = [t.group().lower() for t in tokens]
    found, after_preposition = [], False
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else None
        if word == "one" and i > 0 and following is None:
            pass  # "what happens in the first one?"
        elif word not in REFERRING_WORDS:
            continue
        elif word in _DEMONSTRATIVES and following is not None and _is_subject_word(following):
            continue  # a determiner: "those immune boosters" names its noun
        elif word in _PERSONAL_PRONOUNS and any(_bare(w) in _PEOPLE for w in words[:i]):
            continue  # "if someone is paralysed, can they ...": the antecedent is in the message
        found.append(tokens[i])
        after_preposition |= i > 0 and words[i - 1] in _PREPOSITIONS
        after_preposition |= (word == "it" and i > 0 and words[i - 1] in _AUXILIARIES
                              and following is not None and following not in _EMPTY_IT_AFTER)
    return found, after_preposition


def _resolve(message: str, previous: str) -> str:
    tokens = list(_TOKEN.finditer(message))
    words = [t.group().lower() for t in tokens]
    own_subject = [w for w in words if _is_subject_word(w)]
    subject = _subject_phrase(previous)
    if not subject:
        return message

    referring, surely = _referring(tokens)
    if referring and (surely or len(own_subject) <= _MAX_OWN_SUBJECT_WORDS):
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


def _bare(word: str) -> str:
    """A word without its possessive: "mother's" -> "mother"."""
    return re.sub(r"['’]s$", "", word.lower())


def _is_subject_word(word: str) -> bool:
    return (word not in STOPWORDS and word not in ASPECT_WORDS and word not in REFERRING_WORDS
            and word not in _QUESTION_WORDS and _bare(word) not in NOISE_WORDS and not word.isdigit())


def _subject_runs(question: str) -> list[tuple[int, int]]:
    """(start, end) of each run of consecutive subject words: 'breast cancer', 'bone metastases'."""
    runs: list[tuple[int, int]] = []
    for token in _TOKEN.finditer(question):
        joined = runs and not question[runs[-1][1] : token.start()].strip()
        word = token.group().lower()
        # A treatment or test named by the word before it is a subject: "targeted therapy",
        # "genomic testing"; alone, "therapy" and "testing" only name an aspect.
        if not _is_subject_word(word) and not (joined and word in _NAMED_ASPECTS):
            continue
        if joined:
            runs[-1] = (runs[-1][0], token.end())
        else:
            runs.append((token.start(), token.end()))
    return runs


def _subject_phrase(question: str) -> str:
    """What a follow-up points back to. A subject named in two or more words first in the earlier
    question ("targeted therapy", "pathological fracture", "genomic testing") is the subject;
    what comes after it says something about it ("My oncologist suggested targeted therapy for
    my metastatic cancer" + "can it be used for every type of cancer?": "it" is the therapy, not
    "targeted therapy metastatic cancer"). A single first word ("metastases", "scan") is not
    enough of a name: then every subject word of the question is carried."""
    runs = _subject_runs(question)
    if runs and len(question[runs[0][0] : runs[0][1]].split()) >= 2:
        return question[runs[0][0] : runs[0][1]]
    return " ".join(question[s:e] for s, e in runs)


def _stem(word: str) -> str:
    """Singular and plural alike: 'bones' ~ 'bone', 'metastases' ~ 'metastasis'."""
    word = word.lower()
    for suffix, replacement in (("ses", "sis"), ("ies", "y"), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + replacement
    return word


def _alike(a: str, b: str) -> bool:
    """The same word, or two of one family: "bones"/"bone", "osteoclasts"/"osteoblasts" (a
    shared start of 5 letters or more)."""
    return _stem(a) == _stem(b) or (len(a) >= 6 and len(b) >= 6 and a[:5].lower() == b[:5].lower())


def _swap_in(previous: str, phrase: str, addition: str) -> str:
    new_words = _TOKEN.findall(phrase)
    for start, end in _subject_runs(previous):
        if any(_alike(a, b) for a in new_words for b in _TOKEN.findall(previous[start:end])):
            return previous[:start] + phrase + previous[end:]
    return f"{previous.rstrip().rstrip('?.! ')} and {addition}?"
