"""The chat page in a real browser: Debian's Chromium driven by Playwright, a real server on loopback."""

from __future__ import annotations

import logging
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

from assistant.texts import DISCLAIMER, SERVICE_ERROR
from tests.live_server import FailingAssistant, running_server

CHROMIUM = Path("/usr/bin/chromium")
# Flags that work as root on these machines; no network but loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INPUT = 'textarea[data-testid="textbox"]'
BOT_MESSAGE = '[data-testid="bot"]'
ANSWER_SECONDS = 60  # the first question also warms up the model

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def base_url(seed_settings):
    with running_server(seed_settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser_context():
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="chat-browser-") as profile:
        # A fresh profile each run: nothing cached or stored from an earlier run.
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def failing_url(seed_settings, seed_assistant):
    with running_server(seed_settings, assistant=FailingAssistant(seed_assistant)) as url:
        yield url


@pytest.fixture
def page(browser_context, base_url):
    with chat_page(browser_context, base_url) as page:
        yield page


@pytest.fixture
def failing_page(browser_context, failing_url):
    with chat_page(browser_context, failing_url) as page:
        yield page


@contextmanager
def chat_page(context, url: str):
    """The chat open in a new tab that may reach only loopback; anything else fails the test."""
    page = context.new_page()
    elsewhere: list[str] = []

    def only_loopback(route):
        host = urlsplit(route.request.url).hostname
        if host is None or host.startswith("127."):  # None: data: and blob: URLs
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(url)
    page.locator(INPUT).wait_for()
    yield page
    page.close()
    assert elsewhere == [], f"the page tried to reach other hosts: {elsewhere}"


def ask(page, question: str):
    """Type a question, press Enter, and return the locator of the first answer."""
    page.locator(INPUT).fill(question)
    page.locator(INPUT).press("Enter")
    return page.locator(BOT_MESSAGE).first


def test_disclaimer_is_visible_before_any_question(page):
    expect(page.get_by_role("heading", name="Questions about cancer that has spread")).to_be_visible()
    disclaimer = page.locator("#disclaimer")
    expect(disclaimer).to_be_visible()
    expect(disclaimer).to_contain_text(DISCLAIMER)
    expect(page.locator(BOT_MESSAGE)).to_have_count(0)


def test_question_is_answered_with_a_cited_passage_and_the_disclaimer(page, caplog):
    caplog.set_level(logging.INFO)

    answer = ask(page, "Where does breast cancer usually spread?")

    expect(answer).to_contain_text(DISCLAIMER, timeout=ANSWER_SECONDS * 1000)
    expect(answer).to_contain_text(re.compile(r"\[1\] \S"))
    expect(answer).to_contain_text("Breast cancer - lungs, liver, bones")
    assert "usually spread" not in caplog.text  # the question is patient data: never logged


def test_failure_shows_the_fixed_error_and_the_disclaimer(failing_page):
    answer = ask(failing_page, "Does zebrafinch-4711 cancer spread?")

    expect(answer).to_contain_text(SERVICE_ERROR, timeout=ANSWER_SECONDS * 1000)
    expect(answer).to_contain_text(DISCLAIMER)
    expect(answer).not_to_contain_text("zebrafinch")
    expect(failing_page.locator("body")).not_to_contain_text("RuntimeError")
