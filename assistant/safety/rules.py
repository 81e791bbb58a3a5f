"""The clinician-readable rule file: does a message describe a possible emergency happening now?

Entry point: `assess_message(text) -> SafetyAssessment`, run before every search
(escalation.py then turns the assessment into the fixed texts shown before any passage).

The knowledge lives in `rules.txt` beside this module, a plain-text file that clinicians read, review and
extend (its header explains the format). This module only reads that file and applies it: it
finds the file's phrases in a message (whole words, with one-letter typos allowed in longer
words), then decides from the cue words around each phrase whether it is happening now to the
writer or someone they care for ("I suddenly can't feel my legs") or asked about ("What are the
symptoms of spinal cord compression?"). No model is involved, so every decision can be traced
to a line of the file, and a message takes well under a millisecond.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

__all__ = [
    "SafetyAssessment",
    "RulesError",
    "SafetyRules",
    "assess_message",
    "load_rules",
]

# The situation whose messages also get the crisis line.
SELF_HARM = "self_harm"


DEFAULT_RULES_PATH = Path(str(files("assistant.safety") / "rules.txt"))

# The [cues] lists every rule file must define; their roles are described in its header.
# These decide how a phrase is read ("happening now" or not) ...
CUE_KINDS = ("hypothetical", "past_time", "present_time", "present", "personal", "asking", "past_verb")
# ... and these are exceptions and negations.
CUE_LISTS = ("negation", "not_negation", "not_hypothetical", *CUE_KINDS)
# How many words a ".." gap may skip, how far before a phrase a negation still applies, and how
# far apart the two phrases of "a & b" may be (same sentence).
MAX_GAP = 3
NEGATION_REACH = 3
NEAR = 8
# Shorter words are not matched with typos: too many real words lie one letter apart.
MIN_TYPO_LENGTH = 5


class RulesError(ValueError):
    """The rule file cannot be used; the message names the line and what to fix."""


@dataclass(frozen=True)
class SafetyAssessment:
    """What the safety check found in one message. Holds no message text, so it can be logged."""

    urgent: bool  # a possible emergency happening now: show the escalation card first
    category: str | None  # the first situation found (file order), e.g. "self_harm"; None if none
    self_harm: bool  # thoughts of suicide or self-harm: the crisis card is shown
    personal_decision: bool  # a question about one's own treatment or doses
    situations: tuple[str, ...] = ()  # every situation found, in the rule file's order
    rules: tuple[str, ...] = ()  # ids of the rules that fired, for the logs


# ---------------------------------------------------------------------------------------------
# Reading text: the same for messages and for the rule file's phrases.

# Numbers keep their decimals (38.5); words keep inner apostrophes ("i'll" is not "ill");
# . ! ? ; and line breaks end a sentence; , : ( ) and dashes end a clause.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)?|[a-z]+(?:'[a-z]+)*|[.!?;\n]+|[,:()\u2013\u2014]| - ")
_SENTENCE_END = re.compile(r"[.!?;\n]")
_CLAUSE_WORDS = frozenset({"but", "although", "though"})


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[\u2019\u2018`\u00b4]", "'", text).replace("&", " and ")


@dataclass(frozen=True)
class _Text:
    words: tuple[str, ...]
    sentence: tuple[int, ...]  # sentence number of each word
    clause: tuple[int, ...]  # clause number of each word (numbered across the whole text)
    sentences: tuple[tuple[int, int, bool], ...]  # (first word, end, ends with "?")


def _read(text: str, spelling: dict[str, tuple[str, ...]]) -> _Text:
    words: list[str] = []
    sentence_of: list[int] = []
    clause_of: list[int] = []
    sentences: list[tuple[int, int, bool]] = []
    sentence, clause, first = 0, 0, 0

    def end_sentence(question: bool) -> None:
        nonlocal sentence, clause, first
        if len(words) > first:
            sentences.append((first, len(words), question))
            sentence, clause, first = sentence + 1, clause + 1, len(words)

    for match in _TOKEN.finditer(_fold(text)):
        token = match.group()
        if _SENTENCE_END.match(token):
            end_sentence("?" in token)
        elif not token[0].isalnum():
            clause += 1
        elif token in _CLAUSE_WORDS:
            end_sentence(False)
        else:
            # [spelling] may name a form with its apostrophe ("we're"); else it is dropped.
            bare = token.replace("'", "")
            for word in spelling.get(token) or spelling.get(bare) or (bare,):
                words.append(word)
                sentence_of.append(sentence)
                clause_of.append(clause)
    end_sentence(False)
    return _Text(tuple(words), tuple(sentence_of), tuple(clause_of), tuple(sentences))


# ---------------------------------------------------------------------------------------------
# Phrases: "can not feel .. legs", "temp/temperature .. 38*", "^is".

_GAP = -1


@dataclass(frozen=True)
class _Phrase:
    list_name: str
    elements: tuple[frozenset[int] | int, ...]  # word ids allowed at each place, or _GAP
    anchored: bool  # only at the start of a sentence


@dataclass(frozen=True)
class _Match:
    list_name: str
    start: int
    end: int  # one past the last word
    literal: frozenset[int]  # positions matched by the phrase's own words (not by a .. gap)

    def span(self) -> range:
        return range(self.start, self.end)

    def joined(self, other: "_Match") -> "_Match":
        """Two phrases read as one ("legs" & "won't move"): what lies between is their gap."""
        return _Match(
            f"{self.list_name} & {other.list_name}",
            min(self.start, other.start),
            max(self.end, other.end),
            self.literal | other.literal,
        )

    def distance(self, other: "_Match") -> int:
        return max(0, max(self.start, other.start) - min(self.end, other.end))


def _one_edit_apart(a: str, b: str) -> bool:
    """True when b is a with one letter changed, added, removed, or two neighbours swapped."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) != 2:
            return len(diffs) == 1
        i, j = diffs
        return j == i + 1 and (a[i], a[j]) == (b[j], b[i])
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i in range(len(shorter)) if shorter[i] != longer[i]), len(shorter))
    return shorter[i:] == longer[i + 1 :]


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class _Matcher:
    """Finds every phrase of the rule file in a text, in one pass over its words."""

    def __init__(
        self, phrases: list[_Phrase], words: list[tuple[str, bool]], not_typos: frozenset[str]
    ) -> None:
        self.phrases = phrases
        self.exact: dict[str, int] = {}
        self.prefix: dict[str, int] = {}
        # Typo look-up without comparing against every rule word: a word and its one-letter
        # typos share a "one letter deleted" form (symmetric delete), so index those forms.
        self.typo_index: dict[str, set[int]] = {}
        self.typo_words: dict[int, str] = {}
        for word_id, (text, is_prefix) in enumerate(words):
            (self.prefix if is_prefix else self.exact)[text] = word_id
            if not is_prefix and len(text) >= MIN_TYPO_LENGTH and text.isalpha():
                self.typo_words[word_id] = text
                for key in _deletions(text) | {text}:
                    self.typo_index.setdefault(key, set()).add(word_id)
        self.not_typos = not_typos
        self.by_first: dict[int, list[int]] = {}
        for phrase_id, phrase in enumerate(phrases):
            for word_id in phrase.elements[0]:
                self.by_first.setdefault(word_id, []).append(phrase_id)
        # A bounded cache: a chat server sees the same few thousand words again and again.
        self.word_ids = lru_cache(maxsize=50_000)(self._word_ids)

    def _word_ids(self, token: str) -> frozenset[int]:
        ids = set()
        if token in self.exact:
            ids.add(self.exact[token])
        for k in range(1, len(token) + 1):
            if token[:k] in self.prefix:
                ids.add(self.prefix[token[:k]])
        # A word that is itself a rule word, or a listed real word, is never read as a typo.
        if token not in self.exact and token not in self.not_typos and len(token) >= MIN_TYPO_LENGTH - 1:
            for key in _deletions(token) | {token}:
                for word_id in self.typo_index.get(key, ()):
                    word = self.typo_words[word_id]
                    if word[0] == token[0] and _one_edit_apart(word, token):
                        ids.add(word_id)
        return frozenset(ids)

    def find(self, text: _Text) -> list[_Match]:
        found: list[_Match] = []
        ids = [self.word_ids(word) for word in text.words]
        for first, end, _ in text.sentences:
            for start in range(first, end):
                candidates = {p for word_id in ids[start] for p in self.by_first.get(word_id, ())}
                for phrase_id in sorted(candidates):
                    phrase = self.phrases[phrase_id]
                    if phrase.anchored and start != first:
                        continue
                    literal = self._match(phrase.elements, 0, start, end, ids)
                    if literal is not None:
                        found.append(_Match(phrase.list_name, start, max(literal) + 1, frozenset(literal)))
        return found

    def _match(self, elements, index: int, position: int, end: int, ids) -> list[int] | None:
        """Positions of the literal words when elements[index:] match from position, else None.

        Gaps try the fewest skipped words first, so a match is the shortest one.
        """
        if index == len(elements):
            return []
        element = elements[index]
        if element == _GAP:
            for skip in range(MAX_GAP + 1):
                if position + skip >= end:
                    break
                rest = self._match(elements, index + 1, position + skip, end, ids)
                if rest is not None:
                    return rest
            return None
        if position >= end or not (element & ids[position]):
            return None
        rest = self._match(elements, index + 1, position + 1, end, ids)
        return None if rest is None else [position, *rest]


# ---------------------------------------------------------------------------------------------
# The rule file.


@dataclass(frozen=True)
class _Rule:
    id: str
    # "a & b + c" -> (("a", "b"), ("c",)): the lists of a group are found together in one
    # sentence; the first group must be happening now, the others present anywhere.
    groups: tuple[tuple[str, ...], ...]
    situation: str | None  # None for a personal-decision rule
    always: bool = False  # fires on the phrase alone, asked or not ("how to overdose")


class SafetyRules:
    """A parsed rule file, ready to assess messages."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        raw = _parse(self.path)
        self.spelling: dict[str, tuple[str, ...]] = raw.spelling
        self.situations: tuple[str, ...] = tuple(raw.situations)  # in file order
        self.ignore_lists: dict[str, str] = raw.ignore_lists  # situation -> its "ignore:" list
        self.rules: tuple[_Rule, ...] = tuple(raw.rules)
        words: dict[tuple[str, bool], int] = {}
        phrases = [
            self._compile(name, source, words, raw.lines[(name, source)])
            for name, sources in raw.lists.items()
            for source in sources
        ]
        self.matcher = _Matcher(phrases, list(words), frozenset(raw.not_typos))

    def _compile(self, list_name: str, source: str, words: dict, line: int) -> _Phrase:
        elements: list[frozenset[int] | int] = []
        anchored = source.startswith("^")
        for part in source.lstrip("^").split():
            if part == "..":
                elements.append(_GAP)
                continue
            alternatives = [self._read_word(alt, list_name, source, line) for alt in part.split("/")]
            if len(alternatives) == 1 and len(alternatives[0]) > 1:  # "cant" -> "can not"
                elements.extend(frozenset({words.setdefault(w, len(words))}) for w in alternatives[0])
                continue
            if any(len(alt) != 1 for alt in alternatives):
                raise RulesError(
                    f"{self.path}:{line}: in {source!r}, each choice of {part!r} must be one word."
                )
            elements.append(frozenset(words.setdefault(alt[0], len(words)) for alt in alternatives))
        if not elements or elements[0] == _GAP or elements[-1] == _GAP:
            raise RulesError(f"{self.path}:{line}: {source!r} must start and end with a word.")
        return _Phrase(list_name, tuple(elements), anchored)

    def _read_word(self, alt: str, list_name: str, source: str, line: int) -> list[tuple[str, bool]]:
        is_prefix = alt.endswith("*")
        read = _read(alt.rstrip("*"), self.spelling).words
        if not read:
            raise RulesError(f"{self.path}:{line}: in {list_name}, {source!r} has an empty word.")
        return [(word, is_prefix and i == len(read) - 1) for i, word in enumerate(read)]

    def assess(self, text: str) -> SafetyAssessment:
        read = _read(text, self.spelling)
        by_list: dict[str, list[_Match]] = {}
        for match in self.matcher.find(read):
            by_list.setdefault(match.list_name, []).append(match)
        cues = _Cues(read, by_list)
        fired: list[_Rule] = []
        for rule in self.rules:
            hits = [self._found(rule, group, by_list, cues, read) for group in rule.groups]
            if not all(hits):
                continue
            if rule.situation is None or rule.always or any(cues.happening_now(m) for m in hits[0]):
                fired.append(rule)
        situations = tuple(dict.fromkeys(r.situation for r in fired if r.situation is not None))
        return SafetyAssessment(
            urgent=bool(situations),
            category=situations[0] if situations else None,
            self_harm=SELF_HARM in situations,
            personal_decision=any(r.situation is None for r in fired),
            situations=situations,
            rules=tuple(r.id for r in fired),
        )

    def _found(self, rule: _Rule, group: tuple[str, ...], by_list: dict[str, list[_Match]],
               cues: "_Cues", text: _Text) -> list[_Match]:
        """The phrases of one group of a rule in the message: not ignored, joined, not negated."""
        ignore_list = self.ignore_lists.get(rule.situation or "")
        ignored = {p for m in by_list.get(ignore_list, ()) for p in m.span()} if ignore_list else set()
        kept = [[m for m in by_list.get(name, ()) if not ignored.intersection(m.span())] for name in group]
        # Negation is judged on the joined phrase: in "can't move my legs" the "not" of "can not
        # move" does not deny "legs". Decisions are often about refusing ("say no to more
        # treatment"), so they are not tested for negation.
        return [m for m in _together(kept, text) if rule.situation is None or not cues.negated(m)]


def _inside(match: _Match, other: _Match) -> bool:
    """match lies within other, which is longer."""
    return other.start <= match.start and match.end <= other.end and len(other.span()) > len(match.span())


def _together(per_list: list[list[_Match]], text: _Text) -> list[_Match]:
    """One phrase of each list, all in one sentence and near each other, joined into one."""
    joined = per_list[0]
    for matches in per_list[1:]:
        joined = [
            a.joined(b) for a in joined for b in matches
            if text.sentence[a.start] == text.sentence[b.start] and a.distance(b) <= NEAR
        ]
    return joined


class _Cues:
    """The [cues] found in one message, and the "happening now" decision built on them."""

    def __init__(self, text: _Text, by_list: dict[str, list[_Match]]) -> None:
        self.text = text
        # "not sure IF I should call" asks a question; it does not imagine a situation.
        embedded = by_list.get("not_hypothetical", ())
        cues = [
            (m, kind) for kind in CUE_KINDS for m in by_list.get(kind, ())
            if not (kind == "hypothetical" and any(e.start <= m.start < e.end for e in embedded))
        ]
        # "I have had" is one present cue, not "I" + "had": drop cues inside a longer cue.
        self.cues = [(m, kind) for m, kind in cues if not any(_inside(m, longer) for longer, _ in cues)]
        exceptions = by_list.get("not_negation", ())
        # A negation word inside a phrase found in the message, with the phrase going on after
        # it, belongs to that phrase: the "not" of "can not stand" does not deny "this morning"
        # (a phrase ending in "not" still denies what follows).
        in_phrases = {
            position
            for name, matches in by_list.items() if name not in CUE_LISTS
            for m in matches for position in m.literal if position < max(m.literal)
        }
        self.negations = [
            m for m in by_list.get("negation", ())
            if not any(e.start < m.end and m.start < e.end for e in exceptions) and m.start not in in_phrases
        ]

    def negated(self, hit: _Match) -> bool:
        for neg in self.negations:
            if self.text.clause[neg.start] != self.text.clause[hit.start]:
                continue
            before = neg.end <= hit.start and hit.start - neg.end <= NEGATION_REACH
            in_gap = hit.start < neg.start < hit.end and not (neg.literal & hit.literal)
            if before or in_gap:
                return True
        return False

    def happening_now(self, hit: _Match) -> bool:
        """Steps 2-5 of "HOW HAPPENING NOW IS DECIDED" in the rule file's header."""
        text = self.text
        sentence = text.sentence[hit.start]
        clauses = {text.clause[hit.start], text.clause[hit.end - 1]}
        # Cues that are the phrase's own words say nothing about it ("what is the point in living").
        around = [
            (m, kind) for m, kind in self.cues
            if text.sentence[m.start] == sentence and not (m.literal & hit.literal)
        ]
        if any(kind == "hypothetical" and m.start < hit.start for m, kind in around):
            return False
        timing = self._nearest_time(hit, [(m, k) for m, k in around if text.clause[m.start] in clauses])
        if timing is not None:
            return timing == "present_time"
        # Cues before the phrase; inside its .. gaps only whose it is ("can't feel MY legs",
        # "like not being able to feel YOUR legs"), as the phrase itself fixes its tense.
        before = [
            (m, kind) for m, kind in around
            if m.start < hit.start or (m.start < hit.end and kind in ("personal", "present", "asking"))
        ]
        if before:
            _, kind = max(before, key=lambda cue: (cue[0].start, cue[0].end))
            return kind in ("personal", "present", "present_time")
        question = text.sentences[sentence][2]
        return not question or any(kind in ("personal", "present") for _, kind in around)

    def _nearest_time(self, hit: _Match, cues) -> str | None:
        nearest: tuple[int, int, str] | None = None
        for m, kind in cues:
            if kind not in ("present_time", "past_time"):
                continue
            lo, hi = (m.end, hit.start) if m.end <= hit.start else (hit.end, m.start)
            if kind == "past_time" and any(k == "present" and lo <= c.start < hi for c, k in cues):
                continue  # "had chemo last week AND HAVE a temperature": the clock restarted
            distance = max(0, hi - lo)
            rank = (distance, 0 if kind == "present_time" else 1, kind)
            nearest = rank if nearest is None or rank < nearest else nearest
        return None if nearest is None else nearest[2]


# ---------------------------------------------------------------------------------------------
# Parsing the file's lines into lists, rules and situations.


@dataclass
class _Raw:
    spelling: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_typos: set[str] = field(default_factory=set)
    lists: dict[str, list[str]] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)  # (list, phrase) -> line number
    situations: list[str] = field(default_factory=list)
    ignore_lists: dict[str, str] = field(default_factory=dict)
    rules: list[_Rule] = field(default_factory=list)


_SECTION = re.compile(r"^\[(situation ([a-z_]+)|cues|spelling|personal decision)\]$")
_LIST_HEADER = re.compile(r"^([a-z_]+|not typos|ignore):$")
_RULE = re.compile(r"^(always )?rule ([a-z_]+\.[a-z_]+):\s*([a-z_]+(?:\s*[+&]\s*[a-z_]+)*)$")
_SPELLING = re.compile(r"^([a-z', ]+?)\s*->\s*([a-z ]+)$")


def _parse(path: Path) -> _Raw:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise RulesError(f"Cannot read the safety rules at {path}: {error.strerror}.") from None
    raw = _Raw()
    section: str | None = None
    situation: str | None = None  # "" in [personal decision]
    current: str | None = None  # the list that indented lines belong to

    def fail(number: int, problem: str) -> RulesError:
        return RulesError(f"{path}:{number}: {problem}")

    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0].isspace():
            if current is None:
                raise fail(number, "an indented line must follow a list name such as 'back_pain:'.")
            for item in (part.strip() for part in stripped.split(",")):
                if not item:
                    continue
                if current == "not typos":
                    raw.not_typos.add(_fold(item))
                else:
                    raw.lists[current].append(item)
                    raw.lines.setdefault((current, item), number)
            continue
        current = None
        if header := _SECTION.match(stripped):
            section = stripped.strip("[]").split()[0]
            situation = header.group(2) if header.group(2) else ("" if section == "personal" else None)
            if situation:
                if situation in raw.situations:
                    raise fail(number, f"situation {situation} is defined twice.")
                raw.situations.append(situation)
            continue
        if section is None:
            raise fail(number, "rules must come after a section header such as [cues].")
        if section == "spelling" and (spelling := _SPELLING.match(stripped)):
            for variant in spelling.group(1).split(","):
                raw.spelling[variant.strip()] = tuple(spelling.group(2).split())
            continue
        if stripped.startswith("about:") and situation is not None:
            continue  # for people reading the file
        if rule := _RULE.match(stripped):
            if situation is None:
                raise fail(number, "a rule belongs in a [situation ...] or [personal decision] section.")
            if rule.group(1) and not situation:
                raise fail(number, "'always rule' belongs in a [situation ...] section.")
            groups = tuple(
                tuple(name.strip() for name in group.split("&")) for group in rule.group(3).split("+")
            )
            raw.rules.append(_Rule(rule.group(2), groups, situation or None, always=bool(rule.group(1))))
            continue
        if list_header := _LIST_HEADER.match(stripped):
            name = list_header.group(1)
            if name == "not typos" and section != "spelling":
                raise fail(number, "'not typos:' belongs in [spelling].")
            if name == "ignore":
                if not situation:
                    raise fail(number, "'ignore:' belongs in a [situation ...] section.")
                name = f"ignore {situation}"
                raw.ignore_lists[situation] = name
            if name in raw.lists:
                raise fail(number, f"the list {name} is defined twice; list names must be unique.")
            if name != "not typos":
                raw.lists[name] = []
            current = name
            continue
        raise fail(number, f"cannot read {stripped!r}; see the format at the top of the file.")

    seen: set[str] = set()
    for rule in raw.rules:
        if rule.id in seen:
            raise RulesError(f"{path}: rule {rule.id} is defined twice; rule ids must be unique.")
        seen.add(rule.id)
        unknown = [name for group in rule.groups for name in group if name not in raw.lists]
        if unknown:
            raise RulesError(f"{path}: rule {rule.id} uses {', '.join(unknown)}, which no list defines.")
    used = {name for rule in raw.rules for group in rule.groups for name in group}
    used |= set(CUE_LISTS) | set(raw.ignore_lists.values())
    unused = [name for name in raw.lists if name not in used]
    if unused:
        raise RulesError(f"{path}: no rule uses the list {', '.join(unused)}; add it to a rule or remove it.")
    missing = [name for name in CUE_LISTS if name not in raw.lists]
    if missing:
        raise RulesError(f"{path}: [cues] must define {', '.join(missing)}.")
    if SELF_HARM not in raw.situations:
        raise RulesError(f"{path}: a [situation {SELF_HARM}] section is required (it adds the crisis line).")
    return raw


# ---------------------------------------------------------------------------------------------
# Public entry points.


@lru_cache(maxsize=4)
def load_rules(path: Path = DEFAULT_RULES_PATH) -> SafetyRules:
    """The parsed rule file (read once per path). Raises RulesError naming the line to fix."""
    return SafetyRules(Path(path))


def assess_message(text: str, rules: SafetyRules | None = None) -> SafetyAssessment:
    """Is this message a possible emergency happening now, or a personal treatment decision?"""
    return (rules or load_rules()).assess(text)
