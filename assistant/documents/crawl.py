"""The clinic's own website -> its pages in corpus/web/<host>/, each with its address in sources.csv.

Polite and narrow: the start page's host only; robots.txt obeyed (Protego, Scrapy's parser, with
its wildcards and Crawl-delay); one request at a time, `delay` seconds apart (longer if robots.txt
asks); a user agent that says who is asking. Pages come from the sitemap (given, or named in
robots.txt, or /sitemap.xml; parsed by ultimate-sitemap-parser) and from the links of the pages
fetched, up to `max_pages`. HTML pages, PDFs and Word files are kept; anything else is skipped.

A re-crawl is cheap: each stored page's ETag and Last-Modified are sent back (If-None-Match,
If-Modified-Since), so an unchanged page answers 304 with no body and its file is not touched;
a page served again with the same bytes is not rewritten either. Only a changed page gets a new
file, so the next build embeds only that. A page the site now answers 404 or 410 for is removed.
The page's address goes in sources.csv, so its passages cite the page itself.

Entry point: `crawl_site(start_url, corpus_dir, sitemap=None, max_pages=200, delay=1.0) -> CrawlReport`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit, urlunsplit

import httpx

from . import corpus

log = logging.getLogger(__name__)

# Robots.txt rules are matched against this name; the user agent names it and says why we ask.
ROBOTS_NAME = "clinic-assistant"
USER_AGENT = f"{ROBOTS_NAME}/0.1 (fetches the clinic's own pages for its patient information assistant)"
WEB_FOLDER = "web"
STATE_FILE = ".crawl.json"  # a dot file: never read as a document
DEFAULT_MAX_PAGES = 200
DEFAULT_DELAY = 1.0
# A patient leaflet is a few hundred KB; a page over this is a video or an archive, not read.
MAX_BYTES = 20 * 1024 * 1024
TIMEOUT = 20.0
# Sitemaps that list sitemaps: deep enough for any CMS (WordPress: index -> post type -> pages).
MAX_SITEMAP_DEPTH = 3
MAX_SITEMAPS = 50
_KEPT_TYPES = {"text/html": ".html", "application/xhtml+xml": ".html", "application/pdf": ".pdf",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx"}
# Links to these are not pages: not even asked for.
_NOT_PAGES = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|ico|css|js|mjs|json|xml|zip|gz|mp[34]|avi|mov|webm|woff2?|ttf)$",
                        re.I)
_UNSAFE_SEGMENT = re.compile(r"[^\w.-]+")


class CrawlError(RuntimeError):
    """The site cannot be crawled at all; the message says why and what to do."""


@dataclass
class CrawlReport:
    site: str
    new: list[str] = field(default_factory=list)  # document ids (files under the corpus folder)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (url, why)
    requests: int = 0
    seconds: float = 0.0

    def summary_lines(self) -> list[str]:
        lines = [f"Crawled {self.site}: {len(self.new)} new, {len(self.changed)} changed, {len(self.unchanged)} "
                 f"unchanged, {len(self.removed)} removed, {len(self.skipped)} skipped; {self.requests} requests in "
                 f"{self.seconds:.1f} s."]
        lines += [f"  + {doc_id}" for doc_id in self.new]
        lines += [f"  ~ {doc_id}" for doc_id in self.changed]
        lines += [f"  - {doc_id}: the site no longer has it" for doc_id in self.removed]
        lines += [f"  ! {url}: {why}" for url, why in self.skipped]
        if self.new or self.changed or self.removed:
            lines.append("Run clinic-assistant build (or Rebuild in the staff console) to serve the changes.")
        return lines


def site_folder(start_url: str) -> str:
    """The folder under the corpus that holds a site's pages: web/<host>[_<port>]."""
    parts = urlsplit(normalise(start_url) or "")
    if not parts.hostname:
        raise CrawlError(f"{start_url!r} is not a web address; give one like https://www.example-clinic.org/")
    return f"{WEB_FOLDER}/{parts.hostname}" + (f"_{parts.port}" if parts.port else "")


def normalise(url: str) -> str | None:
    """An absolute http(s) URL without fragment and default port, scheme and host in lower case;
    None for anything else (mailto:, javascript:, a bare word)."""
    url, _fragment = urldefrag(url.strip())
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    netloc = parts.hostname + (f":{port}" if port and port != default else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def crawl_site(start_url: str, corpus_dir: Path, *, sitemap: str | None = None, max_pages: int = DEFAULT_MAX_PAGES,
               delay: float = DEFAULT_DELAY, on_page: Callable[[str, str], None] | None = None,
               transport: httpx.BaseTransport | None = None) -> CrawlReport:
    """Fetch the site's pages into `corpus_dir`; `on_page(url, outcome)` hears of each one."""
    start = normalise(start_url)
    if start is None:
        raise CrawlError(f"{start_url!r} is not a web address; give one like https://www.example-clinic.org/")
    started = time.perf_counter()
    folder = site_folder(start)
    with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=TIMEOUT, follow_redirects=False,
                      transport=transport) as client:
        crawl = _Crawl(start, corpus_dir, folder, client, delay, on_page or (lambda url, outcome: None))
        crawl.run(sitemap, max_pages)
    crawl.report.seconds = time.perf_counter() - started
    log.info("crawled %s: %d new, %d changed, %d unchanged, %d removed, %d skipped, %d requests",
             crawl.report.site, len(crawl.report.new), len(crawl.report.changed), len(crawl.report.unchanged),
             len(crawl.report.removed), len(crawl.report.skipped), crawl.report.requests)
    return crawl.report


class _Crawl:
    def __init__(self, start: str, corpus_dir: Path, folder: str, client: httpx.Client, delay: float,
                 on_page: Callable[[str, str], None]) -> None:
        self.start = start
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(start))
        self.host = urlsplit(start).netloc
        self.corpus_dir = corpus_dir
        self.folder = folder
        self.client = client
        self.delay = delay
        self.on_page = on_page
        self.report = CrawlReport(site=self.origin)
        self.state_path = corpus_dir / folder / STATE_FILE
        self.state: dict[str, dict] = self._read_state()
        self.robots = None
        self._last_request = 0.0

    # --- the crawl ---

    def run(self, sitemap: str | None, max_pages: int) -> None:
        self.robots = self._read_robots()
        self.delay = max(self.delay, self.robots.crawl_delay(ROBOTS_NAME) or 0.0)
        queue = [self.start]
        seen = {self.start}
        sitemaps = [sitemap] if sitemap else list(self.robots.sitemaps) or [f"{self.origin}/sitemap.xml"]
        for url in self._sitemap_pages(sitemaps, explicit=bool(sitemap)):
            if url not in seen:
                seen.add(url)
                queue.append(url)
        fetched = 0
        try:
            while queue and fetched < max_pages:
                url = queue.pop(0)
                if not self.robots.can_fetch(url, ROBOTS_NAME):
                    self._skip(url, "robots.txt asks not to fetch it")
                    continue
                fetched += 1
                for link in self._visit(url):
                    if link not in seen:
                        seen.add(link)
                        queue.append(link)
            if queue:
                self._skip(queue[0], f"not fetched: the crawl stops at {max_pages} pages (--max-pages), "
                                     f"{len(queue)} left")
        finally:
            self._write_state()

    def _visit(self, url: str) -> list[str]:
        """Fetch one page, store it if it is new or changed; return the same-site links it has."""
        known = self.state.get(url)
        headers = {}
        if known and (self.corpus_dir / known["file"]).is_file():
            if known.get("etag"):
                headers["If-None-Match"] = known["etag"]
            if known.get("last_modified"):
                headers["If-Modified-Since"] = known["last_modified"]
        try:
            status, response_headers, body = self._get(url, headers)
        except _TooLarge:
            self._skip(url, f"larger than {MAX_BYTES // (1024 * 1024)} MB")
            return []
        except httpx.HTTPError as error:
            self._skip(url, f"could not be fetched ({type(error).__name__})")
            return []
        if status == 304 and known:
            self._done(url, "unchanged", known["file"], self.report.unchanged)
            return self._links_of(known["file"], url)
        if status in (301, 302, 303, 307, 308):
            target = normalise(urljoin(url, response_headers.get("location", "")))
            if target is None or not self._on_site(target):
                self._skip(url, "redirects to another site")
                return []
            return [target]
        if status in (404, 410):
            if known:
                self._remove(url, known)
            else:
                self._skip(url, f"the site answered {status}")
            return []
        if status != 200:
            self._skip(url, f"the site answered {status}")
            return []
        media_type = response_headers.get("content-type", "").split(";")[0].strip().lower()
        suffix = _KEPT_TYPES.get(media_type)
        if suffix is None:
            self._skip(url, f"not a page or document ({media_type or 'no type'})")
            return []
        digest = hashlib.sha256(body).hexdigest()
        doc_id = known["file"] if known and known["file"].endswith(suffix) else self._file_for(url, suffix)
        entry = {"file": doc_id, "sha256": digest, "etag": response_headers.get("etag"),
                 "last_modified": response_headers.get("last-modified")}
        if known and known.get("sha256") == digest and (self.corpus_dir / doc_id).is_file():
            self.state[url] = entry
            self._done(url, "unchanged", doc_id, self.report.unchanged)
        else:
            corpus.save_document(self.corpus_dir, doc_id, body)
            corpus.set_sources(self.corpus_dir, {doc_id: {"url": url}})
            self.state[url] = entry
            self._done(url, "changed" if known else "new", doc_id, self.report.changed if known else self.report.new)
        return _links(body, url, self._on_site) if suffix == ".html" else []

    # --- HTTP, one request at a time ---

    def _get(self, url: str, headers: dict[str, str]) -> tuple[int, httpx.Headers, bytes]:
        wait = self._last_request + self.delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.report.requests += 1
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                chunks, size = [], 0
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_BYTES:
                    raise _TooLarge
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise _TooLarge
                    chunks.append(chunk)
                return response.status_code, response.headers, b"".join(chunks)
        finally:
            self._last_request = time.monotonic()

    def _read_robots(self):
        from protego import Protego

        url = f"{self.origin}/robots.txt"
        try:
            status, _headers, body = self._get(url, {})
        except (httpx.HTTPError, _TooLarge) as error:
            raise CrawlError(f"{self.origin} could not be reached ({type(error).__name__}); check the address "
                             "and that this server may reach it.") from None
        if status >= 500:
            # RFC 9309: a robots.txt that cannot be read for a server error means "crawl nothing".
            raise CrawlError(f"{url} answered {status}; robots.txt must be readable before the site is crawled. "
                             "Try again later.")
        return Protego.parse(body.decode("utf-8", "replace") if status == 200 else "")

    def _sitemap_pages(self, urls: list[str], *, explicit: bool) -> list[str]:
        """The same-site page URLs that the sitemaps (and the sitemaps they list) name."""
        from usp.objects.sitemap import IndexXMLSitemap, InvalidSitemap
        from usp.tree import sitemap_from_str

        pages: list[str] = []
        todo, done = [(url, 0) for url in urls], set()
        while todo and len(done) < MAX_SITEMAPS:
            url, depth = todo.pop(0)
            url = normalise(url)
            if url is None or url in done or not self._on_site(url):
                continue
            done.add(url)
            try:
                status, _headers, body = self._get(url, {})
            except (httpx.HTTPError, _TooLarge) as error:
                self._skip(url, f"sitemap could not be fetched ({type(error).__name__})")
                continue
            if status != 200:
                if explicit:
                    self._skip(url, f"sitemap: the site answered {status}")
                continue
            if body[:2] == b"\x1f\x8b":  # sitemap.xml.gz
                try:
                    body = gzip.decompress(body)
                except (OSError, EOFError):
                    self._skip(url, "sitemap: not readable gzip")
                    continue
            parsed = sitemap_from_str(body.decode("utf-8", "replace"))
            if isinstance(parsed, IndexXMLSitemap):
                todo += [(sub.url, depth + 1) for sub in parsed.sub_sitemaps if depth + 1 <= MAX_SITEMAP_DEPTH]
            elif isinstance(parsed, InvalidSitemap):
                self._skip(url, "sitemap: not a sitemap")
            else:
                pages += [page for page in (normalise(p.url) for p in parsed.all_pages())
                          if page and self._on_site(page) and not _NOT_PAGES.search(urlsplit(page).path)]
        return pages

    # --- bookkeeping ---

    def _on_site(self, url: str) -> bool:
        return urlsplit(url).netloc == self.host

    def _file_for(self, url: str, suffix: str) -> str:
        """web/<host>/<path>: the URL's path in safe segments, with `suffix`; a query or a name
        another URL already has gets a short hash of the URL."""
        parts = urlsplit(url)
        segments = [_UNSAFE_SEGMENT.sub("-", unquote(s)).strip("-.")[:80] or "-" for s in parts.path.split("/") if s]
        if not segments or parts.path.endswith("/"):
            segments.append("index")
        stem = segments[-1]
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
        taken = {entry["file"] for other, entry in self.state.items() if other != url}
        name = f"{self.folder}/{'/'.join([*segments[:-1], stem])}"
        if parts.query or f"{name}{suffix}" in taken:
            name += "-" + hashlib.sha1(url.encode()).hexdigest()[:8]
        return name + suffix

    def _links_of(self, doc_id: str, url: str) -> list[str]:
        path = self.corpus_dir / doc_id
        return _links(path.read_bytes(), url, self._on_site) if doc_id.endswith(".html") and path.is_file() else []

    def _remove(self, url: str, known: dict) -> None:
        try:
            corpus.remove_document(self.corpus_dir, known["file"])
        except corpus.CorpusChangeRefused:
            pass  # already gone
        del self.state[url]
        self._done(url, "removed", known["file"], self.report.removed)

    def _done(self, url: str, outcome: str, doc_id: str, bucket: list[str]) -> None:
        bucket.append(doc_id)
        self.on_page(url, outcome)

    def _skip(self, url: str, why: str) -> None:
        self.report.skipped.append((url, why))
        self.on_page(url, f"skipped: {why}")

    def _read_state(self) -> dict[str, dict]:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_state(self) -> None:
        data = json.dumps(self.state, indent=1, sort_keys=True).encode("utf-8")
        corpus.save_document(self.corpus_dir, f"{self.folder}/{STATE_FILE}", data)


class _TooLarge(Exception):
    pass


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "base" and values.get("href"):
            self.base = values["href"]
        elif tag == "a" and values.get("href") and "nofollow" not in (values.get("rel") or "").lower():
            self.hrefs.append(values["href"])


def _links(page: bytes, url: str, on_site: Callable[[str], bool]) -> list[str]:
    """The page's links to other pages of the same site, absolute and without fragments."""
    parser = _Links()
    parser.feed(page.decode("utf-8", "replace"))
    base = urljoin(url, parser.base) if parser.base else url
    links = []
    for href in parser.hrefs:
        link = normalise(urljoin(base, href))
        if link and on_site(link) and not _NOT_PAGES.search(urlsplit(link).path):
            links.append(link)
    return list(dict.fromkeys(links))
