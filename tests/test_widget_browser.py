"""The widget on a clinic's website, in Chromium: the assistant on 127.0.0.1, the clinic's site
on 127.0.0.2, whose origin is in ALLOWED_ORIGINS. Nothing may be fetched from anywhere else."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from assistant.texts import DISCLAIMER, DISCLAIMER_SHORT
from tests.live_server import (
    ClinicSite,
    axe_violations,
    clinic_page,
    needs_chromium,
    running_server,
)
from ui.chat import TITLE

pytestmark = needs_chromium

QUESTION = "Where does breast cancer usually spread?"
CITED = "Breast cancer - lungs, liver, bones"
BOX = "#question textarea"
BOT_MESSAGE = '[data-testid="bot"]'
ANSWER_MS = 60_000  # the first question also warms up the model
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def site():
    with ClinicSite("127.0.0.2") as site:
        yield site


@pytest.fixture(scope="module")
def assistant_url(seed_settings, seed_assistant, site):
    settings = seed_settings.with_(allowed_origins=(site.origin,), rate_limit_per_minute=0)
    with running_server(settings, assistant=seed_assistant) as url:
        site.pages["/"] = clinic_page(f'<script src="{url}/widget.js" defer></script>')
        site.pages["/options"] = clinic_page(
            f'<script src="{url}/widget.js" defer data-title="Ask our nurses" data-label="Questions?" '
            'data-color="#ffd700" data-position="left" data-open="true"></script>'
        )
        site.pages["/odd-colour"] = clinic_page(
            f'<script src="{url}/widget.js" defer data-color="red; top: 0"></script>'
        )
        site.pages["/component"] = clinic_page(
            f'<gradio-app src="{url}/"></gradio-app>', head=f'<script type="module" src="{url}/gradio.js"></script>'
        )
        yield url


@pytest.fixture
def page(browser_context, loopback, assistant_url):
    page = browser_context.new_page()
    yield page
    page.close()
    assert loopback.elsewhere() == [], "the page tried to reach other hosts"


def launcher(page, name: str = "Ask a question"):
    return page.get_by_role("button", name=name)


def chat_frame(page):
    """The framed chat, once the launcher reports it ready."""
    expect(page.locator("#clinic-assistant")).to_have_attribute("data-state", "ready", timeout=ANSWER_MS)
    return page.frame_locator("#clinic-assistant iframe")


def test_widget_opens_from_the_keyboard_answers_and_closes_with_escape_on_a_phone(page, site, artifacts_dir):
    page.set_viewport_size(PHONE)
    page.goto(site.origin)

    page.keyboard.press("Tab")  # the page's own link
    page.keyboard.press("Tab")
    expect(launcher(page)).to_be_focused()
    page.keyboard.press("Enter")
    chat = chat_frame(page)
    expect(chat.locator(BOX)).to_be_focused()  # focus moved into the chat
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    answer = chat.locator(BOT_MESSAGE).last

    expect(answer).to_contain_text(DISCLAIMER, timeout=ANSWER_MS)
    expect(answer).to_contain_text(re.compile(r"\[1\] \S"))
    expect(answer).to_contain_text(CITED)
    # Usable on the phone: the chat takes the whole screen and the question box stays on it.
    assert page.get_by_role("dialog", name=TITLE).bounding_box() == {"x": 0, "y": 0, **PHONE}
    box = chat.locator(BOX).bounding_box()
    assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"]
    assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"]
    expect(chat.locator("#question .progress-text")).to_have_count(0)  # Gradio's busy timer gone
    page.screenshot(path=artifacts_dir / "widget-open-360x740.png")

    page.keyboard.press("Escape")  # pressed inside the frame

    expect(page.locator("#clinic-assistant")).to_have_attribute("data-state", "closed")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(launcher(page)).to_be_focused()  # focus back where it was
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")


def test_on_a_phone_the_disclaimer_above_the_chat_is_one_line_with_the_whole_text_a_tap_away(page, site, artifacts_dir):
    page.set_viewport_size(PHONE)
    page.goto(site.origin)
    launcher(page).click()
    chat = chat_frame(page)
    notice = chat.locator("#disclaimer summary")

    expect(notice).to_have_text(DISCLAIMER_SHORT)
    line = float(notice.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert notice.bounding_box()["height"] <= 1.5 * line  # one line
    expect(chat.get_by_text(DISCLAIMER)).to_be_hidden()
    page.screenshot(path=artifacts_dir / "widget-before-a-question-360x740.png")

    notice.click()  # a tap

    expect(chat.get_by_text(DISCLAIMER)).to_be_visible()
    chat.locator(BOX).fill(QUESTION)
    chat.locator(BOX).press("Enter")
    expect(chat.locator(BOT_MESSAGE).last).to_contain_text(DISCLAIMER, timeout=ANSWER_MS)  # every answer, in full


def test_launcher_dialog_and_frame_are_named_and_pass_axe(page, site):
    page.goto(site.origin)
    expect(launcher(page)).to_have_attribute("aria-expanded", "false")

    launcher(page).click()
    chat = chat_frame(page)

    expect(launcher(page)).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("dialog", name=TITLE)).to_be_visible()
    expect(page.locator("#clinic-assistant iframe")).to_have_attribute("title", TITLE)
    expect(chat.locator(BOX)).to_be_focused()
    assert axe_violations(page) == []  # the site's page with the launcher and the open panel
    page.get_by_role("button", name="Close the chat").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(launcher(page)).to_be_focused()


def test_widget_page_in_the_frame_passes_axe_and_its_csp(page, site, assistant_url):
    page.goto(site.origin)
    launcher(page).click()
    chat = chat_frame(page)
    chat.locator(BOX).fill(QUESTION)
    chat.locator(BOX).press("Enter")
    expect(chat.locator(BOT_MESSAGE).last).to_contain_text(DISCLAIMER, timeout=ANSWER_MS)

    frame = page.frame(url=f"{assistant_url}/widget/")

    assert axe_violations(frame) == []
    assert frame.evaluate("window.cspViolations") == []
    assert page.evaluate("window.cspViolations") == []  # nothing of the widget broke the site's page


def test_data_options_set_title_label_colour_corner_and_open(page, site):
    page.goto(f"{site.origin}/options")

    chat_frame(page)  # open without a click

    button = launcher(page, "Questions?")
    expect(page.get_by_role("dialog", name="Ask our nurses")).to_be_visible()
    expect(page.locator("#clinic-assistant iframe")).to_have_attribute("title", "Ask our nurses")
    expect(button).to_have_css("background-color", "rgb(255, 215, 0)")
    expect(button).to_have_css("color", "rgb(0, 0, 0)")  # black on gold: 14.9:1; white would be 1.4:1
    assert button.bounding_box()["x"] < page.viewport_size["width"] / 2  # data-position="left"
    assert page.evaluate("document.activeElement === document.body")  # opening on load took no focus


def test_a_colour_the_browser_cannot_read_falls_back_to_the_default(page, site):
    page.goto(f"{site.origin}/odd-colour")

    expect(launcher(page)).to_have_css("background-color", "rgb(11, 92, 173)")
    expect(launcher(page)).to_have_css("color", "rgb(255, 255, 255)")
    expect(launcher(page)).to_have_css("top", re.compile(r"^(?!0px).*"))  # nothing else set by it


def test_gradio_web_component_served_by_the_assistant_works_on_the_site(page, site):
    page.goto(f"{site.origin}/component")
    box = page.locator(BOX)
    box.fill(QUESTION)
    box.press("Enter")

    answer = page.locator(BOT_MESSAGE).last

    expect(answer).to_contain_text(DISCLAIMER, timeout=ANSWER_MS)
    expect(answer).to_contain_text(CITED)
