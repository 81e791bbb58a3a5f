"""The chat page in a real browser: Debian's Chromium driven by Playwright, a real server on loopback."""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from assistant.texts import DISCLAIMER, SERVICE_ERROR
from tests.live_server import (
    FailingAssistant,
    LoopbackOnly,
    axe_violations,
    needs_chromium,
    running_server,
)

INPUT = 'textarea[data-testid="textbox"]'
BOT_MESSAGE = '[data-testid="bot"]'
ANSWER_SECONDS = 60  # the first question also warms up the model

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def base_url(seed_settings, seed_assistant):
    # No rate limit: this module asks more questions than one person would.
    with running_server(seed_settings.with_(rate_limit_per_minute=0), assistant=seed_assistant) as url:
        yield url


@pytest.fixture(scope="module")
def failing_url(seed_settings, seed_assistant):
    with running_server(seed_settings, assistant=FailingAssistant(seed_assistant)) as url:
        yield url


@pytest.fixture(scope="module")
def limited_url(seed_settings, seed_assistant):
    with running_server(seed_settings.with_(rate_limit_per_minute=1), assistant=seed_assistant) as url:
        yield url


@pytest.fixture
def page(browser_context, loopback, base_url):
    with chat_page(browser_context, loopback, base_url) as page:
        yield page


@pytest.fixture
def failing_page(browser_context, loopback, failing_url):
    with chat_page(browser_context, loopback, failing_url) as page:
        yield page


@contextmanager
def chat_page(context, loopback: LoopbackOnly, url: str):
    """The chat open in a new tab that may reach only loopback; anything else fails the test."""
    page = context.new_page()
    page.goto(url)
    page.locator(INPUT).wait_for()
    yield page
    page.close()
    assert loopback.elsewhere() == [], "the page tried to reach other hosts"


def ask(page, question: str):
    """Type a question, press Enter, and return the locator of the latest answer."""
    page.locator(INPUT).fill(question)
    page.locator(INPUT).press("Enter")
    return page.locator(BOT_MESSAGE).last


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


def test_example_question_goes_into_the_box_and_examples_step_aside_once_asked(page):
    example = page.get_by_role("button", name="How are metastases found?")

    example.click()
    expect(page.locator(INPUT)).to_have_value("How are metastases found?")
    page.get_by_role("button", name="Ask", exact=True).click()

    expect(page.locator(BOT_MESSAGE).last).to_contain_text(DISCLAIMER, timeout=ANSWER_SECONDS * 1000)
    expect(example).to_be_hidden()


def test_page_works_under_its_content_security_policy(browser_context, loopback, base_url):
    page = browser_context.new_page()
    response = page.goto(base_url)
    page.locator(INPUT).wait_for()

    answer = ask(page, "How are metastases found?")

    expect(answer).to_contain_text(DISCLAIMER, timeout=ANSWER_SECONDS * 1000)
    assert "script-src 'self' 'nonce-" in response.headers["content-security-policy"]
    assert page.evaluate("window.cspViolations") == []
    page.close()
    assert loopback.elsewhere() == []


def test_page_has_no_wcag_violations(page):
    assert axe_violations(page) == []


def test_failure_shows_the_fixed_error_and_the_disclaimer(failing_page):
    answer = ask(failing_page, "Does zebrafinch-4711 cancer spread?")

    expect(answer).to_contain_text(SERVICE_ERROR, timeout=ANSWER_SECONDS * 1000)
    expect(answer).to_contain_text(DISCLAIMER)
    expect(answer).not_to_contain_text("zebrafinch")
    expect(failing_page.locator("body")).not_to_contain_text("RuntimeError")


def test_question_over_the_rate_limit_gets_a_polite_answer(browser_context, loopback, limited_url):
    with chat_page(browser_context, loopback, limited_url) as page:
        expect(ask(page, "How are metastases found?")).to_contain_text(DISCLAIMER, timeout=ANSWER_SECONDS * 1000)

        second = page.locator(BOT_MESSAGE).nth(1)
        ask(page, "Can metastases be treated?")

        expect(second).to_contain_text(re.compile(r"Please wait \d+ seconds"), timeout=ANSWER_SECONDS * 1000)
        expect(second).to_contain_text(DISCLAIMER)
