"""The disclaimer on every path that answers: the same constant, word for word, through the HTTP
API (real HTTP on 127.0.0.1), the CLI, the chat page and the widget (Chromium).

Paths: a normal answer, nothing found, urgent, too long, over the rate limit, and failures
(the server's assistant raising, malformed requests of every status the API uses).
"""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from assistant.answer import Assistant
from assistant.cli import main
from assistant.render import escape_text
from assistant.texts import DISCLAIMER, SERVICE_ERROR
from tests.live_server import (
    ClinicSite,
    FailingAssistant,
    LoopbackOnly,
    chromium_context,
    clinic_page,
    needs_chromium,
    running_server,
)

NORMAL = "Where does breast cancer usually spread?"
ABSTAINED = "What is the best recipe for pancakes?"
URGENT = "My dad has bone metastases and suddenly can't feel his legs since this morning"
# Over MAX_QUESTION_CHARS (1,000), under the chat box's limit (2,000).
TOO_LONG = "where does it spread " * 60
ANSWERS = {"normal": NORMAL, "abstained": ABSTAINED, "urgent": URGENT, "too long": TOO_LONG}
# What each kind of answer must show besides the disclaimer, so a test cannot pass on the wrong path.
MARKS = {"normal": "[1]", "abstained": "I could not find this", "urgent": "may need urgent medical help",
         "too long": "longer than I can search"}

RENDERED = escape_text(DISCLAIMER)  # as it ends every chat message's markdown
BOT_MESSAGE = '[data-testid="bot"]'
ANSWER_MS = 60_000


@pytest.fixture(scope="module")
def servers(seed_settings, seed_assistant):
    """Three real servers: answering freely, one question a minute, and failing on every question."""
    site = ClinicSite("127.0.0.2")
    with (
        site,
        running_server(seed_settings.with_(rate_limit_per_minute=0, allowed_origins=(site.origin,)),
                       assistant=seed_assistant) as free,
        running_server(seed_settings.with_(rate_limit_per_minute=1), assistant=seed_assistant) as limited,
        running_server(seed_settings, assistant=FailingAssistant(seed_assistant)) as failing,
    ):
        site.pages["/"] = clinic_page(f'<script src="{free}/widget.js" defer></script>')
        yield {"free": free, "limited": limited, "failing": failing, "site": site.origin}


# --- the HTTP API ---


@pytest.mark.parametrize("kind", ANSWERS)
def test_api_answers_carry_the_disclaimer(servers, kind):
    response = httpx.post(f"{servers['free']}/api/ask", json={"question": ANSWERS[kind]}, timeout=60)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["disclaimer"] == DISCLAIMER
    assert body["answer_markdown"].endswith(RENDERED)
    assert MARKS[kind] in body["answer_markdown"].replace("\\", "")
    assert body["urgent"] is (kind == "urgent")


def _api_failures(servers) -> dict[int, httpx.Response]:
    free, failing = servers["free"], servers["failing"]
    with httpx.Client(timeout=60) as client:
        failures = {
            400: client.post(f"{free}/api/ask", content=b"{not json", headers={"Content-Type": "application/json"}),
            404: client.get(f"{free}/api/nothing-here"),
            405: client.get(f"{free}/api/ask"),
            413: client.post(f"{free}/api/ask", content=b"x" * (65 * 1024)),
            422: client.post(f"{free}/api/ask", json={"question": 5}),
            500: client.post(f"{failing}/api/ask", json={"question": NORMAL}),
        }
        # A second question within the minute, on the server that allows one.
        client.post(f"{servers['limited']}/api/ask", json={"question": NORMAL})
        failures[429] = client.post(f"{servers['limited']}/api/ask", json={"question": NORMAL})
    return failures


def test_every_api_error_carries_the_disclaimer(servers):
    for status, response in _api_failures(servers).items():
        assert response.status_code == status, (status, response.text)
        assert response.json()["disclaimer"] == DISCLAIMER, status
    # Refusals by the security guards: an unknown Host name, a site that is not allowed.
    unknown_host = httpx.post(f"{servers['free']}/api/ask", json={"question": NORMAL},
                              headers={"Host": "elsewhere.example"}, timeout=60)
    other_site = httpx.post(f"{servers['free']}/api/ask", json={"question": NORMAL},
                            headers={"Origin": "http://127.0.0.9:1"}, timeout=60)
    for response in (unknown_host, other_site):
        assert response.status_code in (400, 403), response.text
        assert response.json()["disclaimer"] == DISCLAIMER


def test_api_feedback_answers_carry_the_disclaimer(servers):
    stored = httpx.post(f"{servers['free']}/api/feedback", json={"doc_ids": ["bones.md"], "vote": "up"}, timeout=60)
    refused = httpx.post(f"{servers['free']}/api/feedback", json={"doc_ids": "bones.md", "vote": "up"}, timeout=60)

    assert stored.status_code == 200 and stored.json()["disclaimer"] == DISCLAIMER
    assert refused.status_code == 422 and refused.json()["disclaimer"] == DISCLAIMER


# --- the CLI ---


@pytest.fixture
def cli_assistant(monkeypatch):
    """Make `clinic-assistant ask` use the given assistant: the real one already loaded (a model
    load per command would take seconds), or one that fails."""

    def use(assistant) -> None:
        monkeypatch.setattr(Assistant, "load", classmethod(lambda cls, settings, **_: assistant))

    return use


@pytest.mark.parametrize("kind", ANSWERS)
def test_cli_answers_carry_the_disclaimer(cli_assistant, seed_assistant, kind):
    cli_assistant(seed_assistant)
    runner = CliRunner()

    plain = runner.invoke(main, ["ask", ANSWERS[kind]])
    as_json = runner.invoke(main, ["ask", "--json", ANSWERS[kind]])

    assert plain.exit_code == 0, plain.output
    assert plain.output.rstrip().endswith(RENDERED)
    assert MARKS[kind] in plain.output.replace("\\", "")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["disclaimer"] == DISCLAIMER


def test_cli_failure_shows_the_fixed_error_and_the_disclaimer(cli_assistant, seed_assistant):
    cli_assistant(FailingAssistant(seed_assistant))
    runner = CliRunner()

    plain = runner.invoke(main, ["ask", NORMAL])
    as_json = runner.invoke(main, ["ask", "--json", NORMAL])

    assert plain.exit_code == 1
    assert plain.output.rstrip().endswith(RENDERED) and escape_text(SERVICE_ERROR) in plain.output
    assert "Traceback" not in plain.output and "RuntimeError" not in plain.output
    assert as_json.exit_code == 1
    assert json.loads(as_json.output) == {"error": SERVICE_ERROR, "disclaimer": DISCLAIMER}


# --- the chat page and the widget, in Chromium ---


@pytest.fixture(scope="module")
def browser():
    with chromium_context() as context:
        loopback = LoopbackOnly(context)
        yield context
        assert loopback.elsewhere() == [], "a page tried to reach other hosts"


def _ask_in(frame, question: str):
    """Ask in a chat page (or the widget's frame); the locator of the answer, once it is there."""
    before = frame.locator(BOT_MESSAGE).count()
    box = frame.locator('textarea[data-testid="textbox"]')
    box.fill(question)
    box.press("Enter")
    answer = frame.locator(BOT_MESSAGE).nth(before)
    expect(answer).to_contain_text(DISCLAIMER, timeout=ANSWER_MS)
    return answer


@needs_chromium
@pytest.mark.parametrize("path", ["/", "/widget/"])
def test_chat_page_and_widget_page_show_the_disclaimer_on_every_answer(browser, servers, path):
    page = browser.new_page()
    page.goto(servers["free"] + path)
    expect(page.locator("#disclaimer")).to_contain_text(DISCLAIMER)  # before any question
    for kind, question in ANSWERS.items():
        expect(_ask_in(page, question)).to_contain_text(MARKS[kind])
    page.goto(servers["failing"] + path)
    expect(_ask_in(page, NORMAL)).to_contain_text(SERVICE_ERROR)
    page.goto(servers["limited"] + path)
    _ask_in(page, NORMAL)
    expect(_ask_in(page, NORMAL)).to_contain_text("Please wait")
    page.close()


@needs_chromium
def test_widget_on_a_clinic_site_shows_the_disclaimer(browser, servers):
    page = browser.new_page()
    page.goto(servers["site"])
    page.get_by_role("button", name="Ask a question").click()
    expect(page.locator("#clinic-assistant")).to_have_attribute("data-state", "ready", timeout=ANSWER_MS)
    frame = page.frame_locator("#clinic-assistant iframe")

    expect(frame.locator("#disclaimer")).to_contain_text(DISCLAIMER)
    expect(_ask_in(frame, URGENT)).to_contain_text(MARKS["urgent"])
    page.close()
