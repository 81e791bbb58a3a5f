"""Turn a saved web page (or PDF page text) into the article it carries, and nothing else.

Pages saved from the web carry opening hours, menus, link directories, call-back forms, phone
numbers, reader questions, reviews, counters and copyright lines. The rules below recognise
those by their *shape* (repeated blocks, lists of names, short lines with no sentence, contact
and marketing phrasing), so they carry over to other clinics' pages; no rule names a string
from one particular page.

The entry point is `clean_text(raw) -> CleanedText`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

# --- what a line looks like -------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?;:…)\]\"”»]$")
_WORD = re.compile(r"[^\W\d_][\w'’-]*|\d+", re.UNICODE)
_LIST_MARKER = re.compile(r"^\s*(?:[•·▪●◦‣∙*–—-]|\d{1,2}[.)])\s+")
_ANY_PUNCTUATION = re.compile(r"[.,;:!?()\"“”«»/&–—-]")

# Phone numbers: 7+ digits with the usual separators, e.g. "8 (499) 322-23-08", "+1 555 010 9999".
_PHONE = re.compile(r"(?<![\w.])\+?\d[\d\s().-]{6,}\d(?![\w.])")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_DOMAIN = re.compile(r"\b[\w-]+\.(?:com|org|net|ru|de|uk|info|io|ua|by|kz|eu|fr|it|es|nl|ch|at)\b", re.I)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_TIME_OF_DAY = re.compile(r"\b\d{1,2}[:.]\d{2}\b")
_WEEKDAY = re.compile(
    r"\b(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day)?\b|\bclosed\b|\bopening hours\b", re.I
)
_NAVIGATION = re.compile(
    r"^(?:back to |go to |skip to )?(?:top|bottom|main content|content|navigation)(?: of (?:the )?page)?$"
    r"|^(?:menu|home|search|print|share|next|previous|back)$",
    re.I,
)
# Calls to action and consent text of contact forms, and copyright notices.
_CONTACT_OR_MARKETING = re.compile(
    r"\bcall (?:you |me )?back\b|\bby calling\b|\b(?:make|book|schedule) an appointment\b"
    r"|\bsign up\b|\bsubscribe\b|\bnewsletter\b|\bpersonal data\b|\bprivacy policy\b|\bcookies?\b"
    r"|\bleave your (?:name|phone|number|details|data)\b|\btelephone number\b|\ball rights reserved\b"
    r"|©|\bcopyright\b|\bcontact us\b|\bcall us\b|\bask a question\b",
    re.I,
)
# A sentence that only sends the reader to another site ("See SomeSite for abbreviations ...").
_CROSS_LINK = re.compile(r"^see [A-Z][a-z]+[A-Z]\w* for\b|^(?:visit|go to) \S+\.\w{2,4}\b", re.I)
_BYLINE = re.compile(r"^(?:author(?: of the article)?|posted by|written by|published|updated|reviewed by)\b", re.I)
# Reader-written content: a date-and-time stamp, an anonymous label, or first-person speech.
_USER_STAMP = re.compile(r"^(?:\d{1,2} \w+ \d{4},? \d{1,2}:\d{2}|anonymous(?:ly)?\b)", re.I)
# Case matters: "type I or type II", "stage I and II" are article text, and under re.I "I"
# would also match a lone "i". "I" counts as first person before a verb a reader would write.
_FIRST_PERSON = re.compile(
    r"\b(?:[Mm]y|me|I'm|I’m|I've|I’ve|I'd|I’d)\b"
    r"|\bI (?:am|was|have|had|think|thought|feel|felt|do|did|don't|don’t|can|could|cannot|will|would|"
    r"got|get|went|go|knew|needed|want|wanted|also|just|really|still|tried|took|take|heard|read|"
    r"found|asked|noticed|started|stopped|hope|wonder|guess|live|lost|underwent|suffer|suffered)\b"
)
# Headings of page parts that are not the article: reader content, related links, tags.
_NON_ARTICLE_HEADING = re.compile(
    r"\b(?:reader|user|visitor|patient)s?['’]? (?:questions|comments|reviews|stories)\b"
    r"|^(?:\w+ )?(?:reviews|comments|testimonials)$|\brelated (?:questions|articles|posts|topics|links)\b"
    r"|\bcontinuing the topic\b|^read (?:also|more)\b|^see also\b|\byou (?:may|might) also\b"
    r"|^(?:topic )?tags?:|^share (?:this|on)\b|^video:",
    re.I,
)


def _words(line: str) -> list[str]:
    return _WORD.findall(line)


def _strip_list_marker(line: str) -> str:
    return _LIST_MARKER.sub("", line, count=1)


def _is_list_item(line: str) -> bool:
    return bool(_LIST_MARKER.match(line))


def _ends_sentence(line: str) -> bool:
    return bool(_SENTENCE_END.search(line.rstrip()))


def _is_prose(line: str) -> bool:
    """A paragraph of running text: enough words and real sentences."""
    words = _words(line)
    if len(words) >= 12:
        return _ends_sentence(line) or len(re.findall(r"[.!?]\s", line)) >= 1
    # Short but a whole sentence: "Draining the fluid with a needle eases breathing quickly."
    return len(words) >= 6 and bool(re.search(r"[.!?]$", line)) and not _is_list_item(line)


def _is_opening_hours(line: str) -> bool:
    return len(_words(line)) <= 10 and bool(_WEEKDAY.search(line)) and (
        bool(_TIME_OF_DAY.search(line)) or "closed" in line.lower()
    )


def _is_counter(line: str) -> bool:
    """'19 members', '1 view', '1,204 Mitglieder': a number and a word or two, no sentence."""
    words = _words(line)
    return len(words) <= 4 and any(w.isdigit() for w in words) and not _ends_sentence(line)


def _is_copyright(line: str) -> bool:
    return len(_words(line)) <= 15 and bool(_YEAR.search(line)) and bool(_DOMAIN.search(line))


def _is_name_list(line: str) -> bool:
    """A directory of links or names run together: many words, mostly capitalised, few sentences.

    e.g. 'Search by station: Aviamotornaya Avtozavodskaya Akademicheskaya ...' (hundreds of names,
    no full stop). Running text has about one sentence end per 20 words and mostly lower case.
    """
    words = [w for w in _words(line) if not w.isdigit()]
    if len(words) < 15:
        return False
    capitalised = sum(1 for w in words if w[0].isupper())
    sentence_ends = len(re.findall(r"[.!?]", line))
    return capitalised / len(words) >= 0.4 and sentence_ends * 20 < len(words)


def _is_user_content(line: str) -> bool:
    return bool(_USER_STAMP.match(line)) or bool(_FIRST_PERSON.search(line))


def _is_short_bare_line(line: str) -> bool:
    """A menu entry: a few words with no punctuation at all ('About Us', 'For doctors')."""
    return len(_words(line)) <= 4 and not _ANY_PUNCTUATION.search(_strip_list_marker(line))


def _is_junk_line(line: str) -> bool:
    """Lines that are never article text, wherever they stand."""
    bare = _strip_list_marker(line).strip()
    return (
        bool(_NAVIGATION.match(bare))
        or _is_opening_hours(bare)
        or _is_counter(bare)
        or _is_copyright(bare)
        or _is_name_list(bare)
        or bool(_BYLINE.match(bare))
        or (_is_contact_or_marketing(bare) and not _is_long_prose(bare))
    )


def _is_contact_or_marketing(text: str) -> bool:
    return bool(_PHONE.search(text) or _EMAIL.search(text) or _CONTACT_OR_MARKETING.search(text))


def _is_long_prose(line: str) -> bool:
    # A long paragraph that ends with "call us on ..." is still an article paragraph: only its
    # contact sentences go (see _drop_marketing_sentences). Short lines with them are forms.
    return _is_prose(line) and len(_words(line)) >= 25


# --- sentences ----------------------------------------------------------------------------------

# A sentence ends at . ! ? followed by space and an upper-case letter, digit or quote.
# Abbreviations such as "e.g." or "Dr." are rare in patient prose; a wrong split here costs a
# slightly shorter highlight, never lost text.
SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])[\"”»)]?\s+(?=[\"“«(]?[A-Z0-9А-ЯЁ])")


def _drop_marketing_sentences(paragraph: str) -> str:
    sentences = SENTENCE_SPLIT.split(paragraph)
    kept = [
        s
        for s in sentences
        if not (_is_contact_or_marketing(s) or _CROSS_LINK.search(s.strip()))
    ]
    return " ".join(kept).strip()


# --- the whole page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanedText:
    text: str  # paragraphs separated by a blank line; list items by a line break
    title: str | None  # a heading found above the article, if any
    section_starts: tuple[tuple[int, str], ...]  # (offset into text, heading)


def _normalise(raw: str) -> list[str]:
    raw = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\u200b", "")
    lines = []
    for line in raw.split("\n"):
        line = re.sub(r"[ \t]+", " ", line).strip()
        lines.append(line)
    return lines


def clean_text(raw: str, headings: frozenset[str] = frozenset()) -> CleanedText:
    """Keep the article of a saved page: its headings, paragraphs and lists, in order.

    `headings`: lines the format marked as headings (a Word heading style, an HTML <h2>); they
    start a section whatever their shape. Other lines are judged by their shape alone.
    """
    lines = _normalise(raw)
    nonblank = [line for line in lines if line]

    # Blocks a site prints on every page (hours, menus) often appear twice on one page too.
    repeats = Counter(line for line in nonblank if not _is_prose(line))
    repeated = {line for line, n in repeats.items() if n > 1}

    candidates: list[str] = []
    in_non_article_part = False
    for index, line in enumerate(lines):
        if not line:
            continue
        if line in repeated or _is_junk_line(line):
            continue
        # A heading is short: a long paragraph that mentions "related topics" is article text.
        if len(_words(line)) <= 12 and _NON_ARTICLE_HEADING.search(_strip_list_marker(line)):
            in_non_article_part = True
            continue
        if in_non_article_part:
            # Reader questions, reviews and related-link lists run until running text resumes.
            if _is_user_content(line) or _is_list_item(line) or not _ends_sentence(line):
                continue
            in_non_article_part = False
        if _is_user_content(line) and not _is_list_item(line):
            continue
        candidates.append(line)

    candidates = _drop_menu_runs(candidates)

    first_prose = next((i for i, line in enumerate(candidates) if _is_prose(line)), None)
    if first_prose is None:
        return CleanedText(text="", title=None, section_starts=())
    last_prose = max(i for i, line in enumerate(candidates) if _is_prose(line))

    # Above the article: site name, counters, breadcrumbs. The article's title is the last
    # heading-like line there.
    header = [line for line in candidates[:first_prose] if _looks_like_heading(line)]
    title = header[-1] if header else None
    body = candidates[first_prose : last_prose + 1]
    # Below the article: author, "our doctors", forms. Only list items that continue the
    # article's last list survive.
    for line in candidates[last_prose + 1 :]:
        if _is_list_item(line) and _ends_sentence(line):
            body.append(line)
        else:
            break

    return _assemble(title, body, frozenset(" ".join(h.split()) for h in headings))


def _drop_menu_runs(lines: list[str]) -> list[str]:
    """Three or more bare short lines in a row are a menu, not headings."""
    keep = [True] * len(lines)
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and _is_short_bare_line(lines[j]):
            j += 1
        if j - i >= 3:
            for k in range(i, j):
                keep[k] = False
        i = max(j, i + 1)
    return [line for line, k in zip(lines, keep) if k]


def _looks_like_heading(line: str) -> bool:
    words = _words(line)
    return 1 <= len(words) <= 14 and not _is_list_item(line) and not line.endswith((",", ";"))


def _assemble(title: str | None, body: list[str], headings: frozenset[str]) -> CleanedText:
    parts: list[str] = []  # the text, built as a list of strings joined at the end
    offset = 0
    sections: list[tuple[int, str]] = []
    previous_was_list = False

    def emit(piece: str, separator: str) -> int:
        nonlocal offset
        if parts:
            parts.append(separator)
            offset += len(separator)
        start = offset
        parts.append(piece)
        offset += len(piece)
        return start

    for i, line in enumerate(body):
        is_list = _is_list_item(line)
        if is_list:
            emit(line, "\n" if previous_was_list else "\n\n")
            previous_was_list = True
            continue
        previous_was_list = False
        marked = line in headings and len(_words(line)) <= 20
        if marked or (not _is_prose(line) and _looks_like_heading(line) and not _ends_sentence(line.rstrip("?"))):
            # A heading counts only when text follows it; a heading followed by another heading
            # (a "Video:" caption, an empty section) is dropped.
            following = body[i + 1] if i + 1 < len(body) else None
            if following is None or following in headings or (
                _looks_like_heading(following) and not _is_prose(following) and not _is_list_item(following)
                and not _ends_sentence(following)
            ):
                continue
            start = emit(line, "\n\n")
            sections.append((start, line.rstrip(":")))
            continue
        if line.endswith("?") and len(_words(line)) <= 14:
            start = emit(line, "\n\n")
            sections.append((start, line))
            continue
        paragraph = _drop_marketing_sentences(line)
        if paragraph:
            emit(paragraph, "\n\n")
    return CleanedText(text="".join(parts), title=title, section_starts=tuple(sections))


_OPENING_SUBJECT = re.compile(r"^(?:(?:a|an|the)\s+)?(.+?)\s*(?:-|–|—|:|\bis\b|\bare\b)", re.I)


def derive_title(cleaned: CleanedText) -> str | None:
    """A title for a page that has none: the heading above the article, else the subject of its
    opening sentence ("Metastases- These are ..." -> "Metastases"), else its first heading.

    Never a navigation line or a sentence cut mid-way: None when nothing qualifies.
    """
    if cleaned.title:
        return cleaned.title.rstrip(":")
    first_sentence = SENTENCE_SPLIT.split(cleaned.text.split("\n", 1)[0], maxsplit=1)[0]
    match = _OPENING_SUBJECT.match(first_sentence)
    if match and 1 <= len(_words(match.group(1))) <= 6:
        subject = match.group(1).strip()
        return subject[0].upper() + subject[1:]
    if cleaned.section_starts:
        return cleaned.section_starts[0][1]
    return None
