"""Read the corpus folder into cleaned Documents; report every file that cannot be used, by name.

Formats: .txt, .md (optional front matter), .html/.htm, .pdf (page numbers kept), .docx (Word:
its headings start sections, as an HTML page's do).
A title and public URL come from, in order: `corpus/sources.csv` (staff edit it), the file's
own front matter / <title> / PDF metadata, else a title derived from the text.

Entry point: `load_corpus(corpus_dir) -> LoadResult`.
"""

from __future__ import annotations

import csv
import hashlib
import html
import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from assistant.types import Document

from .clean import CleanedText, clean_text, derive_title

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
SOURCES_FILE = "sources.csv"
CHECKS_FILE = "checks.tsv"  # the questions the index must keep answering (lifecycle/gate.py)
# Files in corpus/ that describe the corpus rather than being part of it.
NOT_DOCUMENTS = {SOURCES_FILE, CHECKS_FILE, "README.md"}


@dataclass(frozen=True)
class Skipped:
    path: str  # relative to the corpus folder
    reason: str


@dataclass(frozen=True)
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class _Extracted:
    """What a format reader found in a file, before cleaning."""

    pages: list[str]  # one entry per PDF page; a single entry for other formats
    title: str | None = None
    url: str | None = None
    headings: frozenset[str] = frozenset()  # lines the format marks as headings


class UnusableFile(Exception):
    """The file cannot be read as a document; the message says why, for the build report."""


# --- format readers -------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def _split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """`---\\ntitle: ...\\nurl: ...\\n---` at the top of a .txt or .md file."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip().strip("\"'")
    return fields, text[match.end() :]


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise UnusableFile("binary content, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnusableFile("not valid UTF-8 text") from None


def _read_text(data: bytes, name: str) -> _Extracted:
    fields, body = _split_front_matter(_decode(data, name))
    return _Extracted(pages=[body], title=fields.get("title"), url=fields.get("url") or fields.get("source"))


_MARKDOWN_SYNTAX = [
    (re.compile(r"^#{1,6}\s*", re.M), ""),  # heading markers: the heading text stays
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: keep alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: keep link text
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
    (re.compile(r"^\s*[*+-]\s+", re.M), "• "),  # list markers, as on saved web pages
]


def _read_markdown(data: bytes, name: str) -> _Extracted:
    extracted = _read_text(data, name)
    body = extracted.pages[0]
    title = extracted.title
    if title is None:
        first_heading = re.search(r"^#\s+(.+)$", body, re.M)
        title = first_heading.group(1).strip() if first_heading else None
    for pattern, replacement in _MARKDOWN_SYNTAX:
        body = pattern.sub(replacement, body)
    # Markdown wraps paragraphs over several lines; the cleaner works on one line per paragraph.
    body = re.sub(r"(?<=[^\n])\n(?=[^\n•])", " ", body)
    return _Extracted(pages=[body], title=title, url=extracted.url)


# Parts of a page that are never its article, by what the markup says they are: navigation, site
# header and footer, sidebars, forms, and by the names themes give their reader comments, share
# buttons, cookie banners and related-link boxes (WordPress "comments-area", "widget-area", ...).
# On 181 real news pages (benchmarks/html_extraction.py --aeb) skipping them raised the share of
# kept text that is article from 0.72 to 0.81; a page whose article they would all remove is
# read whole instead (see _read_html).
_FURNITURE_TAGS = {"nav", "aside", "footer", "form"}
_FURNITURE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}
_FURNITURE_NAME = re.compile(
    r"^(?:comments?|comment-list|commentlist|comments-area|respond|sidebar|widget|widget-area|breadcrumbs?|"
    r"cookies?|cookie-banner|cookie-notice|share|sharing|social|share-buttons|related|related-posts|"
    r"newsletter|subscribe|menu|main-menu|site-header|site-footer|masthead|colophon|navbar|nav)$"
)
_VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "source", "area", "base", "col", "embed", "wbr"}


def _is_furniture(tag: str, attrs: list[tuple[str, str | None]], in_article: bool) -> bool:
    values = dict(attrs)
    if tag in _FURNITURE_TAGS or (values.get("role") or "").strip() in _FURNITURE_ROLES:
        return True
    if tag == "header":
        return not in_article  # the site's header; an article's own <header> holds its title
    names = f"{values.get('id') or ''} {values.get('class') or ''}".lower().split()
    return any(_FURNITURE_NAME.match(name) for name in names)


class _HtmlText(HTMLParser):
    """Visible text of an HTML page, one block element per line; scripts and styles dropped.

    `parts` is the whole page's text, `article_parts` the same without the page furniture that
    the markup names (_is_furniture); `headings` the text of its <h2>..<h6>.
    """

    BLOCKS = {"p", "div", "section", "article", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6",
              "header", "footer", "nav", "ul", "ol", "table", "blockquote", "dd", "dt", "title"}
    INVISIBLE = {"script", "style", "noscript", "template", "svg", "head"}
    HEADINGS = {"h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.article_parts: list[str] = []
        self.headings: set[str] = set()
        self.title: str | None = None
        self.h1: str | None = None
        self._hidden_depth = 0
        self._in_title = False
        self._in_h1 = False
        self._h1_parts: list[str] = []
        self._heading_parts: list[str] | None = None
        self._open: dict[str, int] = {}  # tag -> how many are open
        self._furniture: tuple[str, int] | None = None  # (tag, its open count) of the furniture we are in

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        if self._furniture is None:
            self.article_parts.append(text)

    def handle_starttag(self, tag, attrs):
        if tag not in _VOID_TAGS:
            self._open[tag] = self._open.get(tag, 0) + 1
            in_article = bool(self._open.get("article") or self._open.get("main"))
            if self._furniture is None and _is_furniture(tag, attrs, in_article):
                self._furniture = (tag, self._open[tag])
        if tag in self.INVISIBLE:
            self._hidden_depth += 1
        if tag == "title":
            self._in_title = True
        if tag == "h1":
            self._in_h1 = True
        if tag in self.HEADINGS:
            self._heading_parts = []
        if tag == "li":
            self._emit("\n• ")
        elif tag in self.BLOCKS:
            self._emit("\n")

    def handle_endtag(self, tag):
        if tag in self.INVISIBLE and self._hidden_depth:
            self._hidden_depth -= 1
        if tag == "title":
            self._in_title = False
        if tag == "h1" and self._in_h1:
            self._in_h1 = False
            self.h1 = self.h1 or " ".join("".join(self._h1_parts).split())
        if tag in self.HEADINGS and self._heading_parts is not None:
            heading = " ".join("".join(self._heading_parts).split())
            if heading:
                self.headings.add(heading)
            self._heading_parts = None
        if tag in self.BLOCKS:
            self._emit("\n")
        if self._open.get(tag):
            if self._furniture == (tag, self._open[tag]):
                self._furniture = None
            self._open[tag] -= 1

    def handle_data(self, data):
        if self._in_title:
            self.title = " ".join(((self.title or "") + data).split())
            return
        if self._hidden_depth:
            return
        if self._in_h1:
            self._h1_parts.append(data)
        if self._heading_parts is not None:
            self._heading_parts.append(data)
        self._emit(data.replace("\n", " "))


def _read_html(data: bytes, name: str) -> _Extracted:
    parser = _HtmlText()
    parser.feed(_decode(data, name))
    parser.close()
    article = "".join(parser.article_parts)
    # A page whose whole text sits in something named like furniture (a theme that calls its
    # content column "main-menu-page") is read whole: the line rules still clean it.
    text = article if clean_text(article).text else "".join(parser.parts)
    canonical = re.search(rb'<link[^>]+rel=["\']canonical["\'][^>]+href=["\']([^"\']+)', data, re.I)
    url = html.unescape(canonical.group(1).decode("utf-8", "replace")) if canonical else None
    return _Extracted(pages=[text], title=parser.h1 or parser.title, url=url, headings=frozenset(parser.headings))


def _read_pdf(data: bytes, name: str) -> _Extracted:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [_unwrap_pdf_lines(page.extract_text() or "") for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as error:
        raise UnusableFile(f"not a readable PDF ({type(error).__name__})") from None
    if not any(page.strip() for page in pages):
        raise UnusableFile("the PDF has no extractable text (a scan needs OCR first)")
    return _Extracted(pages=pages, title=title.strip() if isinstance(title, str) and title.strip() else None)


def _unwrap_pdf_lines(text: str) -> str:
    """PDF text breaks lines at the page edge; join a line to the next when the sentence goes on."""
    text = re.sub(r"-\n(?=[a-z])", "", text)  # "metas-\ntases" -> "metastases"
    return re.sub(r"(?<=[^.!?:;\n])\n(?=[a-z(])", " ", text)


# Word's built-in heading styles ("Heading 1" .. "Heading 9", "Title") and the list styles
# ("List Bullet", "List Number 2", ...); a clinic's own template usually derives from them.
_WORD_HEADING = re.compile(r"^(?:heading\s*\d|title|subtitle)\b", re.I)
_WORD_LIST = re.compile(r"^list\b", re.I)


def _read_docx(data: bytes, name: str) -> _Extracted:
    """Paragraphs and tables in document order; heading styles become headings, list styles and
    table rows list items (as on a web page; a row's cells joined by " · ")."""
    import io
    import zipfile

    from docx import Document as WordDocument
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = WordDocument(io.BytesIO(data))
        lines: list[str] = []
        headings: set[str] = set()
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                # dict.fromkeys: a merged cell is repeated in every row it spans.
                cells = [" · ".join(dict.fromkeys(" ".join(c.text.split()) for c in row.cells if c.text.strip()))
                         for row in block.rows]
                lines += [f"• {row}" for row in cells if row]
                continue
            text = " ".join(block.text.split())
            style = block.style.name if block.style is not None else ""
            if not text:
                continue
            if _WORD_HEADING.match(style):
                headings.add(text)
            lines.append(f"• {text}" if _WORD_LIST.match(style) else text)
        title = (document.core_properties.title or "").strip() or None
    # A damaged part of the package: lxml raises XMLSyntaxError, a SyntaxError.
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, AttributeError, SyntaxError) as error:
        raise UnusableFile(f"not a readable Word document ({type(error).__name__}); save it again as .docx") from None
    if not any(line.strip() for line in lines):
        raise UnusableFile("the Word document has no text")
    return _Extracted(pages=["\n".join(lines)], title=title, headings=frozenset(headings))


READERS = {
    ".txt": _read_text,
    ".md": _read_markdown,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
}


# --- corpus ---------------------------------------------------------------------------------


def read_sources(corpus_dir: Path) -> dict[str, dict[str, str]]:
    """`sources.csv`: columns file,title,url. Staff give documents a title and public link here."""
    path = corpus_dir / SOURCES_FILE
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return {
            (row.get("file") or "").strip(): {k: (v or "").strip() for k, v in row.items() if k}
            for row in csv.DictReader(handle)
            if (row.get("file") or "").strip()
        }


def content_hash(data: bytes, source: dict[str, str] | None = None) -> str:
    """Changes when the file or its sources.csv row changes, so either triggers a re-index."""
    digest = hashlib.sha256(data)
    # Empty cells are no value: a column added to sources.csv for other rows moves no hash.
    filled = sorted((key, value) for key, value in (source or {}).items() if value)
    if filled:
        digest.update(repr(filled).encode())
    return digest.hexdigest()


def corpus_files(corpus_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in corpus_dir.rglob("*")
        if path.is_file() and not path.name.startswith(".") and path.name not in NOT_DOCUMENTS
    )


def load_document(path: Path, corpus_dir: Path, source: dict[str, str] | None = None) -> Document:
    """One file -> one cleaned Document. Raises UnusableFile with the reason."""
    doc_id = path.relative_to(corpus_dir).as_posix()
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnusableFile(f"unsupported format {path.suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}")
    data = path.read_bytes()
    if not data.strip():
        raise UnusableFile("empty file")
    extracted = reader(data, doc_id)

    texts: list[str] = []
    page_starts: list[tuple[int, int]] = []
    section_starts: list[tuple[int, str]] = []
    first_cleaned: CleanedText | None = None
    offset = 0
    for number, page_text in enumerate(extracted.pages, start=1):
        cleaned = clean_text(page_text, extracted.headings)
        if not cleaned.text:
            continue
        first_cleaned = first_cleaned or cleaned
        if texts:
            offset += 2  # the blank line that joins pages
        if len(extracted.pages) > 1:
            page_starts.append((offset, number))
        section_starts.extend((offset + start, heading) for start, heading in cleaned.section_starts)
        texts.append(cleaned.text)
        offset += len(cleaned.text)
    if first_cleaned is None:
        raise UnusableFile("no article text left after removing page furniture")

    source = source or {}
    title = source.get("title") or extracted.title or derive_title(first_cleaned) or _title_from_name(path)
    return Document(
        id=doc_id,
        title=title,
        text="\n\n".join(texts),
        url=source.get("url") or extracted.url or None,
        page_starts=tuple(page_starts),
        section_starts=tuple(section_starts),
        content_hash=content_hash(data, source),
    )


def _title_from_name(path: Path) -> str:
    return re.sub(r"[_-]+", " ", path.stem).strip().capitalize()


def load_corpus(corpus_dir: Path) -> LoadResult:
    """Every usable document of the folder; unusable files are skipped with their reason."""
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"No corpus folder at {corpus_dir}/. Create it and put documents in it.")
    sources = read_sources(corpus_dir)
    result = LoadResult()
    for path in corpus_files(corpus_dir):
        doc_id = path.relative_to(corpus_dir).as_posix()
        try:
            result.documents.append(load_document(path, corpus_dir, sources.get(doc_id)))
        except UnusableFile as why:
            log.info("skipped %s: %s", doc_id, why)
            result.skipped.append(Skipped(doc_id, str(why)))
        except OSError as error:
            result.skipped.append(Skipped(doc_id, f"cannot read the file ({error.strerror})"))
    return result
