"""Crawling the clinic's website, against real sites on loopback: the clinic's on 127.0.0.2 (with
robots.txt, a sitemap, ETags and Last-Modified dates) and another site on 127.0.0.3 that must
never be asked for anything."""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import threading
import time

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.documents.crawl import ROBOTS_NAME, USER_AGENT, CrawlError, crawl_site, site_folder
from assistant.documents.load import load_corpus, read_sources
from assistant.lifecycle.status import read_status, status_path

ARTICLE = (
    "<!doctype html><html><head><title>{title} | Riverside Cancer Centre</title></head><body>"
    "<nav><a href='/'>Home</a> <a href='/contact'>Contact</a></nav><main><h1>{title}</h1><p>{text}</p>{links}</main>"
    "<footer>Registered charity 1098765</footer></body></html>"
)


def page(title: str, text: str, links: str = "") -> str:
    return ARTICLE.format(title=title, text=text, links=links)


class Site:
    """A website on a loopback address: `pages` maps a path to (content type, body); every
    request is logged with its conditional headers and user agent. Answers ETag and
    Last-Modified, and 304 when the page has not changed since."""

    def __init__(self, host: str) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.requests: list[dict] = []
        self.changed_at: dict[str, float] = {}
        self.down_with: int | None = None  # a status every request gets, as a failing server would
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("#")[0]
                record = {"path": path, "at": time.monotonic(), "agent": self.headers.get("User-Agent"),
                          "if-none-match": self.headers.get("If-None-Match"),
                          "if-modified-since": self.headers.get("If-Modified-Since"), "status": 200}
                site.requests.append(record)
                found = site.pages.get(path)
                if found is None or site.down_with:
                    self.send_response(site.down_with or 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                kind, body = found
                if kind.startswith("redirect:"):
                    self.send_response(301)
                    self.send_header("Location", kind.removeprefix("redirect:"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                modified = email.utils.formatdate(site.changed_at.get(path, 1_700_000_000), usegmt=True)
                if self.headers.get("If-None-Match") == etag:
                    record["status"] = 304
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.origin = f"http://{host}:{self._server.server_address[1]}"

    def put(self, path: str, body: str, kind: str = "text/html; charset=utf-8") -> None:
        self.pages[path] = (kind, body.encode("utf-8"))
        self.changed_at[path] = time.time()

    def paths_asked(self) -> list[str]:
        return [r["path"] for r in self.requests]

    def __enter__(self) -> "Site":
        threading.Thread(target=self._server.serve_forever, name="crawled-site", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def other_site():
    with Site("127.0.0.3") as site:
        site.put("/", page("Elsewhere", "Another organisation's page that the crawl must never fetch at all."))
        yield site


@pytest.fixture
def clinic(other_site):
    with Site("127.0.0.2") as site:
        site.put("/robots.txt", f"User-agent: *\nDisallow: /staff-only/\nSitemap: {site.origin}/sitemap.xml\n",
                 "text/plain")
        site.put("/sitemap.xml",
                 '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                 f"<url><loc>{site.origin}/liver-metastases</loc></url>"
                 f"<url><loc>{site.origin}/staff-only/rota</loc></url></urlset>", "application/xml")
        site.put("/", page("Patient information", "Our leaflets explain cancer that has spread and how it is treated.",
                           "<a href='/bone-metastases'>Bones</a> <a href='/staff-only/rota'>Rota</a> "
                           f"<a href='{other_site.origin}/'>A partner</a> <a href='mailto:x@example.org'>Mail</a> "
                           "<a href='/logo.png'>Logo</a> <a href='/old-page'>Old</a>"))
        site.put("/liver-metastases", page("Liver metastases", "Liver metastases are tumours that have spread to the "
                                           "liver from a cancer that started somewhere else in the body."))
        site.put("/bone-metastases", page("Bone metastases", "Bone metastases can weaken bones, so they break more "
                                          "easily; painkillers and radiotherapy help with the pain.",
                                          "<a href='/leaflets/bones.pdf'>Printable leaflet</a>"))
        site.put("/staff-only/rota", page("Rota", "The nursing rota for next week is on the shared drive."))
        site.put("/old-page", "", "redirect:/bone-metastases")
        from tests.conftest import TINY_CORPUS

        site.pages["/leaflets/bones.pdf"] = ("application/pdf", (TINY_CORPUS / "lungs.pdf").read_bytes())
        yield site


def crawl(site: Site, corpus, **options):
    return crawl_site(site.origin + "/", corpus, delay=options.pop("delay", 0.05), **options)


def test_sitemap_and_links_are_followed_on_the_same_host_only_as_robots_txt_allows(clinic, other_site, tmp_path):
    report = crawl(clinic, tmp_path)

    folder = site_folder(clinic.origin)
    assert sorted(report.new) == [f"{folder}/bone-metastases.html", f"{folder}/index.html",
                                  f"{folder}/leaflets/bones.pdf", f"{folder}/liver-metastases.html"]
    asked = clinic.paths_asked()
    assert "/liver-metastases" in asked  # from the sitemap only: no page links to it
    assert "/bone-metastases" in asked  # from a link only
    assert "/staff-only/rota" not in asked  # robots.txt: Disallow
    assert "/logo.png" not in asked  # not a page
    assert other_site.requests == []  # an off-site link is not followed
    assert any("robots.txt" in why for url, why in report.skipped if url.endswith("/staff-only/rota"))
    assert all(r["agent"] == USER_AGENT and ROBOTS_NAME in r["agent"] for r in clinic.requests)


def test_pages_are_stored_with_their_address_so_citations_link_back(clinic, tmp_path):
    crawl(clinic, tmp_path)

    sources = read_sources(tmp_path)
    docs = {d.id: d for d in load_corpus(tmp_path).documents}
    liver = f"{site_folder(clinic.origin)}/liver-metastases.html"
    assert sources[liver]["url"] == docs[liver].url == f"{clinic.origin}/liver-metastases"
    assert docs[liver].title == "Liver metastases"
    assert "charity" not in docs[liver].text and "Contact" not in docs[liver].text
    assert docs[f"{site_folder(clinic.origin)}/leaflets/bones.pdf"].url == f"{clinic.origin}/leaflets/bones.pdf"


def test_requests_go_one_at_a_time_with_the_delay_between_them(clinic, tmp_path):
    crawl(clinic, tmp_path, delay=0.2)

    times = [r["at"] for r in clinic.requests]
    assert len(times) >= 6
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert min(gaps) >= 0.19


def test_robots_txt_crawl_delay_is_honoured(clinic, tmp_path):
    clinic.put("/robots.txt", "User-agent: *\nCrawl-delay: 0.3\n", "text/plain")

    crawl(clinic, tmp_path, delay=0, max_pages=3)

    times = [r["at"] for r in clinic.requests]
    assert min(later - earlier for earlier, later in zip(times, times[1:])) >= 0.29


def test_a_second_crawl_fetches_only_the_changed_page(clinic, tmp_path):
    crawl(clinic, tmp_path)
    folder = site_folder(clinic.origin)
    untouched = {p: (tmp_path / p).stat().st_mtime_ns for p in (f"{folder}/index.html", f"{folder}/leaflets/bones.pdf")}
    clinic.requests.clear()
    clinic.put("/liver-metastases", page("Liver metastases", "Liver metastases are tumours that spread to the liver; "
                                         "this page was revised by the liver team this week."))

    report = crawl(clinic, tmp_path)

    assert report.changed == [f"{folder}/liver-metastases.html"]
    assert report.new == [] and report.removed == []
    assert len(report.unchanged) == 3
    stored = [r for r in clinic.requests if r["path"] in ("/", "/liver-metastases", "/bone-metastases",
                                                          "/leaflets/bones.pdf")]
    # Every stored page was asked for with its ETag and date; only the changed one came back whole.
    assert len(stored) == 4 and all(r["if-none-match"] and r["if-modified-since"] for r in stored)
    assert [r["path"] for r in stored if r["status"] == 200] == ["/liver-metastases"]
    assert "revised by the liver team" in (tmp_path / folder / "liver-metastases.html").read_text()
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in untouched} == untouched


def test_a_page_the_site_removed_is_removed_from_the_corpus(clinic, tmp_path):
    crawl(clinic, tmp_path)
    del clinic.pages["/liver-metastases"]

    report = crawl(clinic, tmp_path)

    liver = f"{site_folder(clinic.origin)}/liver-metastases.html"
    assert report.removed == [liver]
    assert not (tmp_path / liver).exists() and liver not in read_sources(tmp_path)


def test_max_pages_stops_the_crawl_and_says_so(clinic, tmp_path):
    report = crawl(clinic, tmp_path, max_pages=2)

    assert len(report.new) == 2
    assert any("--max-pages" in why for _url, why in report.skipped)


def test_a_site_whose_robots_txt_fails_is_not_crawled(clinic, tmp_path):
    clinic.down_with = 503  # RFC 9309: robots.txt unreadable for a server error means crawl nothing

    with pytest.raises(CrawlError, match="robots.txt must be readable"):
        crawl(clinic, tmp_path)

    assert clinic.paths_asked() == ["/robots.txt"]
    assert list(tmp_path.iterdir()) == []


def test_the_command_crawls_reports_and_leaves_a_status_for_the_console(clinic, tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"

    result = CliRunner().invoke(main, ["crawl", clinic.origin + "/", "--corpus", str(corpus), "--delay", "0.05",
                                       "--by", "j.smith"], env={"INDEX_DIR": str(index)})

    assert result.exit_code == 0, result.output
    assert "4 new" in result.output and "Run clinic-assistant build" in result.output
    status = read_status(status_path(index, "crawl"))
    assert status.state == "done" and status.by == "j.smith"
    assert any("4 new" in line for line in status.lines)
