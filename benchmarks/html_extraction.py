"""Which main-text extractor for HTML pages: today's html.parser + line heuristics, or trafilatura?

Prints, per extractor, how much of the article each keeps and how much page furniture it lets
through (it asserts nothing). Two page sets:

1. Clinic pages (always): the article text of cancer.gov patient pages
   (`../shared/eval/dev/medquad_cancergov_pages`, words nobody on the team wrote) laid out in four
   kinds of clinic website (semantic HTML5, a WordPress-like theme with comments, an old table
   layout, a page builder's nested divs), with page furniture around and inside the article:
   - "seen": blocks from the saved clinic pages in corpus/ (menus, a directory of specialists,
     metro stations, reader questions, reviews, related links, tags, an author box, a call-back
     form, counters). The heuristics in assistant/documents/clean.py were tuned on these.
   - "unseen": blocks typical of clinic sites that neither extractor was tuned on (cookie
     banner, breadcrumbs, "was this page helpful", share buttons, review dates, footer with
     address and registered charity number, a patient testimonial, events). Written for this
     benchmark, so team-written; reported apart.
   Figures: share of article sentences kept (recall), share of article headings kept, share of
   furniture blocks dropped, per set.
2. Real news pages with a hand-made gold article body (`--aeb DIR`: a checkout of
   scrapinghub/article-extraction-benchmark, MIT licence, 181 pages): that benchmark's own
   measure, precision/recall/F1 of word 4-gram shingles.

    python benchmarks/html_extraction.py
    python benchmarks/html_extraction.py --aeb /path/to/article-extraction-benchmark
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.documents.load import UnusableFile, load_document  # noqa: E402

PAGES = ROOT.parent / "shared" / "eval" / "dev" / "medquad_cancergov_pages" / "docs.jsonl"
SEED = ROOT / "corpus"
PAGE_COUNT = 40
SECTIONS_PER_PAGE = 6


# --- extractors ---------------------------------------------------------------------------------


def heuristics(page: str) -> str:
    """Today's pipeline: assistant/documents/load.py reads the page, clean.py keeps the article."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "page.html"
        path.write_text(page, encoding="utf-8")
        try:
            return load_document(path, Path(folder)).text
        except UnusableFile:
            return ""


def trafilatura_text(page: str) -> str:
    import trafilatura  # not a dependency of the assistant: pip install trafilatura lxml_html_clean

    return trafilatura.extract(page, output_format="txt", include_comments=False, include_tables=True,
                               with_metadata=False) or ""


def trafilatura_recall(page: str) -> str:
    """trafilatura told to prefer keeping text to dropping it."""
    import trafilatura

    return trafilatura.extract(page, output_format="txt", include_comments=False, include_tables=True,
                               with_metadata=False, favor_recall=True) or ""


def trafilatura_then_heuristics(page: str) -> str:
    """trafilatura's main text, then the line heuristics on it (phones, calls to action...)."""
    from assistant.documents.clean import clean_text

    return clean_text(trafilatura_text(page)).text


EXTRACTORS = {
    "html.parser + markup + line rules": heuristics,
    "trafilatura": trafilatura_text,
    "trafilatura, favor_recall": trafilatura_recall,
    "trafilatura + heuristics": trafilatura_then_heuristics,
}


# --- furniture ------------------------------------------------------------------------------------


def _seed_line(prefix: str) -> str:
    """The whole line of a seed page that starts with `prefix` (real furniture, verbatim)."""
    for path in sorted(SEED.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith(prefix):
                return line.strip()
    raise SystemExit(f"no line starting {prefix!r} in {SEED}/")


def seen_furniture() -> dict[str, list[str]]:
    """kind -> the lines of one block, from the seed pages."""
    return {
        "opening hours": ["Mon - Sat from 09:00 to 20:00", "Sun - closed"],
        "menu": ["About Us", "For patients", "For doctors", "Oncology treatment"],
        "specialists": [_seed_line("search for a specialist or service:")],
        "metro": [_seed_line("Search by Moscow metro station:")],
        "reader question": ["Reader Questions", _seed_line("18 October 2013, 17:25"), "Ask a Question"],
        "related": ["Continuing the topic of the article:", "September 23 – World Breast Cancer Day",
                    "Hereditary breast cancer is aggressive and requires complex treatment",
                    "How to care for an open breast cancer lump"],
        "tags": ["topic tags: cancer, cancer treatment, metastases"],
        "reviews": ["Anonymous reviews", _seed_line("Anonymously. A friend was first diagnosed"),
                    _seed_line("Anonymously. The grandmother lived")],
        "author": ["Author of the article:", "Aleksanyan Aleksan Zavenovich"],
        "doctors": ["Our doctors", _seed_line("Every year our doctors undergo")],
        "call back": ["Request a call back", _seed_line("Leave your name and telephone number"),
                      _seed_line("By leaving your data here")],
        "questions to explore": ["10 Related Questions to Explore:",
                                 "What are the latest breakthroughs in metastatic cancer treatment?",
                                 "How does immunotherapy work for metastatic cancers?"],
        "counter": ["Öffentlich·19 Mitglieder", "1 Ansicht"],
        "copyright": [_seed_line("2024 “kingad.ru”")],
        "appointment": [_seed_line("Thus, treatment of cancer with metastases is not a myth").split(". ")[-1]],
    }


UNSEEN = {
    "skip link": ["Skip to main content"],
    "nav": ["Home", "Our services", "Find a consultant", "Patients and visitors", "Research", "Careers", "Donate"],
    "breadcrumbs": ["Home › Patient information › Cancer types"],
    "cookies": ["We use cookies to give you the best experience of our website.", "Accept all", "Manage preferences"],
    "helpful": ["Was this page helpful?", "Yes", "No"],
    "share": ["Share this page:", "Facebook", "LinkedIn", "Email"],
    "review dates": ["Last reviewed: 12 March 2024. Next review due: March 2027."],
    "related pages": ["Related pages", "Living with cancer", "Support groups near you", "Paying for treatment"],
    "newsletter": ["Sign up to our newsletter for the latest news from the centre."],
    "address": ["Riverside Cancer Centre, 14 Mill Road, Northtown NT1 4AB", "Switchboard: 0161 555 0123"],
    "charity": ["© 2025 Riverside Cancer Centre. Registered charity no. 1098765.", "Accessibility statement",
                "Privacy notice", "Freedom of information"],
    "booking": ["Need to change your appointment? Call the booking team on 0161 555 0199, Monday to Friday, "
                "8am to 6pm."],
    "testimonial": ["“The nurses were wonderful and explained everything to me. I felt I was in safe hands.” "
                    "Margaret, 67"],
    "events": ["Upcoming events", "Coffee morning for carers, Thursday 10:30", "Walk for the centre, Sunday 9:00"],
}


# --- pages ----------------------------------------------------------------------------------------


def article_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) sections of a cancer.gov page as MedQuAD stores it: blocks separated
    by a blank line, the first line of each its heading; "- " items become list items."""
    sections = []
    for block in text.split("\n\n")[1 : SECTIONS_PER_PAGE + 1]:  # the first block is a summary list
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if len(lines) < 2:
            continue
        heading, body = lines[0], lines[1:]
        sections.append((heading, body))
    return sections


def _paragraph_html(paragraph: str) -> str:
    lead, _, items = paragraph.partition(": - ")
    if not items:
        return f"<p>{html.escape(paragraph)}</p>"
    lis = "".join(f"<li>{html.escape(item.strip())}</li>" for item in items.split(" - ") if item.strip())
    return f"<p>{html.escape(lead)}:</p><ul>{lis}</ul>"


def _lines(block: list[str], tag: str = "p") -> str:
    return "".join(f"<{tag}>{html.escape(line)}</{tag}>" for line in block)


def _list(block: list[str]) -> str:
    return "<ul>" + "".join(f'<li><a href="/{i}">{html.escape(line)}</a></li>' for i, line in enumerate(block)) + "</ul>"


def render_page(layout: int, title: str, sections, furniture: dict[str, list[str]]) -> str:
    """One page in one of four layouts; furniture blocks go where such sites put them."""
    f = dict(furniture)
    take = lambda *kinds: [f.pop(k) for k in kinds if k in f]  # noqa: E731
    body_sections = []
    for number, (heading, paragraphs) in enumerate(sections):
        inner = "".join(_paragraph_html(p) for p in paragraphs)
        # Inside the article, between sections: booking banners, a testimonial, an appointment line.
        inline = take(*("booking", "appointment", "testimonial")[number : number + 1]) if number in (1, 2, 3) else []
        extra = "".join(f'<div class="callout">{_lines(block)}</div>' for block in inline)
        body_sections.append((heading, inner, extra))
    top = take("skip link", "cookies", "opening hours", "nav", "menu", "breadcrumbs")
    after = take("helpful", "share", "review dates", "author", "tags", "related", "reader question", "reviews",
                 "questions to explore", "counter")
    side = take("related pages", "events", "newsletter", "doctors", "call back", "specialists", "metro")
    bottom = take("address", "charity", "copyright")
    head = f"<head><meta charset='utf-8'><title>{html.escape(title)} | Riverside Cancer Centre</title></head>"

    if layout == 0:  # semantic HTML5
        article = "".join(f"<section><h2>{html.escape(h)}</h2>{inner}{extra}</section>" for h, inner, extra in body_sections)
        return (f"<!doctype html><html lang='en'>{head}<body><header>"
                + "".join(f"<nav>{_list(b)}</nav>" if len(b) > 2 else f"<div class='banner'>{_lines(b)}</div>" for b in top)
                + f"</header><main><article><h1>{html.escape(title)}</h1>{article}"
                + "".join(f"<div class='after'>{_lines(b[:1], 'h3')}{_lines(b[1:])}</div>" for b in after)
                + "</article><aside>" + "".join(f"<section>{_lines(b[:1], 'h3')}{_list(b[1:])}</section>" for b in side)
                + "</aside></main><footer>" + "".join(_lines(b) for b in bottom) + "</footer></body></html>")
    if layout == 1:  # a WordPress-like theme: reader content in a comments list
        article = "".join(f"<h2>{html.escape(h)}</h2>{inner}{extra}" for h, inner, extra in body_sections)
        comments = "".join(f"<div id='comments' class='comments-area'><h3>{html.escape(b[0])}</h3><ol class='comment-list'>"
                           + "".join(f"<li class='comment'><div class='comment-content'><p>{html.escape(c)}</p></div></li>"
                                     for c in b[1:]) + "</ol></div>" for b in after)
        return (f"<!doctype html><html lang='en'>{head}<body><div id='page'><div id='masthead' class='site-header'>"
                + "".join(f"<div class='menu-main-container'>{_list(b)}</div>" for b in top)
                + "</div><div id='content'><div id='primary' class='content-area'><div class='entry-content'>"
                + f"<h1 class='entry-title'>{html.escape(title)}</h1>{article}</div>{comments}</div>"
                + "<div id='secondary' class='widget-area'>" + "".join(
                    f"<div class='widget'><h3 class='widget-title'>{html.escape(b[0])}</h3>{_list(b[1:])}</div>" for b in side)
                + "</div></div><div id='colophon' class='site-footer'>" + "".join(_lines(b) for b in bottom)
                + "</div></div></body></html>")
    if layout == 2:  # an old table layout, text broken with <br>
        article = "".join(f"<font size='4'><b>{html.escape(h)}</b></font><br>{inner}{extra}" for h, inner, extra in body_sections)
        cells = "".join("<br>".join(html.escape(x) for x in b) + "<br><br>" for b in top + side)
        return (f"<html>{head}<body><table width='100%'><tr><td width='200' valign='top'>{cells}</td>"
                + f"<td valign='top'><h1>{html.escape(title)}</h1>{article}"
                + "".join("<br>".join(html.escape(x) for x in b) + "<br><br>" for b in after)
                + "</td></tr><tr><td colspan='2'>" + "<br>".join(html.escape(x) for b in bottom for x in b)
                + "</td></tr></table></body></html>")
    # layout 3: a page builder, every block in anonymous nested divs, reader content inline
    def widget(inner_html: str) -> str:
        return f"<div class='e-con'><div class='e-con-inner'><div class='elementor-widget-container'>{inner_html}</div></div></div>"

    parts = [widget(_lines(b)) for b in top]
    parts.append(widget(f"<h1 class='elementor-heading-title'>{html.escape(title)}</h1>"))
    for h, inner, extra in body_sections:
        parts.append(widget(f"<h2 class='elementor-heading-title'>{html.escape(h)}</h2>"))
        parts.append(widget(inner + extra))
    parts += [widget(_lines(b)) for b in after + side + bottom]
    return f"<!doctype html><html lang='en'>{head}<body><div class='site'>{''.join(parts)}</div></body></html>"


def clinic_pages(seed: int = 16):
    """(page html, headings, article sentences, {block kind: (set, lines)}) for PAGE_COUNT pages."""
    from assistant.documents.clean import SENTENCE_SPLIT

    rng = random.Random(seed)
    docs = [json.loads(line) for line in PAGES.read_text(encoding="utf-8").splitlines()]
    docs = rng.sample(docs, min(PAGE_COUNT, len(docs)))
    seen = seen_furniture()
    for number, doc in enumerate(docs):
        sections = article_blocks(doc["text"])
        furniture = {kind: ("seen", lines) for kind, lines in rng.sample(sorted(seen.items()), 8)}
        furniture |= {kind: ("unseen", lines) for kind, lines in rng.sample(sorted(UNSEEN.items()), 8)}
        page = render_page(number % 4, doc["title"], sections, {k: v[1] for k, v in furniture.items()})
        sentences = [s for _h, paragraphs in sections for p in paragraphs
                     for piece in p.replace(": - ", ": \n").split(" - ") for s in SENTENCE_SPLIT.split(piece)
                     if len(s.split()) >= 5]
        yield page, [h for h, _ in sections], sentences, furniture


# --- measures -------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    text = text.replace("’", "'").replace("“", '"').replace("”", '"').replace("•", " ")
    return " ".join(re.sub(r"[^\w'\"]+", " ", text.lower()).split())


def measure_clinic(extract) -> dict[str, float]:
    kept = total = headings_kept = headings = 0
    dropped = Counter()
    blocks = Counter()
    seconds = []
    for page, page_headings, sentences, furniture in clinic_pages():
        started = time.perf_counter()
        out = _norm(extract(page))
        seconds.append(time.perf_counter() - started)
        kept += sum(_norm(s) in out for s in sentences)
        total += len(sentences)
        headings_kept += sum(_norm(h) in out for h in page_headings)
        headings += len(page_headings)
        for kind, (which, lines) in furniture.items():
            blocks[which] += 1
            # A block is dropped when none of its lines (of 2+ characters) got through as a
            # whole line; "Yes" inside an article sentence is not a leak, so match whole words.
            leaked = any(re.search(rf"(?:^| ){re.escape(_norm(line))}(?: |$)", out) for line in lines if len(_norm(line)) > 1)
            dropped[which] += not leaked
    return {"article sentences kept": kept / total, "headings kept": headings_kept / headings,
            "seen furniture dropped": dropped["seen"] / blocks["seen"],
            "unseen furniture dropped": dropped["unseen"] / blocks["unseen"],
            "ms per page (median)": statistics.median(seconds) * 1000}


def _shingles(text: str, n: int = 4) -> Counter:
    tokens = re.findall(r"\w+", text.lower())
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))


def measure_aeb(extract, folder: Path) -> dict[str, float]:
    """article-extraction-benchmark's measure: shingle precision/recall summed over all pages."""
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    tp = fp = fn = 0
    for key, gold in truth.items():
        page = gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8", "replace")
        true, pred = _shingles(gold.get("articleBody", "")), _shingles(extract(page))
        common = sum((true & pred).values())
        tp, fp, fn = tp + common, fp + sum(pred.values()) - common, fn + sum(true.values()) - common
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return {"precision": precision, "recall": recall, "F1": 2 * precision * recall / (precision + recall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--aeb", type=Path, help="a checkout of scrapinghub/article-extraction-benchmark")
    parser.add_argument("--save", type=Path, help="also write the clinic pages here (to look at them)")
    args = parser.parse_args()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for number, (page, *_rest) in enumerate(clinic_pages()):
            (args.save / f"page-{number:02d}.html").write_text(page, encoding="utf-8")
    extractors = dict(EXTRACTORS)
    try:
        import trafilatura  # noqa: F401
    except ImportError:
        print("(trafilatura is not installed: pip install trafilatura lxml_html_clean to compare with it)")
        extractors = {name: e for name, e in extractors.items() if "trafilatura" not in name}
    print(f"Clinic pages: {PAGE_COUNT} cancer.gov articles in 4 layouts, 8 seen + 8 unseen furniture blocks each")
    for name, extract in extractors.items():
        figures = measure_clinic(extract)
        print(f"  {name:<34} " + ", ".join(f"{k} {v:.1%}" if "ms" not in k else f"{k} {v:.1f}" for k, v in figures.items()))
    if args.aeb:
        print(f"article-extraction-benchmark ({args.aeb}): shingle precision / recall / F1")
        for name, extract in extractors.items():
            figures = measure_aeb(extract, args.aeb)
            print(f"  {name:<34} " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
