"""Split a cleaned document into passages that fit the embedding model's window.

Passages follow the document's own structure: a new passage starts at every section heading,
paragraphs are kept whole when they fit, and a long paragraph is split between sentences,
never inside one. Each passage is a verbatim slice `document.text[start:end]`.

Budget, worked: MiniLM reads 256 word pieces including [CLS] and [SEP]. We embed
"title. section. passage", so the passage gets `max_tokens` (200 by default) and the title and
section the rest; 200 word pieces is about 1,000 characters of patient-education prose.

Entry point: `chunk_document(doc, count_tokens, *, max_tokens=200) -> list[Chunk]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.types import Chunk, Document

from .clean import SENTENCE_SPLIT

TokenCounter = Callable[[str], int]


@lru_cache(maxsize=4)
def tokenizer_counter(model_path: str) -> TokenCounter:
    """Count word pieces with the model's own tokenizer (the `tokenizers` library, no torch)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tokenizer.no_truncation()  # the file truncates and pads to 128; we need true lengths
    tokenizer.no_padding()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    paragraph: int  # index of the paragraph it belongs to
    heading: bool  # a section heading: it opens a new passage and never ends one


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+(?:\n[^\n]+)*", text)]


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentences (and list lines) of text[start:end], as absolute offsets, whitespace trimmed."""
    end = len(text) if end is None else end
    spans = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        cursor = line_start
        for boundary in SENTENCE_SPLIT.finditer(line.group()):
            spans.append((cursor, line_start + boundary.start()))
            cursor = line_start + boundary.end()
        spans.append((cursor, start + line.end()))
    spans = [(s, e) for s, e in spans if text[s:e].strip()]
    # "6. Surgery may ..." splits after "6." like after a sentence; a list number belongs to the
    # sentence it numbers.
    merged: list[tuple[int, int]] = []
    for span in spans:
        if merged and _LIST_NUMBER.fullmatch(text[merged[-1][0] : merged[-1][1]]):
            merged[-1] = (merged[-1][0], span[1])
        else:
            merged.append(span)
    return merged


_LIST_NUMBER = re.compile(r"\(?\d{1,3}[.)]")


def _split_overlong(text: str, start: int, end: int, count_tokens: TokenCounter, max_tokens: int):
    """Last resort for one sentence longer than the window (a run-on list): cut between words."""
    pieces = []
    piece_start = start
    for word in re.finditer(r"\S+", text[start:end]):
        word_end = start + word.end()
        if count_tokens(text[piece_start:word_end]) > max_tokens and word.start() + start > piece_start:
            cut = start + word.start()
            pieces.append((piece_start, cut))
            piece_start = cut
    pieces.append((piece_start, end))
    return [(s, e) for s, e in ((s, len(text[:e].rstrip())) for s, e in pieces) if e > s]


def chunk_document(doc: Document, count_tokens: TokenCounter, *, max_tokens: int = 200) -> list[Chunk]:
    """Passages of `doc`, each at most `max_tokens` word pieces, in document order.

    A passage most of whose sentences already stood earlier in the document (case, spacing and
    punctuation aside) is left out: content a page repeats is indexed once.
    """
    headings = {start for start, _ in doc.section_starts}
    units: list[_Span] = []
    for number, (p_start, p_end) in enumerate(_paragraph_spans(doc.text)):
        if p_start in headings:
            units.append(_Span(p_start, p_end, number, heading=True))
            continue
        for s_start, s_end in sentence_spans(doc.text, p_start, p_end):
            if count_tokens(doc.text[s_start:s_end]) > max_tokens:
                for piece in _split_overlong(doc.text, s_start, s_end, count_tokens, max_tokens):
                    units.append(_Span(*piece, number, heading=False))
            else:
                units.append(_Span(s_start, s_end, number, heading=False))

    groups: list[list[_Span]] = []
    current: list[_Span] = []
    for unit in units:
        if current and (unit.heading or count_tokens(doc.text[current[0].start : unit.end]) > max_tokens):
            # Prefer to end at a paragraph boundary: move the open paragraph's sentences to the
            # next passage when that leaves the current one at least half full.
            carry = _carry_open_paragraph(current, unit, doc.text, count_tokens, max_tokens)
            if current:
                groups.append(current)
            current = carry
        current.append(unit)
    if current:
        groups.append(current)

    chunks: list[Chunk] = []
    seen_sentences: set[str] = set()
    for group in groups:
        sentences = {_fold(doc.text[u.start : u.end]) for u in group if not u.heading}
        if not sentences:
            continue  # a heading with nothing under it
        repeated = len(sentences & seen_sentences)
        seen_sentences |= sentences
        if repeated >= REPEATED_SHARE * len(sentences):
            continue
        start, end = group[0].start, group[-1].end
        chunks.append(
            Chunk(
                id=f"{doc.id}#{len(chunks)}",
                doc_id=doc.id,
                text=doc.text[start:end],
                start=start,
                end=end,
                title=doc.title,
                url=doc.url,
                page=doc.page_at(start),
                section=doc.section_at(start),
            )
        )
    return chunks


# A passage is a repeat when at least this share of its sentences appeared earlier in the page:
# 0.8 tolerates a changed sentence or two in a copied section, yet never drops a passage that
# shares a single stock sentence ("Treatment depends on the type of cancer.") with another.
REPEATED_SHARE = 0.8


def _fold(sentence: str) -> str:
    return " ".join(re.findall(r"\w+", sentence.lower()))


def _carry_open_paragraph(current, unit, text, count_tokens, max_tokens) -> list[_Span]:
    if unit.heading or current[-1].paragraph != unit.paragraph:
        return []
    first_of_paragraph = next(i for i, u in enumerate(current) if u.paragraph == unit.paragraph)
    if first_of_paragraph == 0:
        return []
    kept, carried = current[:first_of_paragraph], current[first_of_paragraph:]
    # A heading right before the paragraph goes with it.
    while kept and kept[-1].heading:
        carried.insert(0, kept.pop())
    fits = count_tokens(text[carried[0].start : unit.end]) <= max_tokens
    half_full = kept and count_tokens(text[kept[0].start : kept[-1].end]) >= max_tokens // 2
    if fits and half_full:
        current[:] = kept
        return carried
    return []
