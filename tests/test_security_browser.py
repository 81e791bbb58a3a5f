"""Who may use the chat, and what a document can do to a page, in Chromium.

The assistant on 127.0.0.1 allows the clinic's site on 127.0.0.2; a site on 127.0.0.3 is not
allowed. Its index is built from tests/data/markup_corpus: a document whose text holds HTML
(a remote image, a form, a script) that must be shown as characters and never fetched or run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from assistant.config import Settings
from assistant.texts import DISCLAIMER
from tests.conftest import build_test_index
from tests.live_server import ClinicSite, clinic_page, needs_chromium, running_server

pytestmark = needs_chromium

MARKUP_CORPUS = Path(__file__).resolve().parent / "data" / "markup_corpus"
MARKUP_QUESTION = "Can a scan show whether cancer has spread to the bones?"
BOX = "#question textarea"
BOT_MESSAGE = '[data-testid="bot"]'
ANSWER_MS = 60_000
# POST /api/ask from a page's script: the JSON one needs a CORS preflight, the text/plain one is
# a "simple" request that a browser sends without asking first.
FETCH_FROM_PAGE = """async ([url, question]) => {
  const body = JSON.stringify({ question });
  const outcome = {};
  for (const type of ["application/json", "text/plain"]) {
    try {
      const response = await fetch(url, { method: "POST", headers: { "content-type": type }, body });
      const answer = await response.json();
      outcome[type] = `${response.status} ${answer.passages.length > 0 ? "with passages" : "without passages"}`;
    } catch (error) {
      outcome[type] = error.name;
    }
  }
  return outcome;
}"""


@pytest.fixture(scope="module")
def markup_settings(tmp_path_factory, embedder) -> Settings:
    return build_test_index(tmp_path_factory, "markup", MARKUP_CORPUS, embedder)[0]


@pytest.fixture(scope="module")
def allowed_site():
    with ClinicSite("127.0.0.2") as site:
        yield site


@pytest.fixture(scope="module")
def other_site():
    with ClinicSite("127.0.0.3") as site:
        yield site


@pytest.fixture(scope="module")
def assistant_url(markup_settings, embedder, allowed_site, other_site):
    from assistant.answer import Assistant

    settings = markup_settings.with_(allowed_origins=(allowed_site.origin,), rate_limit_per_minute=0)
    with running_server(settings, assistant=Assistant.load(settings, embedder=embedder)) as url:
        for site in (allowed_site, other_site):
            site.pages["/"] = clinic_page(f'<script src="{url}/widget.js" defer></script>')
        yield url


@pytest.fixture
def page(browser_context, loopback, assistant_url):
    page = browser_context.new_page()
    yield page
    page.close()
    assert loopback.elsewhere() == [], "the page tried to reach other hosts"


def test_site_not_allowed_cannot_show_the_framed_chat(page, other_site, assistant_url):
    page.goto(other_site.origin)

    with page.expect_console_message(lambda message: "frame-ancestors" in message.text):
        page.get_by_role("button", name="Ask a question").click()

    # Chromium replaced the frame's page with its error page: no chat, nothing to type into.
    assert [frame.url for frame in page.frames if frame.url.startswith(assistant_url)] == []
    expect(page.locator("#clinic-assistant")).to_have_attribute("data-state", "loading")


def test_site_not_allowed_cannot_call_the_api(page, other_site, assistant_url):
    page.goto(other_site.origin)

    outcome = page.evaluate(FETCH_FROM_PAGE, [f"{assistant_url}/api/ask", MARKUP_QUESTION])

    # The browser blocks both: the server answered 403 without Access-Control-Allow-Origin.
    assert outcome == {"application/json": "TypeError", "text/plain": "TypeError"}


def test_allowed_site_may_call_the_api(page, allowed_site, assistant_url):
    page.goto(allowed_site.origin)

    outcome = page.evaluate(FETCH_FROM_PAGE, [f"{assistant_url}/api/ask", MARKUP_QUESTION])

    assert outcome == {"application/json": "200 with passages", "text/plain": "200 with passages"}


@pytest.mark.parametrize("where", ["chat page", "widget on the clinic's site"])
def test_markup_in_a_document_is_shown_as_text_and_never_loaded(page, allowed_site, assistant_url, where):
    if where == "chat page":
        page.goto(assistant_url)
        chat = page
    else:
        page.goto(allowed_site.origin)
        page.get_by_role("button", name="Ask a question").click()
        expect(page.locator("#clinic-assistant")).to_have_attribute("data-state", "ready", timeout=ANSWER_MS)
        chat = page.frame_locator("#clinic-assistant iframe")
    chat.locator(BOX).fill(MARKUP_QUESTION)
    chat.locator(BOX).press("Enter")

    answer = chat.locator(BOT_MESSAGE).last

    expect(answer).to_contain_text(DISCLAIMER, timeout=ANSWER_MS)
    expect(answer).to_contain_text("<img src=//other.host/x>")
    expect(answer).to_contain_text("<form action=//other.host/post><input name=q></form>")
    expect(answer).to_contain_text('<script>document.title="scripted"</script>')
    expect(answer.locator("img[src*='other.host'], form, input, script")).to_have_count(0)
    assert answer.evaluate("element => element.ownerDocument.title") != "scripted"
    # and the page fixture checks that no request left loopback (other.host would have been one)
