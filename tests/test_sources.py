"""Citations that open the source: GET /sources/<doc id> serves the files of the index, and no other.

A real index of a small corpus (a PDF, a Word file, a web page with a script, a text with its
web address, a file in a sub-folder) behind a real server on loopback.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
from urllib.parse import urlsplit

import httpx
import pytest

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.lifecycle.build import build_index
from tests.conftest import TINY_CORPUS
from tests.live_server import running_server
from tests.test_formats import write_leaflet

SCRIPTED_PAGE = (
    "<html><head><title>Brain metastases</title></head><body><h1>Brain metastases</h1>"
    "<p>Brain metastases are tumours that have spread to the brain from a cancer elsewhere in the body.</p>"
    "<script>document.title = 'ran'</script><img src='http://127.0.0.9/pixel.gif' alt=''></body></html>"
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources") / "corpus"
    (folder / "leaflets").mkdir(parents=True)
    shutil.copy(TINY_CORPUS / "lungs.pdf", folder / "lungs.pdf")
    shutil.copy(TINY_CORPUS / "liver.txt", folder / "liver.txt")  # front matter with its web address
    write_leaflet(folder / "leaflets" / "liver leaflet.docx")
    (folder / "brain.html").write_text(SCRIPTED_PAGE, encoding="utf-8")
    (tmp_path_factory.getbasetemp() / "secret.txt").write_text("not a document of the clinic", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def base_url(corpus, embedder):
    settings = Settings(corpus_dir=corpus, index_dir=corpus.parent / "index")
    build_index(settings, embedder=embedder)
    # After the build: in the corpus folder, but not in the index.
    (corpus / "new.txt").write_text("Written after the build, so not in the index yet.", encoding="utf-8")
    os.symlink(corpus.parent.parent / "secret.txt", corpus / "elsewhere.txt")
    with running_server(settings, assistant=Assistant.load(settings, embedder=embedder)) as url:
        yield url


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


def test_every_passage_links_to_its_source_and_a_pdf_to_its_page(base_url):
    body = httpx.post(f"{base_url}/api/ask", json={"question": "How is fluid around the lungs drained?"}, timeout=60).json()
    pdf = [p for p in body["passages"] if p["doc_id"] == "lungs.pdf"]

    assert pdf and pdf[0]["url"] is None
    assert pdf[0]["source_url"] == f"{base_url}/sources/lungs.pdf#page={pdf[0]['page']}"
    response = get(pdf[0]["source_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == (TINY_CORPUS / "lungs.pdf").read_bytes()


def test_a_web_page_s_passage_links_to_the_page_itself(base_url):
    body = httpx.post(f"{base_url}/api/ask", json={"question": "Why does the liver swell with metastases?"}, timeout=60).json()
    liver = [p for p in body["passages"] if p["doc_id"] == "liver.txt"]

    assert liver and liver[0]["url"] == liver[0]["source_url"] == "https://clinic.example.org/liver-metastases"


def test_a_word_file_downloads_under_its_own_name(base_url, corpus):
    response = get(f"{base_url}/sources/leaflets/liver%20leaflet.docx")

    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert "liver%20leaflet.docx" in response.headers["content-disposition"]
    assert response.content == (corpus / "leaflets" / "liver leaflet.docx").read_bytes()


def test_a_served_web_page_is_sandboxed_and_its_script_gets_no_nonce(base_url):
    response = get(f"{base_url}/sources/brain.html")

    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script>document.title" in response.text  # as the clinic gave it, never with a nonce


@pytest.mark.parametrize("path", [
    "new.txt",  # in the folder but not in the index
    "elsewhere.txt",  # a link out of the corpus folder
    "../secret.txt", "..%2Fsecret.txt", "%2e%2e/secret.txt", "leaflets/../../secret.txt",
    "/etc/passwd", "%2Fetc%2Fpasswd", "checks.tsv", "", "leaflets/",
])
def test_nothing_but_the_files_of_the_index_is_served(base_url, path):
    # http.client sends the path as written; httpx would resolve the dots first.
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request("GET", f"/sources/{path}")
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()

    assert response.status == 404
    assert json.loads(body)["error"] == "There is no such document in the clinic's collection."
    assert "not a document of the clinic" not in body and "root:" not in body


def test_sources_are_read_only(base_url):
    response = httpx.post(f"{base_url}/sources/lungs.pdf", content=b"x", timeout=30)

    assert response.status_code == 405
