"""Answer -> what people and programs see: chat markdown, and the HTTP API's JSON body.

Document text is data, never markup: it is HTML-escaped and markdown-escaped here, so a page
that contains `<img src=...>` or `<form>` shows those characters as text.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

from .texts import DISCLAIMER
from .types import Answer, Passage

# Characters that markdown would read as formatting.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


# "6. Surgery" at the start of a line would become an ordered list item numbered by markdown.
_LIST_NUMBER_AT_START = re.compile(r"^(\s*\d+)([.)])", re.M)


def escape_text(text: str) -> str:
    """Plain text -> markdown that renders as exactly that text."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return _LIST_NUMBER_AT_START.sub(r"\1\\\2", escaped)


# Where the assistant serves the local files of the index, read-only (ui/sources.py).
SOURCES_PATH = "/sources/"


def _safe_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def source_link(passage: Passage, base_url: str = "") -> str:
    """Where the passage can be read in its source: its web page, else the file as the assistant
    serves it, at the cited page of a PDF. `base_url` ("https://assistant.example-clinic.org")
    makes a served file's link absolute, for pages other than the assistant's own."""
    url = _safe_url(passage.url)
    if url:
        return url
    link = f"{base_url.rstrip('/')}{SOURCES_PATH}{quote(passage.doc_id)}"
    return link + (f"#page={passage.page}" if passage.page is not None else "")


def _quote(passage: Passage) -> str:
    """The passage as a block quote, its key sentence in bold, line breaks kept."""
    text = passage.text
    start = text.find(passage.highlight) if passage.highlight else -1
    end = start + len(passage.highlight) if start >= 0 else -1
    lines_out = []
    offset = 0
    for line in text.split("\n"):
        line_start, line_end = offset, offset + len(line)
        offset = line_end + 1
        if not line.strip():
            lines_out.append(">")
            continue
        if start >= 0 and start < line_end and end > line_start:
            bold_from, bold_to = max(start, line_start) - line_start, min(end, line_end) - line_start
            rendered = (escape_text(line[:bold_from]) + "**" + escape_text(line[bold_from:bold_to]).strip()
                        + "**" + escape_text(line[bold_to:]))
        else:
            rendered = escape_text(line)
        lines_out.append("> " + rendered + "  ")  # two spaces: a hard line break in markdown
    return "\n".join(lines_out)


def citation(passage: Passage, base_url: str = "") -> str:
    parts = [f"**[{passage.number}] {escape_text(passage.title)}**"]
    if passage.section and passage.section != passage.title:
        parts.append(f"section “{escape_text(passage.section)}”")
    if passage.page is not None:
        parts.append(f"page {passage.page}")
    parts.append(f"[open the source]({source_link(passage, base_url)})")
    return " · ".join(parts)


def render_markdown(answer: Answer, *, base_url: str = "") -> str:
    """The whole chat message: notices, the numbered cited passages, then the disclaimer.
    `base_url`: see source_link."""
    # The notices first: an urgent card or "possibly urgent" line must be the first thing read.
    blocks: list[str] = [escape_text(notice) for notice in answer.notices]
    if answer.passages and answer.query and answer.query != answer.question:
        blocks.append(f"*Searched for: {escape_text(answer.query)}*")
    for passage in answer.passages:
        blocks.append(citation(passage, base_url) + "\n\n" + _quote(passage))
    blocks.append(escape_text(answer.disclaimer))
    return "\n\n".join(blocks)


def render_notice(text: str) -> str:
    """A fixed text (an error, a refusal) as a whole message, laid out as render_markdown lays
    out an Answer: the text, then the disclaimer."""
    return f"{escape_text(text)}\n\n{escape_text(DISCLAIMER)}"


def passage_to_dict(passage: Passage, base_url: str = "") -> dict:
    """`url`: the document's web page, if it has one; `source_url`: where to read it, always."""
    return {
        "text": passage.text,
        "highlight": passage.highlight,
        "title": passage.title,
        "doc_id": passage.doc_id,
        "url": passage.url,
        "source_url": source_link(passage, base_url),
        "page": passage.page,
        "score": passage.score,
    }


def answer_to_dict(answer: Answer, *, base_url: str = "") -> dict:
    """The body of `POST /api/ask` (links absolute, on `base_url`) and of
    `clinic-assistant ask --json` (served files as paths)."""
    return {
        "question": answer.question,
        "query": answer.query,
        "abstained": answer.abstained,
        "urgent": answer.urgent,
        "urgency": answer.urgency,
        "urgent_reason": answer.urgent_reason,
        "passages": [passage_to_dict(p, base_url) for p in answer.passages],
        "answer_markdown": render_markdown(answer, base_url=base_url),
        "disclaimer": answer.disclaimer,
    }
